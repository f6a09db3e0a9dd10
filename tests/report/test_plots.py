"""Figure functions: what they draw, and ValueError when there is nothing to draw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from contrastkit.report.metrics_log import MetricsLog, read_metrics
from contrastkit.report.plots_embedding import plot_embedding
from contrastkit.report.plots_similarity import (
    pair_auc,
    plot_difficulty_histogram,
    plot_similarity_histograms,
)
from contrastkit.report.plots_temperature import plot_temperature_softmax
from contrastkit.report.plots_training import (
    plot_eval_metrics,
    plot_gap_and_violation,
    plot_loss_components,
    plot_schedules,
)
from contrastkit.report.run_files import EmbeddingSnapshot, SimilaritySnapshot
from contrastkit.report.style import save_png, smooth
from tests.report.synthetic_run import write_metrics


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> MetricsLog:
    path = tmp_path_factory.mktemp("log") / "metrics.jsonl"
    write_metrics(path, steps=200, eval_every=50)
    return read_metrics(path)


def _log(tmp_path: Path, records: list[dict[str, object]]) -> MetricsLog:
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return read_metrics(path)


def _visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_loss_components(log: MetricsLog) -> None:
    fig = plot_loss_components(log)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["total", "info_nce", "spectral", "triplet"]


def test_loss_linear_when_not_positive(tmp_path: Path) -> None:
    log = _log(tmp_path, [{"step": s, "loss": 1.0 - s} for s in range(5)])
    assert plot_loss_components(log).axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="loss"):
        plot_loss_components(_log(tmp_path, [{"step": 1, "lr": 0.1}]))


def test_schedules(log: MetricsLog, tmp_path: Path) -> None:
    fig = plot_schedules(log)
    assert len(fig.axes) == 3  # temperature, weights, lr
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["easy", "semi-hard", "hard"]
    stage_only = _log(tmp_path, [{"step": s, "stage": "abba"[s // 2]} for s in range(8)])
    (ax,) = plot_schedules(stage_only).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_lines()[0].get_ydata().tolist()[-1] == 0.0  # back on stage "a"
    with pytest.raises(ValueError, match="temperature"):
        plot_schedules(_log(tmp_path, [{"step": 1, "loss": 1.0}]))


def test_gap_and_violation(log: MetricsLog, tmp_path: Path) -> None:
    assert len(plot_gap_and_violation(log).axes) == 2
    only_gap = _log(tmp_path, [{"step": s, "sim_gap": 0.1 * s} for s in range(3)])
    assert len(plot_gap_and_violation(only_gap).axes) == 1
    with pytest.raises(ValueError, match="sim_gap"):
        plot_gap_and_violation(_log(tmp_path, [{"step": 1, "loss": 1.0}]))


def test_eval_metrics(log: MetricsLog, tmp_path: Path) -> None:
    fig = plot_eval_metrics(log)
    axes = _visible_axes(fig)
    assert len(axes) == 7
    assert next(ax for ax in axes if ax.get_title().startswith("mean_rank")).get_yscale() == "log"
    with pytest.raises(ValueError, match="evaluation"):
        plot_eval_metrics(_log(tmp_path, [{"step": 1, "loss": 1.0}]))


def test_pair_auc_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    pos = np.round(rng.normal(0.5, 0.3, 40), 1)  # rounding makes ties
    neg = np.round(rng.normal(0.2, 0.3, 60), 1)
    brute = np.mean([[1.0 if p > n else 0.5 if p == n else 0.0 for n in neg] for p in pos])
    assert pair_auc(pos, neg) == pytest.approx(brute)
    assert np.isnan(pair_auc(pos, np.empty(0)))


def test_similarity_histograms() -> None:
    rng = np.random.default_rng(0)
    snap = SimilaritySnapshot(pos=rng.normal(0.6, 0.1, 300), neg=rng.normal(0, 0.2, 900))
    assert len(plot_similarity_histograms(snap, snap).axes) == 2
    assert len(plot_similarity_histograms(None, snap).axes) == 1
    one_sided = SimilaritySnapshot(pos=np.full(4, 0.3), neg=np.empty(0))
    assert len(plot_similarity_histograms(one_sided, None).axes) == 1
    with pytest.raises(ValueError, match="similarity"):
        plot_similarity_histograms(None, SimilaritySnapshot(np.empty(0), np.empty(0)))


def test_difficulty_histogram() -> None:
    values = np.array([0.5, 0.9, 1.2, 1.3])
    labels = plot_difficulty_histogram(values).axes[0].get_legend_handles_labels()[1]
    assert any("50.0%" in lab for lab in labels)
    assert len(plot_difficulty_histogram(np.full(3, 0.7)).axes) == 1
    with pytest.raises(ValueError, match="difficulty"):
        plot_difficulty_histogram(np.array([np.nan]))


def test_temperature_softmax_marks_run_temperature() -> None:
    fig = plot_temperature_softmax(None, run_temperature=0.07)
    dist, tau = fig.axes
    assert len(dist.get_lines()) == 5
    assert any("0.07" in lab for lab in tau.get_legend_handles_labels()[1])


def test_embedding_legend_and_disk() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    labels[:3] = -1
    snap = EmbeddingSnapshot(
        z=rng.normal(size=(100, 6)), labels=labels, label_names=["a", "b", "c"]
    )
    ax = plot_embedding(snap).axes[0]
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == ["a", "b", "c", "3", "unlabelled"]
    z = 0.5 * rng.normal(size=(50, 2)) / 3
    disk = plot_embedding(EmbeddingSnapshot(z=z, manifold="poincare")).axes
    assert len(disk) == 2  # scatter coloured by norm, with its colour bar
    assert disk[0].get_xlim() == (-1.05, 1.05)


def test_embedding_many_classes_has_no_legend() -> None:
    rng = np.random.default_rng(0)
    snap = EmbeddingSnapshot(z=rng.normal(size=(120, 3)), labels=np.arange(120) % 40)
    ax = plot_embedding(snap, method="pca").axes[0]
    assert ax.get_legend() is None
    assert any("40 classes" in t.get_text() for t in ax.texts)


def test_smooth_ignores_nan_and_is_centred() -> None:
    values = np.array([1.0, np.nan, 3.0, 5.0, 7.0])
    out = smooth(values, 3)
    assert out.tolist() == [1.0, 2.0, 4.0, 5.0, 6.0]
    assert np.isnan(smooth(np.array([np.nan, np.nan]), 3)).all()


def test_save_png_is_atomic(tmp_path: Path, log: MetricsLog) -> None:
    path = save_png(plot_gap_and_violation(log), tmp_path / "sub" / "gap.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["gap.png"]
