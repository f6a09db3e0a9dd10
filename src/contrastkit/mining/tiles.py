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


def check_bounds(bounds: Sequence[Bound], num_queries: int) -> None:
    for b in bounds:
        if b.threshold.shape != (num_queries,):
            raise ValueError(
                f"bound {b.name!r} must have shape ({num_queries},), got {tuple(b.threshold.shape)}"
            )


def apply_bounds(
    s: Tensor, bounds: Sequence[Bound], removed: dict[str, Tensor], b0: int, b1: int
) -> None:
    """Set entries of ``s`` violating any bound to ``-inf`` in place; add each bound's
    count of removed (previously finite) entries to ``removed[name][b0:b1]``."""
    # Every bound is judged on the same tile, so counts do not depend on the
    # order in which bounds are listed.
    alive = s > float("-inf")
    bads = []
    for bd in bounds:
        t = bd.threshold[b0:b1].unsqueeze(1)
        if bd.upper:
            bads.append(s >= t if bd.strict else s > t)
        else:
            bads.append(s <= t if bd.strict else s < t)
    for bd, bad in zip(bounds, bads, strict=True):
        if bd.name in removed:
            removed[bd.name][b0:b1] += (bad & alive).sum(1)
        s.masked_fill_(bad, float("-inf"))


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
    bq, bm = tile_sizes(n_q, m, d, dt, memory_budget, extra_per_score)
    q_all = dist.prepare(queries) if dist.is_inner_product else queries
    counts = removed if removed is not None else {}
    # One reused score buffer: a fresh multi-MB allocation per tile costs page faults.
    buf = torch.empty(bq * bm, dtype=dt, device=dev) if dist.is_inner_product else None
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
                apply_bounds(s, bounds, counts, b0, b1)
            yield ScoreTile(s, b0, b1, m0, m1)
