"""Per-query ranks of a text run's evaluation (``pairs.eval_splits``) and the paired
bootstrap of two runs: ranks agree with the reported nDCG, the validation split is
evaluated from the same encoding, and the intervals match the normal approximation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contrastkit.eval.paired_bootstrap import (
    bootstrap_mean,
    compare_runs,
    main,
    ndcg_per_query,
    paired_bootstrap,
    read_retrieval_ranks,
)
from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.text_tiny import tiny_model
from tests.wordnet_slice import wordnet_text_settings, write_wordnet_slice


def test_ndcg_per_query_by_hand() -> None:
    got = ndcg_per_query(np.array([1, 2, 3, 10, 11]), k=10)
    np.testing.assert_allclose(got, [1.0, 1 / np.log2(3), 0.5, 1 / np.log2(11), 0.0])
    with pytest.raises(ValueError, match="ranks"):
        ndcg_per_query(np.array([0, 1]))


def test_bootstrap_interval_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.0, size=4000)
    r = bootstrap_mean(x, num_resamples=4000, seed=1)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert r.mean == pytest.approx(x.mean())
    assert r.low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert r.high == pytest.approx(x.mean() + half, abs=0.15 * half)
    assert r.p_nonpositive == 0.0


def test_pairing_removes_the_shared_query_variance() -> None:
    rng = np.random.default_rng(2)
    hardness = rng.uniform(0, 1, size=500)  # most variance is the queries' own
    a = hardness + rng.normal(0, 0.05, size=500)
    b = a + 0.02 + rng.normal(0, 0.05, size=500)
    paired = paired_bootstrap(a, b, num_resamples=2000)
    sep_a, sep_b = bootstrap_mean(a, num_resamples=2000), bootstrap_mean(b, num_resamples=2000)
    assert paired.low > 0  # a 0.02 gain is resolved paired ...
    assert sep_b.low < sep_a.high  # ... but not by two separate intervals
    same = paired_bootstrap(a, a, num_resamples=200)
    assert same.mean == same.low == same.high == 0.0 and same.p_nonpositive == 1.0
    with pytest.raises(ValueError, match="one length"):
        paired_bootstrap(a, b[:10])


def _run(tmp_path: Path, model_dir: Path, root: Path, name: str, *extra: str) -> Trainer:
    config = load_config(
        None,
        [
            *wordnet_text_settings(root),
            f"encoder.model_path={model_dir}",
            "pairs.validation_fraction=0.3",
            "pairs.test_fraction=0.3",
            "matryoshka.dims=[32, 16]",
            "loop.progress=false",
            "output.report=false",
            f"output.run_dir={tmp_path / name}",
            "pairs.eval_ks=[1,10]",
            *extra,
        ],
    )
    return Trainer(config)


def test_eval_splits_ranks_and_a_paired_comparison(tmp_path: Path) -> None:
    model_dir = tiny_model(tmp_path / "tiny")
    root = write_wordnet_slice(tmp_path / "wn")
    both = _run(tmp_path, model_dir, root, "both", "pairs.eval_splits=[validation, test]")
    metrics = both.evaluate(run_files=True)  # the rank file, as training writes it
    ranks = read_retrieval_ranks(tmp_path / "both")
    settings = both.task.settings  # type: ignore[attr-defined]
    settings.eval_splits = ["test"]
    # the same weights: test/ does not depend on the splits (rank file 1)
    test_only = both.evaluate(run_files=True)
    assert not any(k.startswith("validation/") for k in test_only)
    for key, value in test_only.items():
        if key.startswith("test/"):
            assert metrics[key] == pytest.approx(value), key
    val_queries = both.task.eval_sets("validation")[0]  # type: ignore[attr-defined]
    assert metrics["validation/num_queries"] == val_queries.numel() > 0
    assert "validation/dim16/ndcg@10" in metrics
    assert set(ranks) == {
        f"{s}_{w}" for s in ("test", "validation") for w in ("full", "dim16", "query_ids")
    }
    for split, width in (("validation", ""), ("test", "/dim16")):
        key = f"{split}_{'full' if not width else width[1:]}"
        got = ndcg_per_query(ranks[key], 10).mean()
        assert got == pytest.approx(metrics[f"{split}{width}/ndcg@10"], abs=1e-6)
    # evaluation 1 (test only) against evaluation 0: the same test ranks, no difference
    run = tmp_path / "both"
    out = compare_runs(run, run, key="test_full", index_a=0, index_b=1)
    assert out["b_minus_a"].mean == 0.0 and out["a"].mean == pytest.approx(metrics["test/ndcg@10"])
    assert main([str(run), str(run), "--key", "test_dim16", "--index-a", "0"]) == 0
    assert main([str(run), str(run), "--key", "validation_full"]) == 2  # not in the last


def test_eval_splits_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"pairs\.eval_splits"):
        load_config(None, ["task.kind=pairs", "pairs.eval_splits=[train]"])
    with pytest.raises(ConfigError, match=r"pairs\.eval_splits"):
        load_config(None, ["task.kind=pairs", "pairs.eval_splits=[validation]"])  # digits
    with pytest.raises(ConfigError, match=r"eval\.monitor"):
        load_config(
            None,
            [
                "task.kind=pairs",
                "pairs.source=wordnet_text",
                "encoder.kind=text",
                "eval.monitor=validation/ndcg@10",
            ],
        )
