r"""The tiled scoring loop shared by every pool scan.

:func:`score_tiles` walks the score matrix :math:`S_{ij} = s(q_i, x_j)` (larger =
closer) tile by tile — the pool outer, so a memory-mapped pool is read exactly
once — and yields each tile with exclusions and per-row bounds already applied
as :math:`-\infty`. Consumers (top-k heads, per-group top-k) reduce each tile
before asking for the next: the score buffer is reused.

Example:
    >>> q, x = torch.randn(3, 4), torch.randn(10, 4)
    >>> tiles = list(t.scores.clone() for t in score_tiles(q, x, distance="dot"))
    >>> torch.allclose(torch.cat(tiles, 1), q @ x.T)
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import check_finite, check_float_tensor
from contrastkit.functional.distances import Distance, _sq_clamp, get_distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.pool import (
    DEFAULT_MEMORY_BUDGET,
    PoolLike,
    check_pool,
    pool_tile,
    tile_sizes,
)


@dataclass(frozen=True)
class Bound:
    """Per-row score bound ``[B]``: keep ``s < t`` (``upper``, ``s <= t`` when not
    ``strict``) or ``s > t`` (lower). ``name`` keys the removal count."""

    name: str
    threshold: Tensor
    upper: bool = True
    strict: bool = True


@dataclass
class ScoreTile:
    """Scores ``[b1 - b0, m1 - m0]`` of queries ``b0:b1`` against pool rows ``m0:m1``."""

    scores: Tensor
    b0: int
    b1: int
    m0: int
    m1: int
    #: bool scratch of the same shape, free for the consumer (overwritten per tile)
    mask: Tensor | None = None


def check_bounds(bounds: Sequence[Bound], num_queries: int) -> None:
    for b in bounds:
        if b.threshold.shape != (num_queries,):
            raise ValueError(
                f"bound {b.name!r} must have shape ({num_queries},), got {tuple(b.threshold.shape)}"
            )


def _violations(s: Tensor, bd: Bound, b0: int, b1: int, out: Tensor | None = None) -> Tensor:
    t = bd.threshold[b0:b1].unsqueeze(1)
    if bd.upper:
        op = torch.ge if bd.strict else torch.gt
    else:
        op = torch.le if bd.strict else torch.lt
    return op(s, t) if out is None else op(s, t, out=out)


def apply_bounds(
    s: Tensor,
    bounds: Sequence[Bound],
    removed: dict[str, Tensor],
    b0: int,
    b1: int,
    mask: Tensor | None = None,
) -> None:
    """Set entries of ``s`` violating any bound to ``-inf`` in place; add each bound's
    count of removed (previously finite) entries to ``removed[name][b0:b1]`` for the
    bounds named in ``removed`` (others are applied without counting). ``mask``: an
    optional bool scratch of ``s``'s shape for the uncounted case."""
    if any(bd.name in removed for bd in bounds):
        # Every counted bound is judged on the same tile, so counts do not depend
        # on the order in which bounds are listed.
        alive = s > float("-inf")
        bads = [_violations(s, bd, b0, b1) for bd in bounds]
        for bd, bad in zip(bounds, bads, strict=True):
            if bd.name in removed:
                removed[bd.name][b0:b1] += (bad & alive).sum(1)
            s.masked_fill_(bad, float("-inf"))
        return
    if not bounds:
        return
    # One combined mask and a single fill: masked_fill_ costs several times a compare.
    bad = _violations(s, bounds[0], b0, b1, mask)
    for bd in bounds[1:]:
        torch.logical_or(bad, _violations(s, bd, b0, b1), out=bad)
    s.masked_fill_(bad, float("-inf"))


def bounded_copy(
    s: Tensor,
    bounds: Sequence[Bound],
    b0: int,
    b1: int,
    out: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """``s`` with entries violating any bound set to ``-inf``, in ``out`` (a new
    tensor when ``None``); ``mask`` is an optional bool scratch. No counts."""
    dst = s.clone() if out is None else out.copy_(s)
    apply_bounds(dst, bounds, {}, b0, b1, mask)
    return dst


def score_tiles(
    queries: Tensor,
    pool: PoolLike,
    *,
    distance: str | Distance = "cosine",
    exclusions: Exclusions | None = None,
    bounds: Sequence[Bound] = (),
    removed: dict[str, Tensor] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    extra_per_score: int = 0,
) -> Iterator[ScoreTile]:
    """Yield masked score tiles of ``queries [B, d]`` against ``pool [M, d]``.

    ``removed`` (``{name: [B] int64}``) receives the bound counts. ``extra_per_score``
    reserves bytes per score for the consumer's temporaries in the budget.
    A yielded tile is overwritten by the next one. Consumers run under
    ``torch.no_grad()`` (scores of a scan are never differentiated).
    """
    check_float_tensor("queries", queries, ndim=2)
    m, d = check_pool(pool, queries.shape[1])
    check_finite("queries", queries)
    check_bounds(bounds, queries.shape[0])
    dist = get_distance(distance)
    n_q, dev, dt = queries.shape[0], queries.device, queries.dtype
    # L2 distances are finished in place on the GEMM buffer.
    l2 = dist.name in ("sqeuclidean", "euclidean")
    bq, bm = tile_sizes(n_q, m, d, dt, memory_budget, extra_per_score)
    q_all = dist.prepare(queries) if dist.is_inner_product else queries
    q_sq = (q_all * q_all).sum(1, keepdim=True) if l2 else None
    counts = removed if removed is not None else {}
    # Reused score buffers: a fresh multi-MB allocation per tile costs page faults.
    gemm = dist.is_inner_product or l2
    buf = torch.empty(bq * bm, dtype=dt, device=dev) if gemm else None
    mbuf = torch.empty(bq * bm, dtype=torch.bool, device=dev)
    for m0 in range(0, m, bm):
        m1 = min(m, m0 + bm)
        tile = pool_tile(pool, m0, m1, dt, dev)
        if dist.is_inner_product:
            tile = dist.prepare(tile)
        t_sq = (tile * tile).sum(1).unsqueeze(0) if l2 else None
        for b0 in range(0, n_q, bq):
            b1 = min(n_q, b0 + bq)
            size = (b1 - b0) * (m1 - m0)
            if buf is not None:
                s = buf[:size].view(b1 - b0, m1 - m0)
                if not l2:
                    torch.mm(q_all[b0:b1], tile.T, out=s)
                if l2 and q_sq is not None and t_sq is not None:
                    # |q|^2 + |x|^2 - 2 q.x with the -2 q.x + |x|^2 part fused into the GEMM.
                    torch.addmm(t_sq, q_all[b0:b1], tile.T, beta=1.0, alpha=-2.0, out=s)
                    s = _finish_l2(s.add_(q_sq[b0:b1]), dist.name)
            else:
                s = dist.score_pairwise(q_all[b0:b1], tile, names=("queries", "pool"))
            mask = mbuf[:size].view(b1 - b0, m1 - m0)
            if exclusions is not None:
                exclusions.apply(s, b0, b1, m0, m1, mask)
            if bounds:
                apply_bounds(s, bounds, counts, b0, b1, mask)
            yield ScoreTile(s, b0, b1, m0, m1, mask)


def _finish_l2(sq: Tensor, name: str) -> Tensor:
    # Squared distances floored (at 0, or at the euclidean gradient floor, which
    # distances.L2Distance also uses) and turned into scores, in place.
    sq.clamp_min_(_sq_clamp(sq.dtype) if name == "euclidean" else 0.0)
    if name == "euclidean":
        sq.sqrt_()
    return sq.neg_()
