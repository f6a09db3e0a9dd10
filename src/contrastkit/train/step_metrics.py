"""The logged view of one training step (a ``metrics.jsonl`` record)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from contrastkit.train.objectives import RelationBatch

if TYPE_CHECKING:
    from contrastkit.train.trainer import Trainer


@torch.no_grad()
def step_record(
    trainer: Trainer, batch: RelationBatch, combined: Any, size: int, elapsed: float
) -> dict[str, Any]:
    """The logged view of one step: losses, weights, schedules, similarity gap,
    margin-violation rate (negatives scoring at least the positive)."""
    pos = trainer.distance.score_paired(batch.anchors(), batch.positives())
    neg = trainer.distance.score_paired(batch.anchors().unsqueeze(1), batch.negative_embeddings())
    valid = batch.mask
    n_valid = valid.sum().clamp_min(1)
    gap = pos.mean() - (neg * valid).sum() / n_valid
    violation = ((neg >= pos.unsqueeze(1)) & valid).sum() / n_valid
    trainer.snapshots.observe_difficulty((neg - pos.unsqueeze(1) + 1.0)[valid])
    record: dict[str, Any] = {
        "kind": "train",
        "step": trainer.step + 1,
        "epoch": trainer.epoch,
        "loss": float(combined.total.detach()),
        "temperature": batch.temperature,
        "lr": trainer.schedules.optimizer.param_groups[0]["lr"],
        "sim_gap": float(gap),
        "violation_rate": float(violation),
        "skipped_nonfinite": trainer.guard.skipped,
        "relations_per_s": size / max(elapsed, 1e-9),
    }
    for name, comp in combined.components.items():
        record[f"loss/{name}"] = comp.loss
        record[f"weight/{name}"] = comp.weight
    record.update(trainer.schedules.stage_record())
    return record
