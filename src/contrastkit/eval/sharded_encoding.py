"""A text encode (:meth:`~contrastkit.models.text.TextEncoder.encode`) split over the
ranks of a data-parallel run.

:meth:`~contrastkit.models.text.TextEncoder.encode` runs the texts in batches of
``batch_size`` in order of decreasing length (its
:meth:`~contrastkit.models.text.TextEncoder.batch_plan`).
Rank ``i`` of ``W`` encodes the batches ``i, i + W, i + 2W, ...`` of that plan and one
all-gather brings every rank's rows, which go back to the texts' order (every rank
knows the plan, so only the vectors travel). Each batch is the one a single process
runs — the same texts, so the same tokenisation, padding and length buckets — so the
result equals :meth:`~contrastkit.models.text.TextEncoder.encode`'s bit for bit (on
a deterministic backend), and the interleaving spreads the long batches, which cost
the most, over the ranks rather than handing them all to rank 0. Each rank encodes
about ``1/W`` of the texts and receives the whole ``[n, d]`` result. One process:
:meth:`~contrastkit.models.text.TextEncoder.encode` itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastkit.dist.collectives import all_gather_rows
from contrastkit.dist.env import is_distributed, rank, world_size
from contrastkit.models.text import TextEncoder


@torch.no_grad()
def sharded_encode(text: TextEncoder, texts: Sequence[str], batch_size: int) -> Tensor:
    """``[n, d]`` embeddings of ``texts`` (``text.encode(texts, batch_size)``), the
    batches split over the ranks; every rank returns the whole result. A collective:
    every rank must call it with equal arguments."""
    if not is_distributed() or not texts:
        return text.encode(texts, batch_size)
    w = world_size()
    _, own = text.encode_batches(texts, batch_size, shard=(rank(), w))
    gathered, _ = all_gather_rows(own)  # [n, d], rank 0's batches first
    plan = text.batch_plan(texts, batch_size)
    # W shards (not a loop over texts): where each rank's rows go
    rows = torch.cat([torch.cat(plan[r::w]) for r in range(w) if plan[r::w]])
    out = torch.empty_like(gathered)
    out[rows.to(gathered.device)] = gathered
    return out
