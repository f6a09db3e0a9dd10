"""The evaluation a run reports: what the field measures for its task.

Names say what they are measured on: ``train/`` over the training relations,
``test/`` over held-out ones, ``embedding/`` over the embedding alone.

* hierarchies and graphs — reconstruction mean rank and MAP (Nickel & Kiela 2017):
  every training relation ranked among the anchor's non-relations
  (``train/mean_rank``, ``train/map``; without a split that is every relation);
* with a link-prediction split — the held-out relations ranked among non-relations
  with the training relations filtered (``test/link_map``, ``test/link_mean_rank``),
  plus ROC-AUC and average precision of held-out positives against sampled negatives
  (``test/auc``, ``test/ap``);
* with node labels on a non-hierarchical graph — a logistic-regression probe scored on
  the nodes it was not fitted on (``test/probe_accuracy``);
* for Euclidean-type embeddings — alignment of training relations and uniformity
  (Wang & Isola 2020: ``train/alignment``, ``embedding/uniformity``).

A degenerate embedding (collapsed to a point, to the origin or onto the ball's rim,
or non-finite) is refused with :class:`~contrastkit.eval.collapse.CollapsedEmbeddingError`
before anything is ranked: with every distance tied the rankings would score it
perfect. ``ties`` is the ranking's tie policy
(:func:`~contrastkit.eval.reconstruction.filtered_ranking`): ``"optimistic"`` (the
default, gensim's), ``"average"`` (mid-rank) or ``"pessimistic"``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastkit._validation import check_choice
from contrastkit.dist.collectives import computed_on_rank_zero
from contrastkit.eval.collapse import check_not_collapsed
from contrastkit.eval.diagnostics import alignment, uniformity
from contrastkit.eval.link_prediction import link_prediction_metrics
from contrastkit.eval.reconstruction import TIES, Mode, Ties, filtered_ranking
from contrastkit.eval.sharded_ranking import sharded_filtered_ranking
from contrastkit.functional.distances import Distance, PoincareDistance
from contrastkit.train.encoders import NodeEncoder
from contrastkit.train.task import GraphTask


def check_embedding(z: Tensor, distance: Distance, name: str = "embedding") -> None:
    """:func:`~contrastkit.eval.collapse.check_not_collapsed` as ``distance`` measures
    ``z [N, d]``: the rim test on the Poincaré ball, the direction test for cosine."""
    radius = 1.0 / math.sqrt(distance.curvature) if isinstance(distance, PoincareDistance) else None
    check_not_collapsed(z, name, ball_radius=radius, directions=distance.name == "cosine")


@torch.no_grad()
def evaluate_task(
    task: GraphTask,
    encoder: NodeEncoder,
    distance: Distance,
    *,
    ties: Ties = "optimistic",
    shard_ranking: bool = False,
) -> dict[str, float]:
    """The metrics of the module for ``task``'s graph and ``encoder``'s embedding;
    ``ties``: the rankings' tie policy (default ``"optimistic"``).

    ``shard_ranking`` (data parallelism; every rank calls it with the same encoder):
    the rankings are split over the ranks by anchors
    (:func:`~contrastkit.eval.sharded_ranking.sharded_filtered_ranking`, equal to one
    process's), the other metrics computed on rank 0 and broadcast."""
    ties = check_choice("ties", ties, TIES)
    encoder.eval()
    z = encoder.embed_all().detach().double()
    check_embedding(z, distance)
    metrics: dict[str, float] = {}
    mode: Mode = "directed" if task.hierarchical else "undirected"
    ranking = sharded_filtered_ranking if shard_ranking else filtered_ranking
    recon = ranking(z, task.eval_edges, distance=distance, mode=mode, ties=ties)
    metrics["train/mean_rank"] = recon.mean_rank
    metrics["train/map"] = recon.map
    split = task.split
    if split is not None:
        link = ranking(z, split.test_pos, split.train_pos, distance=distance, mode=mode, ties=ties)
        metrics["test/link_mean_rank"] = link.mean_rank
        metrics["test/link_map"] = link.map
    if shard_ranking:
        metrics.update(computed_on_rank_zero(lambda: _unranked_metrics(task, z, distance)))
    else:
        metrics.update(_unranked_metrics(task, z, distance))
    return metrics


def _unranked_metrics(task: GraphTask, z: Tensor, distance: Distance) -> dict[str, float]:
    """The metrics besides the rankings: AUC/AP of a split, alignment and uniformity,
    the probe (each cheap or not splittable by anchors)."""
    metrics: dict[str, float] = {}
    split = task.split
    if split is not None:
        binary = link_prediction_metrics(z, split.test_pos, split.test_neg, distance)
        metrics["test/auc"] = binary["roc_auc"]
        metrics["test/ap"] = binary["average_precision"]
    if not isinstance(distance, PoincareDistance):
        # Wang & Isola (2020) on the unit sphere: alignment of related pairs, uniformity
        edges = task.eval_edges[:, :50_000]
        metrics["train/alignment"] = alignment(z[edges[0]], z[edges[1]])
        metrics["embedding/uniformity"] = uniformity(z[:5000])
    graph = task.graph
    if graph.y is not None and not task.hierarchical and graph.num_classes > 1:
        from contrastkit.eval.probe import logistic_probe

        probe = logistic_probe(z.float(), graph.y)
        metrics["test/probe_accuracy"] = float(probe["accuracy"])
    return metrics
