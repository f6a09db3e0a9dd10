"""Mining difficulty across re-minings and the comparison of several runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastkit.cli import main
from contrastkit.report.compare import compare_runs, config_key, seed_stability
from contrastkit.report.text_analysis import (
    difficulty_shift,
    plot_difficulty_rounds,
    read_difficulty_rounds,
    save_difficulty_round,
)
from tests.report.synthetic_run import CONFIG_YAML, write_run


def test_rounds_round_trip_and_shift(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    data = {i: torch.randn(500, generator=g) * 0.1 + 0.1 - 0.1 * i for i in (2, 0, 1)}
    for i, d in data.items():
        save_difficulty_round(tmp_path, i, d)
    (tmp_path / "snapshots" / "difficulty_round_009.npy").write_bytes(b"not numpy")
    problems: list[str] = []
    rounds = read_difficulty_rounds(tmp_path, problems)
    assert [i for i, _ in rounds] == [0, 1, 2]
    assert problems and "difficulty_round_009.npy" in problems[0]
    assert not [p for p in (tmp_path / "snapshots").iterdir() if "tmp" in p.name]
    for (i, values), row in zip(rounds, difficulty_shift(rounds), strict=True):
        ref = data[i].double().numpy()
        np.testing.assert_allclose(values, ref, rtol=1e-6)
        assert row["round"] == i and row["count"] == 500
        assert row["mean"] == pytest.approx(float(np.float32(ref).mean()), rel=1e-5)
        assert row["q90"] == pytest.approx(float(np.quantile(values, 0.9)))
        assert row["violated_share"] == pytest.approx(float((values > 0).mean()))
    means = [r["mean"] for r in difficulty_shift(rounds)]
    assert means[0] > means[1] > means[2]  # easier negatives as the encoder learns
    fig = plot_difficulty_rounds(rounds)
    assert len(fig.axes) == 3  # histograms, statistics and the violated-share twin axis
    with pytest.raises(ValueError, match="no mining round"):
        plot_difficulty_rounds([(0, np.array([]))])
    assert read_difficulty_rounds(tmp_path / "absent") == []


def test_seed_stability_is_mean_and_sample_std() -> None:
    runs = [{"a": 1.0, "b": 2.0, "name": "x"}, {"a": 2.0, "b": 4.0}, {"a": 4.0}]
    out = seed_stability(runs)
    assert set(out) == {"a"}  # only metrics every run reports
    mean, std, n = out["a"]
    assert (mean, n) == (pytest.approx(7 / 3), 3)
    assert std == pytest.approx(float(np.std([1.0, 2.0, 4.0], ddof=1)))
    assert seed_stability([{"a": 1.0}])["a"] == (1.0, 0.0, 1)


def test_config_key_ignores_only_seed_and_output() -> None:
    base = "loop:\n  seed: 1\n  steps: 10\noutput:\n  dir: a\n"
    assert config_key(base) == config_key(base.replace("seed: 1", "seed: 2").replace("a", "b"))
    assert config_key(base) != config_key(base.replace("steps: 10", "steps: 20"))


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    runs = [write_run(root / f"seed{i}", steps=120, seed=i) for i in range(2)]
    for i, run in enumerate(runs):
        final = {"ndcg@10": 0.5 + 0.1 * i, "recall@1": 0.3}
        (run / "final_metrics.json").write_text(json.dumps(final))
    other = write_run(root / "other", steps=120, seed=5)
    (other / "config.yaml").write_text(CONFIG_YAML + "\n# another loss\nextra: 1\n")
    return [*runs, other]


def test_compare_runs_page(three_runs: list[Path], tmp_path: Path) -> None:
    out = compare_runs(three_runs, tmp_path / "cmp.html")
    text = out.read_text(encoding="utf-8")
    assert {p.name for p in (tmp_path / "compare_plots").iterdir()} >= {"loss.png", "eval.png"}
    assert "Stability across seeds (seed0, seed1)" in text
    assert "0.55 ± 0.071 (n=2)" in text  # mean and sample std of 0.5 and 0.6
    assert "Final metrics — other" in text
    assert "Mining difficulty per round — seed0" in text
    with pytest.raises(ValueError, match="at least two"):
        compare_runs(three_runs[:1], tmp_path / "x.html")


def test_cli_report_with_several_runs(three_runs: list[Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # the synthetic runs have config.yaml, so they are run directories to the CLI
    out = tmp_path / "c.html"
    assert main(["report", *map(str, three_runs[:2]), "--out", str(out)]) == 0
    assert out.is_file() and "comparison:" in capsys.readouterr().out
    assert main(["report", str(three_runs[0]), str(tmp_path / "nope")]) == 2
