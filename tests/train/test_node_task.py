"""The ``nodes`` task through the trainer: the SBM recipe learns the graph, sampled
mini-batches are laid out and train, uncertainty and GradNorm weights move and stay
balanced, DGI equals PyG's, and inconsistent settings are refused by name."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any, cast

import pytest
import torch
from torch import Tensor, nn

from contrastkit.graph.csr import has_edge
from contrastkit.losses.gradnorm import GradNormWeighting
from contrastkit.losses.uncertainty import UncertaintyWeighting
from contrastkit.train.config import DEFAULT_RECIPE, TrainConfig, load_config, resume_config
from contrastkit.train.encoders import GraphEncoder
from contrastkit.train.node_task import NodeTask
from contrastkit.train.run import train
from contrastkit.train.step import AutogradStep
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError

RECIPE = Path(__file__).parents[2] / "configs" / "sbm_gnn_nodes.yaml"
QUIET = ["loop.progress=false", "output.report=false"]
BLOCKS = 20  # the recipe's planted blocks: chance probe accuracy is 1/20

# a small featured SBM for the mechanics (seconds, not minutes)
SMALL = [
    "task.kind=nodes",
    "data.name=sbm",
    "data.sbm_nodes=400",
    "data.sbm_blocks=4",
    "data.sbm_p_in=0.1",
    "data.sbm_p_out=0.005",
    "data.test_fraction=0.1",
    "nodes.features=noisy_labels",
    "nodes.num_negatives=4",
    "nodes.layer_sizes=[64, 64]",
    "encoder.kind=gnn",
    "encoder.manifold=euclidean",
    "encoder.dim=16",
    "encoder.hidden=32",
    "objective.distance=cosine",
    "objective.temperature=0.5",
    "objectives={infonce: 1.0}",
    "optim.name=adam",
    "optim.lr=0.01",
    "optim.lr_schedule=constant",
    "loop.burn_in_epochs=0",
    "loop.batch_size=64",
    "loop.log_every=1",
    *QUIET,
]


def _recipe(tmp_path: Path, *overrides: str) -> TrainConfig:
    return load_config(RECIPE, [f"output.run_dir={tmp_path}", *QUIET, *overrides])


def _small(tmp_path: Path, *overrides: str) -> TrainConfig:
    return load_config(DEFAULT_RECIPE, [*SMALL, f"output.run_dir={tmp_path}", *overrides])


def _train_records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


# ---- (1) + (3): the SBM recipe -------------------------------------------------------


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, dict[str, float]]:
    """The recipe as shipped (~30 s on one thread), and its encoder before training."""
    config = _recipe(tmp_path_factory.mktemp("sbm_recipe"))
    untrained = Trainer(config)  # the same seed: the same initial encoder
    before = untrained.task.evaluate(untrained.encoder, untrained.distance)
    return train(config), before


def test_sbm_recipe_learns_links_and_blocks(recipe_run: tuple[Trainer, dict[str, float]]) -> None:
    trainer, before = recipe_run
    after = trainer.final_metrics
    assert after["test/auc"] >= 0.9, after
    assert after["test/ap"] >= 0.85, after
    assert after["test/probe_accuracy"] >= 10 / BLOCKS, after  # chance: 1 / 20
    # the untrained GNN on the same (weak) features: far from both
    assert before["test/auc"] < 0.75, before
    assert before["test/probe_accuracy"] < after["test/probe_accuracy"] - 0.3, before
    try:
        import faiss  # noqa: F401
    except ImportError:
        assert not any(k.startswith("search/") for k in after)
    else:
        assert 0.9 <= after["search/hnsw_recall@10"] <= 1.0, after


def test_sbm_recipe_batches_are_neighbour_sampled_subgraphs(
    recipe_run: tuple[Trainer, dict[str, float]],
) -> None:
    trainer, _ = recipe_run
    task = trainer.task
    assert isinstance(task, NodeTask)
    batch = task.batch(torch.arange(128), trainer.sample_context())
    assert batch.encoder_input is not None and batch.items.numel() <= task.num_items
    # held-out edges are never message-passing edges
    split = task.graph.split
    assert split is not None
    assert not bool(has_edge(task.message_csr, split.test_pos[0], split.test_pos[1]).any())


def test_uncertainty_log_variances_are_trained(
    recipe_run: tuple[Trainer, dict[str, float]],
) -> None:
    trainer, _ = recipe_run
    combiner = trainer.schedules.combiner
    assert isinstance(combiner, UncertaintyWeighting)
    optimised = [p for g in trainer.schedules.optimizer.param_groups for p in g["params"]]
    assert any(p is combiner.log_vars for p in optimised)
    log_vars = combiner.log_vars.detach()
    assert bool((log_vars.abs() > 0.05).all()), log_vars  # they start at 0
    assert float(log_vars.max() - log_vars.min()) > 0.5, log_vars  # and tell objectives apart


# ---- (2): sampled mini-batches ---------------------------------------------------------


@pytest.mark.parametrize("sampler", ["neighbor", "layerwise"])
def test_sampled_batches_are_local_subgraphs_and_train(tmp_path: Path, sampler: str) -> None:
    trainer = Trainer(_small(tmp_path, f"nodes.sampler={sampler}", "loop.epochs=1"))
    task = trainer.task
    assert isinstance(task, NodeTask)
    idx = torch.arange(64)
    batch = task.batch(idx, trainer.sample_context())
    u, v = task.graph.train_edges[:, idx]
    items, u_size = batch.items, batch.items.numel()
    # the seeds (u, v and the negatives) come first among the items, then the sampled ones
    seeds = torch.unique(torch.cat([u, v, items[batch.negatives].reshape(-1)]))
    assert torch.equal(items[: seeds.numel()].sort().values, seeds)
    assert torch.unique(items).numel() == u_size
    assert torch.equal(items[batch.anchor], u) and torch.equal(items[batch.positive], v)
    assert int(torch.cat([batch.anchor, batch.positive, batch.negatives.reshape(-1)]).max()) < (
        seeds.numel()
    )
    # real negatives are neither the anchor nor its training neighbours
    neg = items[batch.negatives][batch.mask]
    anchors = u.unsqueeze(1).expand_as(batch.negatives)[batch.mask]
    assert not bool(has_edge(task.message_csr, anchors, neg).any())
    assert not bool((anchors == neg).any())
    # the subgraph: local ids < U, each edge a training edge
    edges = batch.encoder_input
    assert isinstance(edges, torch.Tensor) and edges.shape[0] == 2 and edges.shape[1] > 0
    assert int(edges.min()) >= 0 and int(edges.max()) < u_size
    assert batch.edges is edges
    assert bool(has_edge(task.message_csr, items[edges[0]], items[edges[1]]).all())
    assert batch.features is not None and torch.equal(batch.features, task.x[items])
    # a few steps on the same edges: the loss falls (fresh negatives and subgraphs each)
    losses = [trainer.train_step(idx)["loss"] for _ in range(40)]
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5]), losses


def test_full_batches_cover_the_training_graph(tmp_path: Path) -> None:
    trainer = Trainer(_small(tmp_path, "nodes.sampler=full", "nodes.label_fraction=0.25"))
    task = trainer.task
    assert isinstance(task, NodeTask)
    batch = task.batch(torch.arange(32), trainer.sample_context())
    n = task.num_items
    assert torch.equal(batch.items, torch.arange(n)) and batch.encoder_input is None
    assert batch.edges is not None and batch.edges.shape[1] == task.message_csr.num_edges
    assert batch.negatives.shape == (32, 4)
    assert batch.label_mask is not None and batch.labels is not None
    assert int(batch.label_mask.sum()) == 100  # a quarter of the 400 nodes
    assert bool((batch.labels[~batch.label_mask] == -1).all())
    y = task.labels
    assert y is not None
    assert torch.equal(batch.labels[batch.label_mask], y[batch.label_mask])
    # the encoder reads the same features and the same (training) graph
    inputs = task.encoder_inputs()
    assert inputs.x is not None and inputs.edge_index is not None
    assert torch.equal(inputs.x, task.x) and torch.equal(inputs.edge_index, task.edge_index)


def test_a_resumed_sampled_run_continues_bit_identically(tmp_path: Path) -> None:
    extra = ["nodes.sampler=neighbor", "objectives={infonce: 1.0, spectral: 0.1}"]
    train(_small(tmp_path / "a", *extra, "loop.epochs=2", "eval.every_epochs=2"))
    resumed = train(resume_config(tmp_path / "a", ["loop.epochs=3"]), resume=True)
    straight = train(_small(tmp_path / "b", *extra, "loop.epochs=3", "eval.every_epochs=2"))
    assert resumed.final_metrics == straight.final_metrics
    for key, value in straight.encoder.state_dict().items():
        assert torch.equal(resumed.encoder.state_dict()[key], value), key


# ---- (4): DGI equals PyG's DeepGraphInfomax ----------------------------------------------


def test_dgi_through_the_trainer_equals_pyg_deep_graph_infomax(tmp_path: Path) -> None:
    try:
        import contrastkit.losses.dgi  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"contrastkit.losses.dgi is not available yet ({exc})")
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    config = _small(tmp_path, "nodes.sampler=full", "objectives={dgi: 1.0}", "loop.epochs=1")
    trainer = Trainer(config)
    task, encoder = trainer.task, trainer.encoder
    assert isinstance(encoder, GraphEncoder) and isinstance(trainer.step_fn, AutogradStep)
    batch = task.batch(torch.arange(64), trainer.sample_context())
    corruption_state = trainer.step_fn.corruption.get_state()
    encoded = trainer.step_fn.encode(batch)
    _, losses = trainer.step_fn.losses(encoded)
    gen = torch.Generator()
    gen.set_state(corruption_state)
    perm = torch.randperm(task.num_items, generator=gen)  # the step's row shuffle
    gnn: nn.Module = copy.deepcopy(encoder.gnn)
    model = pyg_nn.DeepGraphInfomax(
        hidden_channels=config.encoder.dim,
        encoder=gnn,
        summary=lambda z, *args, **kwargs: torch.sigmoid(z.mean(dim=0)),
        corruption=lambda x, edge_index: (x[perm], edge_index),
    )
    gnn.load_state_dict(encoder.gnn.state_dict())  # DeepGraphInfomax re-initialises it
    with torch.no_grad():
        model.weight.copy_(cast(Tensor, cast(nn.Module, trainer.objectives["dgi"].loss).weight))
    pos_z, neg_z, summary = model(encoder.x, encoder.edge_index)
    torch.testing.assert_close(pos_z, encoded.z)
    torch.testing.assert_close(neg_z, encoded.z_corrupt)
    expected = model.loss(pos_z, neg_z, summary)
    torch.testing.assert_close(losses["dgi"], expected, atol=1e-5, rtol=1e-5)
    record = trainer.train_step(torch.arange(64))  # and it trains
    assert torch.isfinite(torch.tensor(record["loss/dgi"]))


# ---- (5): GradNorm on the recipe -----------------------------------------------------------


def _gradnorm_run(tmp_path: Path, *overrides: str) -> None:
    """The recipe with GradNorm: every objective keeps a weight >= 5 % of the largest
    at every logged step, and each objective's unweighted loss falls on a fixed batch
    (the same edges, negatives, subgraph and temperature before and after training).

    The logged ``loss/infonce`` and ``loss/link`` are not compared across steps: the
    curriculum raises the negatives (2 -> 8) and lowers the temperature (1 -> 0.5)
    between stages, which changes their values at a fixed embedding."""
    config = _recipe(tmp_path, "combiner.method=gradnorm", *overrides)
    fixed_trainer = Trainer(config, tmp_path / "fixed")
    ctx = fixed_trainer.sample_context()
    ctx.num_negatives, ctx.temperature = config.nodes.num_negatives, config.objective.temperature
    fixed = fixed_trainer.task.batch(torch.arange(512), ctx)

    def fixed_losses(trainer: Trainer) -> dict[str, float]:
        trainer.encoder.eval()
        trainer.schedules.combiner.eval()
        with torch.no_grad():
            z = trainer.encoder.encode(fixed)
            assert isinstance(trainer.step_fn, AutogradStep)
            _, losses = trainer.step_fn.losses(fixed.with_z(z))
        return {name: float(loss) for name, loss in losses.items()}

    before = fixed_losses(fixed_trainer)
    trainer = train(config)
    after = fixed_losses(trainer)
    names = list(config.objective_weights())
    for name in names:
        assert after[name] < 0.97 * before[name], (name, before, after)
    records = _train_records(tmp_path)
    assert records
    for r in records:
        weights = [r[f"weight/{n}"] for n in names]
        assert min(weights) >= 0.05 * max(weights), r
    combiner = trainer.schedules.combiner
    assert isinstance(combiner, GradNormWeighting)
    final = combiner.loss_weights.detach()
    assert float(final.min()) >= 0.05 * float(final.max()), final
    # the objectives the curriculum leaves alone also fall in the log
    for name in ("spectral", "feature_reconstruction"):
        first = sum(r[f"loss/{name}"] for r in records[:5]) / 5
        last = sum(r[f"loss/{name}"] for r in records[-5:]) / 5
        assert last < first, (name, first, last)


def test_gradnorm_keeps_every_objective_training_short(tmp_path: Path) -> None:
    _gradnorm_run(tmp_path, "loop.epochs=3", "eval.every_epochs=3")


@pytest.mark.slow
def test_gradnorm_keeps_every_objective_training(tmp_path: Path) -> None:
    _gradnorm_run(tmp_path)


# ---- settings refused by name ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "keys"),
    [
        (["nodes.sampler=neighbor", "nodes.fanouts=[10]"], ["nodes.fanouts", "encoder.layers"]),
        (
            ["nodes.sampler=layerwise", "nodes.layer_sizes=[8, 8, 8]"],
            ["nodes.layer_sizes", "encoder.layers"],
        ),
        (["nodes.sampler=neighbor", "encoder.kind=mlp"], ["nodes.sampler", "encoder.kind"]),
        pytest.param(
            ["miner_stages=[{from_epoch: 2, set: {strategy: hardest}}]"],
            ["miner_stages"],
            # load_config warns that the nodes task ignores it; the Trainer refuses it
            marks=pytest.mark.filterwarnings(
                "ignore::contrastkit.train.ignored_settings.IgnoredSettingWarning"
            ),
        ),
        (
            ["objectives={node_classification: 1.0}", "nodes.label_fraction=0.0"],
            ["nodes.label_fraction"],
        ),
    ],
)
def test_inconsistent_settings_are_refused_by_name(
    tmp_path: Path, overrides: list[str], keys: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        Trainer(_small(tmp_path, *overrides))
    for key in keys:
        assert key in str(info.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("nodes.sampler=random_walk", "nodes.sampler"),
        ("nodes.fanouts=[]", "nodes.fanouts"),
        ("nodes.fanouts=[10, 0]", "nodes.fanouts"),
        ("nodes.layer_sizes=[0]", "nodes.layer_sizes"),
        ("nodes.num_negatives=0", "nodes.num_negatives"),
        ("nodes.label_fraction=1.5", "nodes.label_fraction"),
        ("nodes.feature_signal=-1.0", "nodes.feature_signal"),
        ("nodes.feature_noise_dims=-2", "nodes.feature_noise_dims"),
        ("nodes.hnsw_k=0", "nodes.hnsw_k"),
        ("nodes.features=pixels", "nodes.features"),
    ],
)
def test_nodes_config_values_are_validated(tmp_path: Path, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _small(tmp_path, override)


def test_noisy_label_features_need_labels(tmp_path: Path) -> None:
    edges = tmp_path / "ring.txt"  # an edge list: no node labels
    edges.write_text("".join(f"{i} {(i + 1) % 12}\n" for i in range(12)))
    with pytest.raises(ConfigError, match=r"nodes\.features"):
        Trainer(_small(tmp_path, "data.name=edgelist", f"data.path={edges}"))


def test_dgi_runs_have_a_validation_loss(tmp_path: Path) -> None:
    """The validation pass encodes corrupted input as a step does, so DGI gets a loss."""
    pytest.importorskip("torch_geometric")
    config = _small(tmp_path, "nodes.sampler=full", "objectives={dgi: 1.0, link: 1.0}")
    trainer = train(config)
    assert trainer.val_batch is not None
    assert math.isfinite(trainer.final_metrics["val_loss"])


def test_more_node_negatives_than_other_nodes_is_named_with_both_numbers(tmp_path: Path) -> None:
    config = _small(tmp_path, "data.sbm_nodes=40", "nodes.num_negatives=50")
    message = "nodes.num_negatives is 50, more than the 39 negatives an anchor of this graph"
    with pytest.warns(UserWarning, match=re.escape(message)):
        task = NodeTask(config, torch.Generator().manual_seed(0))
    assert task.settings.num_negatives == 50  # not clamped: the draws repeat nodes
