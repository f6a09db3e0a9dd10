"""The logged view of one training step (a ``metrics.jsonl`` record)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from contrastkit.functional.distances import Distance
from contrastkit.losses.weighting import CombinedLoss
from contrastkit.objectives.batch import Batch

IN_BATCH_STATISTICS_MAX = 4096


@torch.no_grad()
def batch_statistics(batch: Batch, distance: Distance) -> tuple[dict[str, float], Tensor]:
    """Similarity gap (mean positive score minus mean negative score), the
    margin-violation rate (negatives scoring at least their positive) and the
    difficulty :math:`s(a,n) - s(a,p) + 1` of every valid negative (for the report).

    A batch without explicit negatives (``K = 0``: in-batch objectives) is measured
    against its in-batch negatives instead — the other rows' positives, less the keys
    the in-batch false-negative mask drops — for batches of up to 4096 pairs."""
    anchors = batch.anchors()
    pos = distance.score_paired(anchors, batch.positives())
    valid = batch.mask
    b = int(anchors.shape[0])
    if valid.numel() == 0 and 2 <= b <= IN_BATCH_STATISTICS_MAX:
        from contrastkit.objectives.entries_contrastive import in_batch_false_negatives

        neg = distance.score_paired(anchors.unsqueeze(1), batch.positives().unsqueeze(0))
        valid = ~in_batch_false_negatives(batch)
        valid.fill_diagonal_(False)
    elif valid.numel() == 0:
        return {}, pos.new_zeros(0)
    else:
        neg = distance.score_paired(anchors.unsqueeze(1), batch.negative_embeddings())
    n_valid = valid.sum().clamp_min(1)
    gap = pos.mean() - (neg * valid).sum() / n_valid
    violation = ((neg >= pos.unsqueeze(1)) & valid).sum() / n_valid
    stats = {"sim_gap": float(gap), "violation_rate": float(violation)}
    return stats, (neg - pos.unsqueeze(1) + 1.0)[valid]


def loss_record(combined: CombinedLoss) -> dict[str, Any]:
    """``loss`` (the weighted total) and, per objective, its unweighted loss and weight."""
    record: dict[str, Any] = {"loss": float(combined.total.detach())}
    for name, comp in combined.components.items():
        record[f"loss/{name}"] = comp.loss
        record[f"weight/{name}"] = comp.weight
    return record
