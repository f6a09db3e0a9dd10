"""Evaluation: Nickel & Kiela ranking, link prediction, retrieval, probes, diagnostics,
graph measures, and the collapse check that refuses to score a degenerate embedding."""

from contrastkit.eval.binary import average_precision, roc_auc
from contrastkit.eval.collapse import CollapsedEmbeddingError, check_not_collapsed
from contrastkit.eval.diagnostics import (
    alignment,
    batch_diagnostics,
    distribution_summary,
    margin_violation_rate,
    norm_summary,
    pairwise_distance_summary,
    sample_pairs,
    similarity_gap,
    uniformity,
)
from contrastkit.eval.graph_measures import (
    embedding_modularity,
    modularity,
    triangle_closure_accuracy,
    wedges,
)
from contrastkit.eval.link_prediction import (
    link_prediction_metrics,
    link_prediction_ranking,
    score_edges,
)
from contrastkit.eval.neighbors import exact_knn, knn_recall
from contrastkit.eval.probe import accuracy_and_macro_f1, logistic_probe, stratified_split
from contrastkit.eval.reconstruction import (
    Mode,
    RankingResult,
    Ties,
    filtered_ranking,
    reconstruction_ranking,
)
from contrastkit.eval.retrieval import retrieval_metrics
from contrastkit.eval.stability import embedding_drift, loss_stability
from contrastkit.eval.text_retrieval import retrieval_split, text_retrieval_metrics

__all__ = [
    "CollapsedEmbeddingError",
    "Mode",
    "RankingResult",
    "Ties",
    "accuracy_and_macro_f1",
    "alignment",
    "average_precision",
    "batch_diagnostics",
    "check_not_collapsed",
    "distribution_summary",
    "embedding_drift",
    "embedding_modularity",
    "exact_knn",
    "filtered_ranking",
    "knn_recall",
    "link_prediction_metrics",
    "link_prediction_ranking",
    "logistic_probe",
    "loss_stability",
    "margin_violation_rate",
    "modularity",
    "norm_summary",
    "pairwise_distance_summary",
    "reconstruction_ranking",
    "retrieval_metrics",
    "retrieval_split",
    "roc_auc",
    "sample_pairs",
    "score_edges",
    "similarity_gap",
    "stratified_split",
    "text_retrieval_metrics",
    "triangle_closure_accuracy",
    "uniformity",
    "wedges",
]
