"""Run directory -> PNG plots and one self-contained report.html."""

from contrastkit.report.build import SECTIONS, build_report
from contrastkit.report.html import render_report
from contrastkit.report.metrics_log import MetricsLog, StageSegment, read_metrics
from contrastkit.report.plots_embedding import plot_embedding
from contrastkit.report.plots_similarity import (
    pair_auc,
    plot_difficulty_histogram,
    plot_similarity_histograms,
)
from contrastkit.report.plots_temperature import (
    plot_temperature_softmax,
    softmax_over_temperatures,
)
from contrastkit.report.plots_training import (
    plot_eval_metrics,
    plot_gap_and_violation,
    plot_loss_components,
    plot_schedules,
)
from contrastkit.report.projection import Projection, pca_2d, project_embedding
from contrastkit.report.run_files import (
    EmbeddingSnapshot,
    RunFiles,
    SimilaritySnapshot,
    read_run,
)

__all__ = [
    "SECTIONS",
    "EmbeddingSnapshot",
    "MetricsLog",
    "Projection",
    "RunFiles",
    "SimilaritySnapshot",
    "StageSegment",
    "build_report",
    "pair_auc",
    "pca_2d",
    "plot_difficulty_histogram",
    "plot_embedding",
    "plot_eval_metrics",
    "plot_gap_and_violation",
    "plot_loss_components",
    "plot_schedules",
    "plot_similarity_histograms",
    "plot_temperature_softmax",
    "project_embedding",
    "read_metrics",
    "read_run",
    "render_report",
    "softmax_over_temperatures",
]
