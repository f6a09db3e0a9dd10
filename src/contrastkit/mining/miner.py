r"""Run a strategy: exclusions and filters inside one tiled scan, then the result.

:func:`mine` is the functional core: anchors ``[B, d]`` against a pool ``[M, d]``
(tensor, memmap or a :class:`~contrastkit.mining.faiss_backend.FaissIndex`),
returning a :class:`~contrastkit.mining.result.MiningResult` with pool indices,
never vectors. Scores :math:`s` are larger-is-closer under any contrastkit
distance; the positive score :math:`s_p = s(a, p)` comes from ``positives`` or
``positive_scores`` and drives semi-hard mining, margins and the difficulty
:math:`s_n - s_p + 1`. Everything runs under ``torch.no_grad()``.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> pool = torch.randn(100, 8, generator=g); a = pool[:4] + 0.1
    >>> ex = build_exclusions(4, 100, query_ids=torch.arange(4))
    >>> r = mine(a, pool, 5, "semi_hard", positives=pool[:4], exclusions=ex)
    >>> r.indices.shape, bool((r.difficulty[r.mask] < 1).all())
    (torch.Size([4, 5]), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from contrastkit._validation import check_finite, check_float_tensor, check_positive_int
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.graph.rng import as_generator
from contrastkit.mining.exclusions import Exclusions, build_exclusions
from contrastkit.mining.faiss_backend import FaissIndex, faiss_scan
from contrastkit.mining.filters import FalseNegativeFilters, drop_members, skip_top
from contrastkit.mining.groups import group_topk
from contrastkit.mining.kmeans import kmeans
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET, PoolLike, check_pool
from contrastkit.mining.result import MiningReport, MiningResult, finalize
from contrastkit.mining.strategies import (
    CategorySpread,
    ClusterSpread,
    Hardest,
    Mixed,
    SemiHard,
    Strategy,
    Weighted,
    as_strategy,
)
from contrastkit.mining.tiles import Bound
from contrastkit.mining.topk import Head, TopK, scan_topk

__all__ = ["as_generator", "build_exclusions", "mine"]
_NEG_INF = float("-inf")
Scan = Callable[[list[Head]], list[TopK]]


def _positive_scores(
    anchors: Tensor, positives: Tensor | None, positive_scores: Tensor | None, dist: Distance
) -> Tensor | None:
    if positives is not None:
        check_float_tensor("positives", positives, ndim=2)
        if positives.shape != anchors.shape:
            raise ValueError(
                f"positives must have the shape of anchors {tuple(anchors.shape)}, "
                f"got {tuple(positives.shape)}"
            )
        check_finite("positives", positives)
        return dist.score_paired(
            anchors, positives.to(anchors.dtype), names=("anchors", "positives")
        )
    if positive_scores is not None:
        check_float_tensor("positive_scores", positive_scores, ndim=1)
        if positive_scores.shape[0] != anchors.shape[0]:
            raise ValueError(
                f"positive_scores must have {anchors.shape[0]} rows, got {positive_scores.shape[0]}"
            )
        check_finite("positive_scores", positive_scores)
        return positive_scores.to(anchors.dtype)
    return None


def _cat(parts: Sequence[TopK]) -> TopK:
    return TopK(
        *(torch.cat([getattr(p, f) for p in parts], 1) for f in ("keys", "scores", "indices"))
    )


def _semi_hard(
    strat: SemiHard, scan: Scan, s_p: Tensor | None, k: int, r: int, report: MiningReport
) -> TopK:
    if s_p is None:
        raise ValueError("semi_hard needs positives or positive_scores")
    window = [Bound("semi_hard", s_p)]
    if strat.band is not None:
        window.append(Bound("semi_hard_band", s_p - strat.band, upper=False))
    fallback = strat.fallback == "hardest"
    # The bounded head goes last: it may then mask the shared tile in place.
    tops = scan(([Head(k + r)] if fallback else []) + [Head(k + r, bounds=tuple(window))])
    top, skipped = skip_top(tops[-1], r, k)
    short = (top.keys > _NEG_INF).sum(1) < k
    report.fallback = "hardest" if fallback else None
    report.fallback_rows = short if fallback else torch.zeros_like(short)
    if fallback:
        hard, skipped_h = skip_top(tops[0], r, k)
        pick = short.unsqueeze(1)
        top = TopK(
            *(
                torch.where(pick, getattr(hard, f), getattr(top, f))
                for f in ("keys", "scores", "indices")
            )
        )
        skipped = torch.where(short, skipped_h, skipped)
    report.removed["skip_top"] = int(skipped.sum())
    return top


def _spread(
    strat: ClusterSpread | CategorySpread,
    anchors: Tensor,
    pool: PoolLike,
    k: int,
    r: int,
    exclusions: Exclusions | None,
    bounds: list[Bound],
    dist: Distance,
    gen: torch.Generator,
    memory_budget: int,
    report: MiningReport,
) -> TopK:
    excl = exclusions
    if r:  # rank window: ban each row's r best survivors, then spread over the rest
        (best,), _ = scan_topk(
            anchors,
            pool,
            [Head(r)],
            distance=dist,
            exclusions=excl,
            bounds=bounds,
            memory_budget=memory_budget,
        )
        report.removed["skip_top"] = int((best.keys > _NEG_INF).sum())
        rows = torch.arange(anchors.shape[0], device=anchors.device).repeat_interleave(r)
        excl = (excl or Exclusions()).with_pairs(rows, best.indices.reshape(-1))
    if isinstance(strat, ClusterSpread):
        if strat.clusters is not None:
            groups = strat.clusters
        else:
            groups, _ = kmeans(
                pool,
                strat.num_clusters,
                distance=dist,
                num_iters=strat.num_iters,
                generator=torch.Generator().manual_seed(strat.seed),
                memory_budget=memory_budget,
            )
    else:
        if excl is None or excl.pool_labels is None:
            raise ValueError("category needs anchor_labels and pool_labels (the categories)")
        groups = torch.unique(excl.pool_labels, return_inverse=True)[1]
    removed = {b.name: torch.zeros(anchors.shape[0], dtype=torch.int64) for b in bounds}
    top = group_topk(
        anchors,
        pool,
        groups,
        k,
        per_group=strat.per_group,
        within=strat.within,
        distance=dist,
        exclusions=excl,
        bounds=tuple(bounds),
        removed=removed,
        generator=gen,
        memory_budget=memory_budget,
    )
    report.removed.update({n: int(v.sum()) for n, v in removed.items()})
    return top


@torch.no_grad()
def mine(
    anchors: Tensor,
    pool: PoolLike | FaissIndex,
    k: int,
    strategy: str | Strategy = "hardest",
    *,
    positives: Tensor | None = None,
    positive_scores: Tensor | None = None,
    exclusions: Exclusions | None = None,
    filters: FalseNegativeFilters | None = None,
    distance: str | Distance = "cosine",
    generator: torch.Generator | int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> MiningResult:
    """Mine ``k`` negatives per anchor.

    Args:
        anchors: ``[B, d]`` float, finite.
        pool: ``[M, d]`` tensor / numpy array / memmap, or a ``FaissIndex``
            (hardest and semi-hard only; the index's distance is used).
        k: negatives per anchor, ``> 0``.
        strategy: a name (``hardest``, ``semi_hard``, ``weighted``, ``mixed``,
            ``random``, ``cluster``, ``category``) or a strategy object.
        positives: ``[B, d]`` positive vectors, or ``positive_scores`` ``[B]``.
        exclusions: from :func:`~contrastkit.mining.exclusions.build_exclusions`.
        filters: :class:`~contrastkit.mining.filters.FalseNegativeFilters`.
        distance: default ``"cosine"``.
        generator: a ``torch.Generator`` or int seed (``None`` = seed 0).
        memory_budget: bytes for scoring tiles (default 512 MB).

    Returns:
        :class:`~contrastkit.mining.result.MiningResult` ``[B, k]``.
    """
    check_float_tensor("anchors", anchors, ndim=2)
    check_positive_int("k", k)
    strat = as_strategy(strategy)
    if isinstance(pool, FaissIndex):
        dist = pool.distance
        if anchors.shape[1] != pool.dim:
            raise ValueError(
                f"pool has embedding dimension {pool.dim} but anchors has {anchors.shape[1]}"
            )
        if not isinstance(strat, (Hardest, SemiHard)):
            raise ValueError(
                f"a FaissIndex pool supports hardest and semi_hard, got {strat.name!r}"
            )
    else:
        dist = get_distance(distance)
        check_pool(pool, anchors.shape[1])
    check_finite("anchors", anchors)
    s_p = _positive_scores(anchors, positives, positive_scores, dist)
    filt = filters or FalseNegativeFilters()
    bounds = filt.bounds(s_p, anchors.shape[0])
    r = filt.skip_top
    gen = as_generator(generator)
    report = MiningReport(strategy=strat.name)

    def scan(heads: list[Head]) -> list[TopK]:
        if isinstance(pool, FaissIndex):
            tops, removed = faiss_scan(anchors, pool, heads, exclusions=exclusions, bounds=bounds)
        else:
            tops, removed = scan_topk(
                anchors,
                pool,
                heads,
                distance=dist,
                exclusions=exclusions,
                bounds=bounds,
                generator=gen,
                memory_budget=memory_budget,
            )
        report.removed.update({b.name: int(removed[b.name].sum()) for b in bounds})
        return tops

    if isinstance(strat, Hardest):
        top, skipped = skip_top(scan([Head(k + r)])[0], r, k)
        report.removed["skip_top"] = int(skipped.sum())
    elif isinstance(strat, SemiHard):
        top = _semi_hard(strat, scan, s_p, k, r, report)
    elif isinstance(strat, (ClusterSpread, CategorySpread)):
        exact_pool = pool
        if isinstance(exact_pool, FaissIndex):  # refused above; narrows the type
            raise ValueError("spread strategies need an exact pool")
        top = _spread(
            strat, anchors, exact_pool, k, r, exclusions, bounds, dist, gen, memory_budget, report
        )
    else:
        # weighted / random / mixed: one pass with a hard head (size h + r) and a
        # Gumbel head (size k + r), the latter made disjoint from the former.
        h = strat.num_hard(k) if isinstance(strat, Mixed) else 0
        alpha = strat.alpha if isinstance(strat, Weighted) else 0.0
        heads = [Head(k - h + h + r, alpha=alpha)] + ([Head(h + r)] if h + r else [])
        tops = scan(heads)
        parts = []
        if h + r:
            hard, skipped = skip_top(tops[1], r, h)
            report.removed["skip_top"] = int(skipped.sum())
            parts = [hard] if h else []
            sampled = drop_members(tops[0], tops[1].indices, k - h)
        else:
            sampled = tops[0]
        top = _cat([*parts, sampled]) if parts else sampled
    return finalize(top.keys, top.scores, top.indices, s_p, report)
