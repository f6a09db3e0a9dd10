r"""Negatives spread across groups (k-means clusters or categories).

For each query and each group :math:`g` of the pool, one tiled pass keeps the
best ``c`` candidates of that group by key :math:`\kappa` (the score for
``within="hardest"``; a Gumbel key for ``within="random"``, i.e. a uniform sample
without replacement). The ``K`` negatives are then taken rank by rank across
groups — every group's best first, ordered by key, then every group's second —

.. math::
    \text{order} = \operatorname{sort}\big((r, -\kappa)\big), \quad
    r = \text{rank inside its group},

so ``K`` negatives come from ``min(K, G)`` different groups whenever possible.
Per-group maxima use ``scatter_reduce`` on each tile: ``c`` rounds of two
vectorised passes, no loop over rows or groups. (GATE notebook: cluster-based
and category-based mining.)

Example:
    >>> q = torch.tensor([[1.0, 0.0]]); x = torch.tensor([[1., 0.], [.9, .1], [0., 1.]])
    >>> top = group_topk(q, x, torch.tensor([0, 0, 1]), 2, distance="dot")
    >>> top.indices.tolist()
    [[0, 2]]
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_length, check_positive_int, check_tensor
from contrastkit.functional.distances import Distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET, PoolLike, check_pool
from contrastkit.mining.tiles import Bound, score_tiles
from contrastkit.mining.topk import TopK

Within = Literal["hardest", "random"]
_NEG_INF = float("-inf")


def _tile_group_best(
    keys: Tensor, groups: Tensor, num_groups: int, rounds: int
) -> tuple[Tensor, Tensor]:
    """Best ``rounds`` keys per group of one tile: ``([bq, G, c], positions [bq, G, c])``."""
    bq, bm = keys.shape
    idx = groups.unsqueeze(0).expand(bq, bm)
    cols = torch.arange(bm, device=keys.device).unsqueeze(0).expand(bq, bm)
    best_k, best_p = [], []
    for _ in range(rounds):
        gmax = torch.full((bq, num_groups), _NEG_INF, dtype=keys.dtype, device=keys.device)
        gmax.scatter_reduce_(1, idx, keys, "amax")
        hit = (keys == gmax.gather(1, idx)) & (keys > _NEG_INF)
        pos = torch.full((bq, num_groups), bm, dtype=torch.int64, device=keys.device)
        pos.scatter_reduce_(1, idx, torch.where(hit, cols, bm), "amin")
        found = pos < bm
        best_k.append(gmax.masked_fill(~found, _NEG_INF))
        best_p.append(torch.where(found, pos, -1))
        # Remove the winners so the next round finds each group's runner-up.
        rows = torch.nonzero(found, as_tuple=True)[0]
        keys.index_put_((rows, pos[found]), torch.tensor(_NEG_INF, dtype=keys.dtype))
    return torch.stack(best_k, 2), torch.stack(best_p, 2)


@torch.no_grad()
def group_topk(
    queries: Tensor,
    pool: PoolLike,
    groups: Tensor,
    k: int,
    *,
    per_group: int | None = None,
    within: Within = "hardest",
    distance: str | Distance = "cosine",
    exclusions: Exclusions | None = None,
    bounds: tuple[Bound, ...] = (),
    removed: dict[str, Tensor] | None = None,
    generator: torch.Generator | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> TopK:
    """``k`` negatives per query spread over the pool's groups.

    Args:
        queries: ``[B, d]``; pool: ``[M, d]``.
        groups: ``[M]`` int64 group id in ``[0, G)`` of every pool row.
        k: negatives per query.
        per_group: candidates kept per group (default ``ceil(k / G)``).
        within: ``"hardest"`` (by score) or ``"random"`` (uniform, seeded).
        distance, exclusions, bounds, removed, memory_budget: as in
            :func:`~contrastkit.mining.topk.scan_topk`.

    Returns:
        :class:`~contrastkit.mining.topk.TopK` ``[B, k]`` (``-inf`` keys = empty).
    """
    check_positive_int("k", k)
    check_choice("within", within, ("hardest", "random"))
    m, _ = check_pool(pool)
    check_tensor("groups", groups, ndim=1)
    check_length("groups", groups, m)
    groups = groups.to(device=queries.device, dtype=torch.int64)
    g = int(groups.max()) + 1 if m else 1
    c = per_group if per_group is not None else math.ceil(k / g)
    check_positive_int("per_group", c)
    n_q, dt, dev = queries.shape[0], queries.dtype, queries.device
    keys_s = torch.full((n_q, g, c), _NEG_INF, dtype=dt, device=dev)
    score_s = torch.zeros_like(keys_s)
    idx_s = torch.full((n_q, g, c), -1, dtype=torch.int64, device=dev)
    tiles = score_tiles(
        queries,
        pool,
        distance=distance,
        exclusions=exclusions,
        bounds=bounds,
        removed=removed,
        memory_budget=memory_budget,
        extra_per_score=24,
    )
    for t in tiles:
        s = t.scores
        keys = s.clone()
        if within == "random":
            u = torch.rand(s.shape, generator=generator, dtype=dt, device=dev)
            gumbel = -torch.log(-torch.log(u.clamp_min_(torch.finfo(dt).tiny)))
            keys = torch.where(s > _NEG_INF, gumbel, s)
        bk, bp = _tile_group_best(keys, groups[t.m0 : t.m1], g, c)
        bs = s.gather(1, bp.clamp_min(0).reshape(bp.shape[0], -1)).reshape(bp.shape)
        sl = slice(t.b0, t.b1)
        all_k = torch.cat([keys_s[sl], bk], 2)
        all_s = torch.cat([score_s[sl], bs], 2)
        all_i = torch.cat([idx_s[sl], torch.where(bp >= 0, bp + t.m0, -1)], 2)
        top, sel = all_k.topk(c, dim=2)
        keys_s[sl], score_s[sl], idx_s[sl] = top, all_s.gather(2, sel), all_i.gather(2, sel)
    # Rank-major spread: sort by key (desc), then stably by rank inside the group.
    # explicit g * c, not -1: with no queries the width would be ambiguous
    rank = torch.arange(c, device=dev).expand(n_q, g, c).reshape(n_q, g * c)
    flat_k, flat_s, flat_i = (x.reshape(n_q, g * c) for x in (keys_s, score_s, idx_s))
    rank = torch.where(flat_k > _NEG_INF, rank, c)  # empty slots go last
    o1 = torch.sort(flat_k, dim=1, descending=True, stable=True).indices
    o2 = torch.sort(rank.gather(1, o1), dim=1, stable=True).indices
    order = o1.gather(1, o2)[:, :k]
    out = TopK(flat_k.gather(1, order), flat_s.gather(1, order), flat_i.gather(1, order))
    if out.keys.shape[1] < k:
        pad = k - out.keys.shape[1]
        out = TopK(
            torch.nn.functional.pad(out.keys, (0, pad), value=_NEG_INF),
            torch.nn.functional.pad(out.scores, (0, pad)),
            torch.nn.functional.pad(out.indices, (0, pad), value=-1),
        )
    return out
