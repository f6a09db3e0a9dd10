r"""Summing the touched rows of an embedding table's gradient across ranks.

The sparse table step (:class:`~contrastkit.train.step.SparseStep`) holds its
gradient as rows: ``[(ids [M_i], grads [M_i, d]), ...]``, a few hundred rows of a
table of millions. A dense all-reduce would move the whole table; this moves only the
rows: every rank's ids and values are all-gathered (sparse all-reduce: indices and
values, as gloo's sparse ``allreduce`` does), and each rank applies all of them, so
the tables stay equal. A row touched on several ranks gets every rank's
contribution (the update's ``index_add_`` sums duplicates). The values are divided
by ``W``: rank ``r``'s gradient is that of the mean over its ``B`` relations, the
single-process step on the combined batch takes the mean over ``W B``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.dist.collectives import all_gather_rows
from contrastkit.dist.env import is_distributed, world_size


def all_reduce_rows(
    rows: list[tuple[Tensor, Tensor]], num_rows: int
) -> list[tuple[Tensor, Tensor]]:
    """``rows`` of every rank as one ``[(ids [sum M], grads [sum M, d] / W)]`` (this
    rank's unchanged for a single process); ``num_rows``: the table's (the same on
    every rank, so every rank packs the same way)."""
    if not is_distributed() or not rows:
        return rows
    ids = torch.cat([i.reshape(-1) for i, _ in rows])
    values = torch.cat([g.reshape(i.numel(), -1) for i, g in rows])
    packed = torch.cat([ids.to(values.dtype).unsqueeze(1), values], dim=1)
    exact = {torch.float64: 2**53, torch.float32: 2**24}.get(values.dtype, 0)
    if num_rows > exact:
        # the float dtype cannot hold every id exactly: gather the ids on their own
        all_ids, _ = all_gather_rows(ids)
        all_values, _ = all_gather_rows(values)
    else:
        gathered, _ = all_gather_rows(packed)
        all_ids, all_values = gathered[:, 0].to(torch.int64), gathered[:, 1:]
    return [(all_ids, all_values / world_size())]
