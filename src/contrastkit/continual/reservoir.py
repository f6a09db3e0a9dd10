r"""A reservoir replay buffer: a uniform sample of everything a stream has shown.

Vitter's Algorithm R, vectorised over a batch: item :math:`i` of the stream (0-based)
fills slot :math:`i` while :math:`i < C`; later it draws :math:`j \sim \mathcal U\{0..i\}`
and replaces slot :math:`j` when :math:`j < C`. After :math:`n` items every item is in
the buffer with probability :math:`C/n`. The draws of a batch do not depend on the
buffer's contents, so a batch is applied at once: where several of its items pick the
same slot, the latest one wins, exactly as one-by-one insertion would leave it.

Reference: J. S. Vitter, "Random sampling with a reservoir", ACM TOMS 11(1), 1985;
Chaudhry et al., "On tiny episodic memories in continual learning", 2019.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int

__all__ = ["ReservoirBuffer"]


class ReservoirBuffer:
    """Holds up to ``capacity`` items, each a row of ``width`` int64 values (an edge: 2).

    Example:
        >>> buf = ReservoirBuffer(3, width=1)
        >>> buf.add(torch.arange(10).view(-1, 1), torch.Generator().manual_seed(0))
        >>> len(buf), buf.seen
        (3, 10)
    """

    def __init__(self, capacity: int, *, width: int = 2) -> None:
        self.capacity = check_positive_int("capacity", capacity)
        self.width = check_positive_int("width", width)
        self.items = torch.zeros(capacity, width, dtype=torch.int64)
        self.seen = 0

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, items: Tensor, generator: torch.Generator) -> None:
        """Offer ``items [B, width]`` in order (one uniform draw per item past the fill)."""
        if items.dim() != 2 or items.shape[1] != self.width:
            raise ValueError(f"items must have shape [B, {self.width}], got {tuple(items.shape)}")
        b = items.shape[0]
        if b == 0:
            return
        index = torch.arange(self.seen, self.seen + b, dtype=torch.int64)
        draw = (torch.rand(b, generator=generator, dtype=torch.float64) * (index + 1)).floor()
        slot = torch.where(index < self.capacity, index, draw.to(torch.int64))
        keep = slot < self.capacity
        slot, pos = slot[keep], torch.arange(b)[keep]
        # the latest item that picked a slot is the one left there
        winner = torch.full((self.capacity,), -1, dtype=torch.int64)
        winner.scatter_reduce_(0, slot, pos, reduce="amax")
        filled = torch.nonzero(winner >= 0).flatten()
        self.items[filled] = items[winner[filled]]
        self.seen += b

    def sample(self, k: int, generator: torch.Generator) -> Tensor:
        """``[k, width]`` items drawn uniformly with replacement (``[0, width]`` when empty)."""
        n = len(self)
        if n == 0 or k <= 0:
            return self.items[:0]
        return self.items[torch.randint(0, n, (k,), generator=generator)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "width": self.width,
            "items": self.items.clone(),
            "seen": self.seen,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        items = state["items"]
        if tuple(items.shape) != (self.capacity, self.width):
            raise ValueError(
                f"buffer state has items of shape {tuple(items.shape)}, "
                f"this buffer holds ({self.capacity}, {self.width})"
            )
        self.items = items.clone()
        self.seen = int(state["seen"])
