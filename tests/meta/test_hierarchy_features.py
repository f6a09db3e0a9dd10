"""Few-shot features from a trained hierarchy embedding (``meta.features: run``): the
rows are the trained run's, matched by synset name (through log_0 for a Poincaré
run), missing names are an error or zero rows, and a few-shot run on them works end
to end. The hierarchy run is trained here, tiny: a Poincaré embedding of the hypernym
edges of the few-shot sample, written as an edge-list file of synset names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from contrastkit.meta.hierarchy_features import (
    poincare_log0,
    run_embedding_features,
    run_embedding_rows,
)
from contrastkit.meta.wordnet_fewshot import sample_per_class
from contrastkit.train.config import load_config
from contrastkit.typed_config import ConfigError

WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(
    not Path(WN_DIR, "data.noun").is_file(), reason="wordnet-base not installed"
)
PER_CLASS = 20


def test_poincare_log0_against_the_distance_from_the_origin() -> None:
    x = torch.tensor([[0.0, 0.0], [0.3, -0.4], [0.6, 0.0], [0.0, 1 - 1e-9]], dtype=torch.float64)
    v = poincare_log0(x)
    assert torch.equal(v[0], x[0])  # the origin stays
    # |log_0 x| = d(0, x) / 2 with d(0, x) = arcosh(1 + 2|x|^2 / (1 - |x|^2))
    sq = x.square().sum(1)
    dist = torch.acosh(1 + 2 * sq / (1 - sq))
    torch.testing.assert_close(v.norm(dim=1), dist / 2)
    # directions kept
    torch.testing.assert_close(v[1:] / v[1:].norm(dim=1, keepdim=True), x[1:] / sq[1:, None].sqrt())


@pytest.fixture(scope="module")
def nouns() -> Any:
    if not Path(WN_DIR, "data.noun").is_file():
        pytest.skip("wordnet-base not installed")
    from contrastkit.data.wordnet import load_wordnet_nouns

    return load_wordnet_nouns(WN_DIR)


@pytest.fixture(scope="module")
def hierarchy_run(nouns: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A Poincaré run over the hypernym edges of the few-shot sample (seed 0), less
    those of one drawn synset (``absent``) that no other drawn synset points to."""
    from contrastkit.train.run import train

    tmp = tmp_path_factory.mktemp("hierarchy")
    drawn = sample_per_class(nouns.lexclass, PER_CLASS, 0)
    edges = nouns.hierarchy_edges()
    is_drawn = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    is_drawn[drawn] = True
    mine = edges[:, is_drawn[edges[0]]]
    parents = set(mine[1].tolist())
    absent = next(i for i in drawn.tolist() if i not in parents)
    mine = mine[:, mine[0] != absent]
    path = tmp / "hypernyms.tsv"
    path.write_text("".join(f"{nouns.names[a]}\t{nouns.names[b]}\n" for a, b in mine.T.tolist()))
    run = tmp / "run"
    config = load_config(
        None,
        [
            "data.name=edgelist", f"data.path={path}", "hierarchy.edgelist=true",
            "encoder.kind=embedding", "encoder.dim=5", "encoder.manifold=poincare",
            "objective.distance=poincare", "objective.temperature=1.0",
            "miner.num_negatives=10", "optim.name=rsgd", "optim.lr=1.0",
            "loop.epochs=30", "loop.batch_size=256", "loop.progress=false",
            "eval.every_epochs=30", f"output.run_dir={run}", "output.report=false",
        ],
    )  # fmt: skip
    train(config)
    return run, nouns.names[absent]


@needs_wordnet
def test_features_are_the_trained_rows_by_name(hierarchy_run: tuple[Path, str]) -> None:
    run, absent = hierarchy_run
    z, names, poincare = run_embedding_rows(run)
    assert poincare and z.shape[1] == 5 and len(names) == z.shape[0]
    assert float(z.norm(dim=1).max()) < 1.0
    picked = [names[7], names[3], absent, names[0]]
    with pytest.raises(ValueError, match=rf"no row for 1 of 4 synsets \(e\.g\. {absent}\)"):
        run_embedding_features(run, picked)
    x = run_embedding_features(run, picked, missing="zero")
    assert x.dtype == torch.float32 and x.shape == (4, 5)
    expected = poincare_log0(z[[7, 3, 0]]).float()
    assert torch.equal(x[[0, 1, 3]], expected)
    assert torch.equal(x[2], torch.zeros(5))
    # the trained rows, not the initialisation: a run from init_scale 1e-3 has moved
    assert float(z.norm(dim=1).mean()) > 0.01


@needs_wordnet
def test_fewshot_run_on_hierarchy_features_end_to_end(
    nouns: Any,
    hierarchy_run: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import contrastkit.data.wordnet as wordnet
    from contrastkit.meta.run import build_fewshot_data, train_fewshot

    monkeypatch.setattr(wordnet, "load_wordnet_nouns", lambda root=None: nouns)
    run, absent = hierarchy_run
    overrides = [
        "meta.features=run", f"meta.features_run={run}", f"meta.per_class={PER_CLASS}",
        "meta.method=protonet", "meta.steps=20", "meta.eval_every=10", "meta.scratch=false",
        "meta.val_episodes=10", "meta.test_episodes=20", "encoder.dim=16", "encoder.hidden=32",
        "optim.lr=0.01", "loop.progress=false", f"output.run_dir={tmp_path / 'fewshot'}",
        "meta.train_tasks=classes", "meta.train_per_class=0",  # the sample alone
    ]  # fmt: skip
    base = Path(__file__).parents[2] / "configs" / "wordnet_fewshot_protonet.yaml"
    with pytest.raises(ValueError, match=rf"no row for \d+ of \d+ synsets \(e\.g\. .*{absent}"):
        build_fewshot_data(load_config(base, overrides))
    config = load_config(base, [*overrides, "meta.features_missing=zero"])
    data = build_fewshot_data(config)
    assert data.x.shape[1] == 5 and int((data.y >= 0).sum()) == 26 * PER_CLASS
    assert not (tmp_path / "fewshot" / "cache").exists()  # MiniLM never ran
    # every few-shot node (drawn synsets and their hypernyms, in id order) has its
    # trained row, log_0-mapped; those the run lacks the zero row
    z, run_names, _ = run_embedding_rows(run)
    index = {n: i for i, n in enumerate(run_names)}
    drawn = sample_per_class(nouns.lexclass, PER_CLASS, 0)
    edges = nouns.hierarchy_edges()
    is_drawn = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    is_drawn[drawn] = True
    nodes = torch.unique(torch.cat([drawn, edges[1, is_drawn[edges[0]]]]))
    names = [nouns.names[i] for i in nodes.tolist()]
    rows = torch.tensor([index.get(n, -1) for n in names])
    assert absent in names and int((rows < 0).sum()) < 5
    expected = torch.where((rows >= 0)[:, None], poincare_log0(z[rows.clamp_min(0)]), 0.0)
    assert torch.equal(data.x, expected.float())
    result = train_fewshot(config)
    final = result.final_metrics
    assert 0.0 <= final["test/accuracy"] <= 1.0 and final["test/accuracy_ci95"] > 0
    assert (result.run_dir / "final_metrics.json").is_file()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["meta.features=run"], "meta.features_run"),
        (["meta.features_run=runs/x"], "meta.features_run"),
        (["meta.features=glove"], "meta.features"),
        (["meta.features_missing=mean"], "meta.features_missing"),
        (["meta.features=run", "meta.features_run=runs/x", "data.name=sbm"], "wordnet_nouns"),
    ],
)
def test_bad_feature_settings_refused(overrides: list[str], match: str) -> None:
    base = Path(__file__).parents[2] / "configs" / "wordnet_fewshot_protonet.yaml"
    with pytest.raises(ConfigError, match=match):
        load_config(base, overrides)


def test_a_directory_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a contrastkit run directory"):
        run_embedding_features(tmp_path, ["dog.n.01"])
