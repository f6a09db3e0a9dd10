"""The trainer's step through :class:`~contrastkit.train.table_step.SparseTableStep`.

Same batch, negatives, schedules, combiner, non-finite guard and logged record as
:meth:`Trainer.train_step <contrastkit.train.trainer.Trainer.train_step>`, but no
autograd over the table and no dense optimiser pass: the gradients of the gathered
rows are summed into the touched rows and applied with the schedules' current LR
(and, for ``radagrad``, the optimiser's row accumulators).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from contrastkit.losses.weighting import CombinedLoss
from contrastkit.train.objectives import RelationBatch
from contrastkit.train.row_adagrad import RowAdagrad
from contrastkit.train.step_metrics import step_record

if TYPE_CHECKING:
    from contrastkit.train.trainer import Trainer


def sparse_train_step(trainer: Trainer, idx: Tensor, start: float) -> dict[str, Any]:
    """One step over the training relations ``idx [B]``; the metrics record on
    logging steps, else ``{}``."""
    step = trainer.table_step
    if step is None:
        raise ValueError("sparse_train_step needs a trainer with a table_step")
    u, v, negatives = trainer.relations_and_negatives(idx)
    temperature = trainer.schedules.temperature()
    captured: list[CombinedLoss] = []

    def total(loss: Tensor) -> Tensor:
        captured.append(trainer.schedules.combine({"infonce": loss}))
        return captured[-1].total

    grads: tuple[Tensor, ...]
    shared, own, mask = negatives.shared, negatives.own, negatives.mask
    if shared is not None:
        ks = negatives.num_shared
        own_mask = None if own is None else mask[:, ks:]
        _, grads = step.shared_loss_and_grads(
            u, v, shared, mask[:, :ks], temperature, total, own, own_mask
        )
        rows = [(u, grads[0]), (v, grads[1]), (shared.reshape(-1), grads[2].flatten(0, 1))]
        if own is not None:
            rows.append((own.reshape(-1), grads[3].flatten(0, 1)))
    else:
        candidates = torch.cat([v.unsqueeze(1), negatives.per_anchor()], dim=1)  # own only
        _, grads = step.loss_and_grads(u, candidates, mask, temperature, total)
        rows = step.candidate_rows(u, candidates, grads)
    combined = captured[0]
    record: dict[str, Any] = {}
    if (trainer.step + 1) % trainer.config.loop.log_every == 0:
        layout, nodes = RelationBatch.from_ids(u, v, negatives.per_anchor(), mask, temperature)
        with torch.no_grad():
            batch = dataclasses.replace(layout, z=trainer.encoder(nodes))
        record = step_record(trainer, batch, combined, idx.numel(), time.perf_counter() - start)
    if trainer.guard.check(combined.total, gradients=grads):
        trainer.train_loss_sum += float(combined.total.detach())
        trainer.train_loss_count += 1
        optimizer = trainer.schedules.optimizer
        group = optimizer.param_groups[0]
        accumulator = None
        if isinstance(optimizer, RowAdagrad):
            # the optimiser's own state (replaced on resume): the checkpoint keeps it
            accumulator = optimizer.state[step.table.weight]["sum"]
        step.apply(rows, float(group["lr"]), accumulator, float(group.get("eps", 1e-10)))
        trainer.schedules.after_optimizer_step(optimizer_stepped=False)
    return record
