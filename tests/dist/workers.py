"""What the spawned ranks of tests/dist run (importable by the child processes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit.dist.collectives import all_reduce_mean
from contrastkit.functional.distances import get_distance
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.entries_contrastive import (
    InfoNCEObjective,
    InfoNCEParams,
    MNRObjective,
    MNRParams,
)
from contrastkit.objectives.registry import Objective, ObjectiveContext
from contrastkit.train.distributed_step import average_gradients_, wrap_encoder
from contrastkit.train.encoders import FeatureEncoder

NUM_ITEMS, FEATURES, DIM, PER_RANK, K = 20, 6, 5, 4, 2


@dataclass(frozen=True)
class Case:
    name: str
    objective: str  # infonce | mnr
    params: dict[str, Any]
    distance: str = "cosine"
    hard: bool = False  # the batch carries hard-negative columns


CASES = [
    Case("infonce_in_batch", "infonce", {"in_batch": True}),
    Case("infonce_symmetric_sqeuclid", "infonce", {"in_batch": True, "symmetric": True}, "sqeuclidean"),
    Case("infonce_multi_positive", "infonce", {"in_batch": True, "multi_positive": True}),
    Case(
        "infonce_learnable_t",
        "infonce",
        {"in_batch": True, "temperature": 0.3, "learnable_temperature": True},
        "dot",
    ),
    Case("infonce_hard_columns", "infonce", {}, hard=True),
    Case("mnr", "mnr", {"hard_negatives": False}),
    Case("mnr_hard", "mnr", {}, hard=True),
    Case("mnr_hard_symmetric", "mnr", {"symmetric": True}, hard=True),
]


def data() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Features ``[N, F]`` and labels ``[N]`` of the items; a global batch of 2 x 4
    pairs ``u, v [8]`` with hard negatives ``[8, K]`` and their mask: positive item 3
    is drawn on both ranks (rows 1 and 5), label classes repeat across ranks."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(NUM_ITEMS, FEATURES, generator=gen, dtype=torch.float64)
    labels = torch.arange(NUM_ITEMS) // 4
    labels[NUM_ITEMS - 2 :] = -1  # two unlabelled items
    u = torch.tensor([0, 4, 8, 12, 1, 5, 18, 13])
    v = torch.tensor([2, 3, 9, 19, 6, 3, 10, 14])
    negatives = torch.tensor(
        [[5, 7], [11, 2], [16, 17], [1, 3], [9, 0], [12, 15], [4, 4], [17, 19]]
    )
    mask = torch.ones(8, K, dtype=torch.bool)
    mask[2, 1] = mask[6, 0] = False
    return x, labels, u, v, negatives, mask


def make_encoder(x: Tensor) -> FeatureEncoder:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Linear(8, DIM)).double()
    return FeatureEncoder(mlp, x)


def make_objective(case: Case, gather: str) -> Objective:
    ctx = ObjectiveContext(
        distance=get_distance(case.distance),
        dim=DIM,
        num_items=NUM_ITEMS,
        temperature=0.5,
        gather=gather,
    )
    if case.objective == "mnr":
        return MNRObjective(MNRParams(**case.params), ctx)
    return InfoNCEObjective(InfoNCEParams(**case.params), ctx).double()


def make_batch(rows: slice, hard: bool) -> Batch:
    x, labels, u, v, negatives, mask = data()
    neg, m = (negatives[rows], mask[rows]) if hard else (torch.empty(0, 0), None)
    if not hard:
        b = u[rows].numel()
        neg, m = torch.empty(b, 0, dtype=torch.long), torch.empty(b, 0, dtype=torch.bool)
    batch = Batch.from_ids(u[rows], v[rows], neg, m, temperature=0.5)
    batch.labels = labels[batch.items]
    return batch


def loss_and_grads(case: Case, gather: str, rows: slice, ddp: bool) -> tuple[float, list[Tensor]]:
    """The loss and the gradients of every parameter (encoder, then objective) after
    DDP's all-reduce (``ddp``) or in one process."""
    x = data()[0]
    encoder, objective = make_encoder(x), make_objective(case, gather)
    batch = make_batch(rows, case.hard)
    wrapped = wrap_encoder(encoder, False) if ddp else None  # kept: its hooks all-reduce
    z = encoder.encode(batch) if wrapped is None else wrapped(batch)[0]
    loss = objective(batch.with_z(z))
    loss.backward()
    params = list(encoder.parameters()) + list(objective.parameters())
    if ddp:
        average_gradients_(list(objective.parameters()))
        value = all_reduce_mean({"loss": float(loss.detach())})["loss"]
    else:
        value = float(loss.detach())
    return value, [p.grad.detach().clone() for p in params]


def gather_modes_worker(rank: int, world: int) -> dict[tuple[str, str], Any]:
    """Every case under every gather mode on this rank's share of the global batch."""
    rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    return {
        (case.name, mode): loss_and_grads(case, mode, rows, ddp=True)
        for case in CASES
        for mode in ("local", "full", "none")
    }
