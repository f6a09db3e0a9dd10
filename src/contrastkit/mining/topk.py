r"""Exact top-k of queries against a pool, in tiles, with a running merge.

The score matrix :math:`S_{ij} = s(q_i, x_j)` (larger = closer, any contrastkit
distance) is never materialised: the pool is read once in tiles of ``bm`` rows;
each tile is scored against ``bq`` queries at a time (one GEMM for inner-product
distances), exclusions and per-row bounds set entries to :math:`-\infty`, and
``topk`` of the tile is merged into the running top-k of those queries.

A *head* is one ranking computed in the same pass. With ``alpha=None`` it ranks
by score (hardest); with a float it ranks by the Gumbel-perturbed key

.. math::
    \kappa_{ij} = \alpha S_{ij} + G_{ij},\quad G_{ij} \sim \mathrm{Gumbel}(0, 1),

whose top-k is a sample *without replacement* with probability
:math:`\propto \exp(\alpha S_{ij})` (Gumbel-top-k; Kool et al., ICML 2019);
``alpha=0`` samples uniformly. A *bound* keeps ``s < t_i`` (upper) or
``s > t_i`` (lower) per row and counts the candidates it removed.

Example:
    >>> q = torch.randn(5, 8); x = torch.randn(100, 8)
    >>> s, i = exact_topk(q, x, 3, distance="dot")
    >>> torch.equal(i, (q @ x.T).topk(3).indices)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_positive_int,
)
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.pool import (
    DEFAULT_MEMORY_BUDGET,
    PoolLike,
    check_pool,
    pool_tile,
    tile_sizes,
)


@dataclass(frozen=True)
class Head:
    """One ranking of the scan: ``k`` results, by score (``alpha=None``) or by
    Gumbel keys ``alpha * s + G`` (sampling without replacement)."""

    k: int
    alpha: float | None = None


@dataclass(frozen=True)
class Bound:
    """Per-row score bound ``[B]``: keep ``s < t`` (``upper``, ``s <= t`` when not
    ``strict``) or ``s > t`` (lower). ``name`` keys the removal count."""

    name: str
    threshold: Tensor
    upper: bool = True
    strict: bool = True


@dataclass
class TopK:
    """``[B, k]`` keys (``-inf`` = empty slot), scores and pool indices (``-1`` = empty)."""

    keys: Tensor
    scores: Tensor
    indices: Tensor


def _gumbel(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    return -torch.log(-torch.log(u.clamp_min_(tiny)))


def _violations(s: Tensor, bound: Bound, b0: int, b1: int) -> Tensor:
    t = bound.threshold[b0:b1].unsqueeze(1)
    if bound.upper:
        return s >= t if bound.strict else s > t
    return s <= t if bound.strict else s < t


def scan_topk(
    queries: Tensor,
    pool: PoolLike,
    heads: Sequence[Head],
    *,
    distance: str | Distance = "cosine",
    exclusions: Exclusions | None = None,
    bounds: Sequence[Bound] = (),
    generator: torch.Generator | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[list[TopK], dict[str, Tensor]]:
    """One tiled pass over ``pool`` computing every head.

    Args:
        queries: ``[B, d]`` float.
        pool: ``[M, d]`` tensor or numpy array / memmap.
        heads: rankings to compute (see :class:`Head`).
        distance: name or :class:`Distance` (default ``"cosine"``).
        exclusions: from :func:`~contrastkit.mining.exclusions.build_exclusions`.
        bounds: per-row score bounds; each removal count is ``[B]`` int64.
        generator: randomness of sampled heads (same generator state and budget,
            same result).
        memory_budget: bytes for the tiles (default 512 MB).

    Returns:
        ``(list of TopK per head, {bound name: removed [B]})``.
    """
    check_float_tensor("queries", queries, ndim=2)
    m, d = check_pool(pool, queries.shape[1])
    check_finite("queries", queries)
    for h in heads:
        check_positive_int("k", h.k)
    for b in bounds:
        if b.threshold.shape != (queries.shape[0],):
            raise ValueError(
                f"bound {b.name!r} must have shape ({queries.shape[0]},), "
                f"got {tuple(b.threshold.shape)}"
            )
    dist = get_distance(distance)
    n_q, dev, dt = queries.shape[0], queries.device, queries.dtype
    sampled = any(h.alpha is not None for h in heads)
    bq, bm = tile_sizes(n_q, m, d, dt, memory_budget, extra_per_score=8 if sampled else 0)
    q_all = dist.prepare(queries) if dist.is_inner_product else queries
    state = [
        TopK(
            torch.full((n_q, h.k), float("-inf"), dtype=dt, device=dev),
            torch.zeros((n_q, h.k), dtype=dt, device=dev),
            torch.full((n_q, h.k), -1, dtype=torch.int64, device=dev),
        )
        for h in heads
    ]
    removed = {b.name: torch.zeros(n_q, dtype=torch.int64, device=dev) for b in bounds}
    # One reused score buffer: a fresh multi-MB allocation per tile costs page faults.
    buf = torch.empty(bq * bm, dtype=dt, device=dev) if dist.is_inner_product else None
    with torch.no_grad():
        for m0 in range(0, m, bm):
            m1 = min(m, m0 + bm)
            tile = pool_tile(pool, m0, m1, dt, dev)
            if dist.is_inner_product:
                tile = dist.prepare(tile)
            for b0 in range(0, n_q, bq):
                b1 = min(n_q, b0 + bq)
                if buf is not None:
                    s = buf[: (b1 - b0) * (m1 - m0)].view(b1 - b0, m1 - m0)
                    torch.mm(q_all[b0:b1], tile.T, out=s)
                else:
                    s = dist.score_pairwise(q_all[b0:b1], tile)
                if exclusions is not None:
                    exclusions.apply(s, b0, b1, m0, m1)
                if bounds:
                    # Every bound is judged on the same tile, so counts do not
                    # depend on the order in which bounds are listed.
                    alive = s > float("-inf")
                    bads = [_violations(s, bd, b0, b1) for bd in bounds]
                    for bd, bad in zip(bounds, bads, strict=True):
                        removed[bd.name][b0:b1] += (bad & alive).sum(1)
                        s.masked_fill_(bad, float("-inf"))
                for h, st in zip(heads, state, strict=True):
                    _merge_tile(h, st, s, b0, b1, m0, generator)
    return state, removed


def _merge_tile(
    head: Head, st: TopK, s: Tensor, b0: int, b1: int, m0: int, gen: torch.Generator | None
) -> None:
    kk = min(head.k, s.shape[1])
    if head.alpha is None:
        keys, pos = s.topk(kk, dim=1)
        scores = keys
    else:
        finite = s > float("-inf")
        noisy = torch.where(finite, head.alpha * s + _gumbel(tuple(s.shape), s, gen), s)
        keys, pos = noisy.topk(kk, dim=1)
        scores = s.gather(1, pos)
    all_keys = torch.cat([st.keys[b0:b1], keys], dim=1)
    all_scores = torch.cat([st.scores[b0:b1], scores], dim=1)
    all_idx = torch.cat([st.indices[b0:b1], pos + m0], dim=1)
    top_keys, sel = all_keys.topk(head.k, dim=1)
    st.keys[b0:b1] = top_keys
    st.scores[b0:b1] = all_scores.gather(1, sel)
    st.indices[b0:b1] = all_idx.gather(1, sel)


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
        ``(scores [B, k], indices [B, k])``, scores larger = closer.
    """
    check_positive_int("k", k)
    (top,), _ = scan_topk(
        queries,
        pool,
        [Head(k)],
        distance=distance,
        exclusions=exclusions,
        memory_budget=memory_budget,
    )
    return top.scores.masked_fill(top.keys == float("-inf"), float("-inf")), top.indices
