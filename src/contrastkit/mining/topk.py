r"""Exact top-k of queries against a pool: the checked entry point of the tiled scan.

:func:`exact_topk` checks its inputs and ranks by the tiled scan of
:mod:`~contrastkit.mining.topk_scan` (one GEMM a tile for inner-product distances, a
running merge, never the ``B x M`` score matrix), or, for a Poincaré distance over a
tensor pool, by the order-equivalent inner product of
:mod:`~contrastkit.mining.poincare_topk`. The scan's heads, results and
:func:`scan_topk` are re-exported here, where callers have always imported them.

Example:
    >>> q = torch.randn(5, 8); x = torch.randn(100, 8)
    >>> s, i = exact_topk(q, x, 3, distance="dot")
    >>> torch.equal(i, (q @ x.T).topk(3).indices)
    True
"""

from __future__ import annotations

from torch import Tensor

from contrastkit._validation import check_finite, check_float_tensor, check_positive_int
from contrastkit.functional.distances import Distance, PoincareDistance, get_distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.poincare_topk import poincare_topk
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET, PoolLike, check_pool
from contrastkit.mining.topk_scan import (
    Head,
    TopK,
    empty_topk,
    ranked_topk,
    scan_topk,
    tile_topk,
)

__all__ = ["Head", "TopK", "empty_topk", "exact_topk", "ranked_topk", "scan_topk", "tile_topk"]


def exact_topk(
    queries: Tensor,
    pool: PoolLike,
    k: int,
    *,
    distance: str | Distance = "cosine",
    exclusions: Exclusions | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """Exact top-``k`` pool items per query, closest first.

    Args:
        queries: ``[B, d]``; pool: ``[M, d]`` tensor or numpy array / memmap.
        k: results per query, ``> 0``; rows with fewer candidates hold
            ``-inf`` scores and ``-1`` indices in the remaining slots.
        distance, exclusions, memory_budget: see :func:`scan_topk`.

    Returns:
        ``(scores [B, k], indices [B, k])``, scores larger = closer. A Poincaré distance
        over a tensor pool scans an order-equivalent inner product instead
        (:mod:`~contrastkit.mining.poincare_topk`): the same neighbours, one GEMM a tile.
    """
    check_float_tensor("queries", queries, ndim=2)
    check_positive_int("k", k)
    check_pool(pool, queries.shape[1])
    dist = get_distance(distance)
    if isinstance(dist, PoincareDistance) and isinstance(pool, Tensor):
        check_finite("queries", queries)
        # one GEMM scan of an order-equivalent inner product, then the k winners scored
        return poincare_topk(
            queries, pool, k, dist, exclusions=exclusions, memory_budget=memory_budget
        )
    return ranked_topk(
        queries, pool, k, distance=distance, exclusions=exclusions, memory_budget=memory_budget
    )
