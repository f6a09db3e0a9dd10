"""The negatives of a batch of relations as a step consumes them: shared and own ids."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class RelationNegatives:
    """The negatives of ``B`` relations as a step consumes them: ``shared [G, Ks]`` ids
    common to each group of ``group`` consecutive anchors (PyTorch-BigGraph's batching),
    ``own [B, Ko]`` ids of each anchor's own (N&K's sampling, or mined ones beside
    shared uniform ones), either part possibly absent, and ``mask [B, Ks + Ko]`` (True =
    a real negative), the shared columns first."""

    mask: Tensor
    shared: Tensor | None = None
    own: Tensor | None = None
    group: int = 0

    def __post_init__(self) -> None:
        if self.shared is None and self.own is None:
            raise ValueError("RelationNegatives needs shared or own negatives, got neither")
        if self.shared is not None and self.group <= 0:
            raise ValueError(f"group must be > 0 with shared negatives, got {self.group}")

    @property
    def num_shared(self) -> int:
        return 0 if self.shared is None else self.shared.shape[1]

    def per_anchor(self) -> Tensor:
        """All of them written out per anchor, ``[B, Ks + Ko]`` (the generic step's layout)."""
        b = self.mask.shape[0]
        parts = [] if self.shared is None else [self.shared.repeat_interleave(self.group, 0)[:b]]
        if self.own is not None:
            parts.append(self.own)
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)
