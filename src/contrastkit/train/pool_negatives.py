r"""Negatives mined from a training pool for a batch's anchors (the pairs and text tasks).

For anchors with embeddings ``q [B, d]`` and positives ``p [B, d]`` the pool
``P [M, d]`` is scanned by :func:`~contrastkit.mining.mine` (``k`` per anchor, the
task's exclusions and filters); under a curriculum a negative whose difficulty
:math:`s(a, n) - s(a, p)` exceeds ``ctx.max_difficulty`` is masked as well. Masked
slots hold the anchor's positive item (``fallback``), so the ``[B, K]`` id tensor is
always valid to index and the loss drops those slots by the mask.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.mining import mine
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.filters import FalseNegativeFilters
from contrastkit.mining.result import MiningResult
from contrastkit.train.task_base import SampleContext


def mine_pool_negatives(
    queries: Tensor,
    positives: Tensor,
    pool: Tensor,
    pool_items: Tensor,
    fallback: Tensor,
    k: int,
    strategy: str,
    ctx: SampleContext,
    *,
    exclusions: Exclusions,
    generator: torch.Generator,
    filters: FalseNegativeFilters | None = None,
) -> tuple[MiningResult, Tensor, Tensor]:
    """``(result, negatives [B, k], mask [B, k])``: ``pool_items [M]`` ids of the mined
    pool rows for ``queries [B, d]`` against ``pool [M, d]`` (``positives [B, d]`` the
    anchors' positives, ``fallback [B]`` the ids masked slots hold)."""
    result = mine(
        queries.to(pool.dtype),
        pool,
        k,
        strategy,
        positives=positives.to(pool.dtype),
        exclusions=exclusions,
        filters=filters,
        distance=ctx.distance,
        generator=generator,
    )
    mask = result.mask
    if ctx.max_difficulty is not None and result.difficulty is not None:
        mask = mask & (result.difficulty <= ctx.max_difficulty)
    negatives = torch.where(mask, pool_items[result.safe_indices()], fallback.unsqueeze(1))
    return result, negatives, mask
