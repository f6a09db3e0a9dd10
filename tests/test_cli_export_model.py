"""``contrastkit export --model`` / ``--features`` / ``--graph`` for mlp and gnn runs:
the saved encoder reproduces the run's rows exactly, new inputs come back in their own
order through the trained (eval-mode) encoder, and every misuse is one line, exit 2,
with nothing written. Runs have dropout on, so a train-mode pass would not match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from contrastkit import load_encoder
from contrastkit.cli import main
from contrastkit.data.edge_files import save_npz
from contrastkit.data.graph_data import GraphData
from contrastkit.models import MLP, GNNEncoder
from contrastkit.train import Trainer
from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.train.run import train
from tests.karate_mlp import KARATE_MLP

QUIET = ["loop.progress=false", "output.report=false", "loop.log_every=1000"]


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pairs task over random features (60 items, 5 features), MLP with dropout."""
    root = tmp_path_factory.mktemp("mlp")
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    x = torch.nn.functional.one_hot(labels, 5).float() + 0.3 * torch.randn(60, 5, generator=gen)
    np.savez(root / "items.npz", x=x.numpy(), labels=labels.numpy())
    config = load_config(
        Path(__file__).parent.parent / "configs" / "digits_pairs.yaml",
        [
            "pairs.source=file",
            f"pairs.path={root / 'items.npz'}",
            "pairs.num_negatives=2",
            "encoder.hidden=16",
            "encoder.dim=4",
            "encoder.dropout=0.3",
            "loop.batch_size=16",
            "loop.epochs=2",
            f"output.run_dir={root / 'run'}",
            *QUIET,
        ],
    )
    train(config)
    return root / "run"


@pytest.fixture(scope="module")
def gnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A nodes task on a small featured SBM (held-out edges), SAGE GNN with dropout."""
    root = tmp_path_factory.mktemp("gnn")
    config = load_config(
        DEFAULT_RECIPE,
        [
            "task.kind=nodes",
            "data.name=sbm",
            "data.sbm_nodes=120",
            "data.sbm_blocks=3",
            "data.sbm_p_in=0.15",
            "data.sbm_p_out=0.01",
            "data.test_fraction=0.1",
            "nodes.features=noisy_labels",
            "nodes.num_negatives=4",
            "encoder.kind=gnn",
            "encoder.manifold=euclidean",
            "encoder.dim=8",
            "encoder.hidden=16",
            "encoder.dropout=0.3",
            "objective.distance=cosine",
            "objectives={infonce: 1.0}",
            "optim.name=adam",
            "optim.lr=0.01",
            "loop.burn_in_epochs=0",
            "loop.batch_size=64",
            "loop.epochs=2",
            f"output.run_dir={root / 'run'}",
            *QUIET,
        ],
    )
    train(config)
    return root / "run"


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("table") / "run"
    argv = ["train", "--dataset", "karate", "--epochs", "1", "--dim", "3", "--negatives", "8"]
    assert main([*argv, "--run-dir", str(run), "--no-progress", "--no-report"]) == 0
    return run


def _rows(run: Path, out: Path, *flags: str) -> np.ndarray:
    assert main(["export", str(run), "--out", str(out), *flags]) == 0
    return np.load(out)


def test_an_mlp_run_exports_a_loadable_encoder(mlp_run: Path, tmp_path: Path) -> None:
    assert main(["export", str(mlp_run), "--model", str(tmp_path / "enc")]) == 0
    encoder = load_encoder(tmp_path / "enc")
    assert isinstance(encoder, MLP) and not encoder.training
    trainer = Trainer.restore(mlp_run)
    rows = _rows(mlp_run, tmp_path / "z.npy")
    with torch.no_grad():
        ours = encoder(trainer.task.x).numpy()
    np.testing.assert_array_equal(ours, rows)
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert config["metadata"]["run_dir"] == str(mlp_run.absolute())
    assert config["metadata"]["distance"] == trainer.distance.name
    assert config["init_args"]["dropout"] == 0.3
    # trained: not the encoder a fresh run of the same config starts from
    fresh = Trainer(trainer.config, tmp_path / "fresh").encoder.eval()
    with torch.no_grad():
        assert not np.allclose(fresh.embed_all().numpy(), rows, atol=1e-3)


def test_features_give_the_runs_rows_in_their_own_order(mlp_run: Path, tmp_path: Path) -> None:
    x = Trainer.restore(mlp_run).task.x.numpy()
    rows = _rows(mlp_run, tmp_path / "z.npy")
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(
        _rows(mlp_run, tmp_path / "new.npy", "--features", str(tmp_path / "x.npy")), rows
    )
    order = np.random.default_rng(0).permutation(x.shape[0])
    np.save(tmp_path / "xp.npy", x[order])
    np.testing.assert_allclose(
        _rows(mlp_run, tmp_path / "perm.npy", "--features", str(tmp_path / "xp.npy")),
        rows[order],
        atol=1e-6,
    )
    meta = json.loads((tmp_path / "perm.npy.meta.json").read_text())
    assert meta["inputs"] == {
        "from": "--features",
        "file": str((tmp_path / "xp.npy").absolute()),
        "format": "npy",
    }
    assert meta["count"] == x.shape[0] and json.loads((tmp_path / "perm.ids.json").read_text())[
        :2
    ] == ["0", "1"]
    assert json.loads((tmp_path / "z.npy.meta.json").read_text())["inputs"] == {"from": "run"}


def test_a_gnn_run_exports_a_loadable_encoder_and_embeds_a_graph(
    gnn_run: Path, tmp_path: Path
) -> None:
    assert main(["export", str(gnn_run), "--model", str(tmp_path / "enc")]) == 0
    encoder = load_encoder(tmp_path / "enc")
    assert isinstance(encoder, GNNEncoder)
    trainer = Trainer.restore(gnn_run)
    task = trainer.task
    rows = _rows(gnn_run, tmp_path / "z.npy")
    with torch.no_grad():
        ours = encoder(task.x, task.edge_index).numpy()
    np.testing.assert_array_equal(ours, rows)
    # the training graph as an edge file holds it, one direction per edge: made
    # undirected, it is the run's message-passing graph and gives the run's rows
    n = task.num_items
    edges = task.graph.train_edges
    save_npz(tmp_path / "g.npz", GraphData(edges, n, x=task.x))
    np.testing.assert_array_equal(
        _rows(gnn_run, tmp_path / "new.npy", "--graph", str(tmp_path / "g.npz")), rows
    )
    # relabelled nodes: the rows follow the file's order
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    inverse = torch.argsort(perm)  # old id -> new id
    names = [f"node{i}" for i in perm.tolist()]
    save_npz(tmp_path / "p.npz", GraphData(inverse[edges], n, x=task.x[perm], names=names))
    np.testing.assert_allclose(
        _rows(gnn_run, tmp_path / "perm.npy", "--graph", str(tmp_path / "p.npz")),
        rows[perm.numpy()],
        atol=1e-5,
    )
    assert json.loads((tmp_path / "perm.ids.json").read_text()) == names
    # the held-out edges are messages the run never passed: other rows
    full = _rows(gnn_run, tmp_path / "full.npy", "--graph", str(_full_graph(trainer, tmp_path)))
    assert not np.allclose(full, rows, atol=1e-4)


def _full_graph(trainer: Trainer, tmp_path: Path) -> Path:
    graph = trainer.task.graph.graph
    path = tmp_path / "full.npz"
    save_npz(path, GraphData(graph.edge_index, graph.num_nodes, x=trainer.task.x))
    return path


# (run, flags, what the line says); {d}: the test's directory, {o}: --out under d/out
MISUSE = [
    ("mlp", "--graph {d}/nox.npz --out {o}", ("--graph", "'gnn'", "'mlp'", "--features")),
    ("mlp", "--texts {d}/t.txt --out {o}", ("--texts", "'text'", "'mlp'")),
    ("gnn", "--features {d}/x5.npy --out {o}", ("--features", "'gnn'", "--graph")),
    ("table", "--features {d}/x5.npy --out {o}", ("'embedding'", "its own items")),
    ("table", "--model {d}/out/m", ("--model", "'embedding'", "free table", "--out")),
    ("mlp", "--features {d}/x3.npy --out {o}", ("--features", "[N, 5]", "[4, 3]")),
    ("gnn", "--graph {d}/nox.npz --out {o}", ("--graph", "no array 'x'")),
    ("mlp", "--features {d}/x5.npy", ("--features needs --out",)),
    ("mlp", "", ("export needs --out",)),
    ("mlp", "--features {d}/none.npy --out {o}", ("--features", "not a file")),
    ("mlp", "--features {d}/t.txt --out {o}", ("--features must end in .npy",)),
    ("mlp", "--model {d}", ("--model", "not empty")),
    ("mlp", "--model {d}/t.txt", ("--model", "is a file")),
]


@pytest.mark.parametrize(("run", "flags", "needles"), MISUSE)
def test_misuse_is_one_line_exit_2_and_writes_nothing(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    run: str,
    flags: str,
    needles: tuple[str, ...],
) -> None:
    run_dir = request.getfixturevalue(f"{run}_run")
    (tmp_path / "out").mkdir()
    np.save(tmp_path / "x3.npy", np.zeros((4, 3), dtype=np.float32))
    np.save(tmp_path / "x5.npy", np.zeros((4, 5), dtype=np.float32))
    (tmp_path / "t.txt").write_text("a\n")
    save_npz(tmp_path / "nox.npz", GraphData(torch.tensor([[0], [1]]), 2))
    argv = flags.format(d=tmp_path, o=tmp_path / "out" / "z.npy").split()
    code = main(["export", str(run_dir), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert list((tmp_path / "out").iterdir()) == []


def test_model_and_rows_in_one_call(mlp_run: Path, tmp_path: Path) -> None:
    empty = tmp_path / "enc"
    empty.mkdir()  # an empty directory is filled
    np.save(tmp_path / "x.npy", Trainer.restore(mlp_run).task.x[:7].numpy())
    argv = ["--model", str(empty), "--features", str(tmp_path / "x.npy")]
    rows = _rows(mlp_run, tmp_path / "z.npz", *argv)
    with np.load(tmp_path / "z.npz") as arrays:
        rows = arrays["embeddings"]
    encoder = load_encoder(empty)
    with torch.no_grad():
        np.testing.assert_array_equal(
            encoder(torch.from_numpy(np.load(tmp_path / "x.npy"))).numpy(), rows
        )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_karate_mlp_run_exports_too(tmp_path: Path) -> None:
    """A relations run under an MLP (identity features): its encoder exports as well."""
    config = load_config(
        DEFAULT_RECIPE, [*KARATE_MLP, "loop.epochs=1", f"output.run_dir={tmp_path / 'run'}"]
    )
    train(config)
    assert main(["export", str(tmp_path / "run"), "--model", str(tmp_path / "enc")]) == 0
    rows = _rows(tmp_path / "run", tmp_path / "z.npy")
    with torch.no_grad():
        np.testing.assert_array_equal(load_encoder(tmp_path / "enc")(torch.eye(34)).numpy(), rows)


def test_a_relations_gnn_run_builds_messages_by_its_own_rule(tmp_path: Path) -> None:
    """A GCN over karate's relations: the run passes each neighbour's message once
    (karate lists both directions; ``message_edges`` merges them), and ``--graph`` of
    the run's training edges, or of one direction of each, gives its rows; the edges
    listed and reversed (every message twice) would not (GCN's degree norm sees it)."""
    config = load_config(
        DEFAULT_RECIPE,
        [
            *KARATE_MLP,
            "encoder.kind=gnn",
            "encoder.gnn=gcn",
            "loop.epochs=1",
            f"output.run_dir={tmp_path / 'run'}",
        ],
    )
    trainer = train(config)
    graph = trainer.task.graph
    edges = graph.train_edges
    rows = _rows(tmp_path / "run", tmp_path / "z.npy")
    for name, listed in (("both", edges), ("one", edges[:, edges[0] < edges[1]])):
        save_npz(tmp_path / f"{name}.npz", GraphData(listed, graph.num_nodes, x=torch.eye(34)))
        new = _rows(
            tmp_path / "run", tmp_path / f"{name}.npy", "--graph", str(tmp_path / f"{name}.npz")
        )
        np.testing.assert_allclose(new, rows, atol=1e-6, rtol=0)
    assert main(["export", str(tmp_path / "run"), "--model", str(tmp_path / "enc")]) == 0
    with torch.no_grad():
        twice = load_encoder(tmp_path / "enc")(torch.eye(34), torch.cat([edges, edges.flip(0)], 1))
    assert not np.allclose(twice.numpy(), rows, atol=1e-4)
