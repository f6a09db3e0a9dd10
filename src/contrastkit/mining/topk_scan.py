r"""The tiled top-k scan of queries against a pool, with a running merge.

The score matrix :math:`S_{ij} = s(q_i, x_j)` (larger = closer, any contrastkit
distance) is never materialised: :func:`~contrastkit.mining.tiles.score_tiles`
reads the pool once in tiles, scores each against a block of queries (one GEMM
for inner-product distances) and applies exclusions and bounds as
:math:`-\infty`. The tile is merged into the running top-k: while a row holds
fewer than ``k`` candidates by ``topk`` of the whole row; afterwards only the
entries above the row's running ``k``-th best :math:`\tau_i` are merged, found
through the maxima of 32-column blocks (an entry :math:`> \tau_i` lies in a
block whose maximum is :math:`> \tau_i`) — a threshold test in the spirit of
FAISS's heaps, which costs one vectorised ``amax`` per tile instead of a
selection over every row.

A *head* is one ranking computed in the same pass. With ``alpha=None`` it ranks
by score (hardest); with a float it ranks by the Gumbel-perturbed key

.. math::
    \kappa_{ij} = \alpha S_{ij} + G_{ij},\quad G_{ij} \sim \mathrm{Gumbel}(0, 1),

whose top-k is a sample *without replacement* with probability
:math:`\propto \exp(\alpha S_{ij})` (Gumbel-top-k; Kool et al., ICML 2019);
``alpha=0`` samples uniformly. A *bound* keeps ``s < t_i`` (upper) or
``s > t_i`` (lower) per row and counts the candidates it removed.

:func:`ranked_topk` is the plain top-k of one hardest head;
:func:`~contrastkit.mining.topk.exact_topk` checks its inputs and picks the scan for a
distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_positive_int
from contrastkit.functional.distances import Distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET, PoolLike
from contrastkit.mining.tiles import Bound, apply_bounds, bounded_copy, check_bounds, score_tiles


@dataclass(frozen=True)
class Head:
    """One ranking of the scan: ``k`` results, by score (``alpha=None``) or by
    Gumbel keys ``alpha * s + G`` (sampling without replacement). ``bounds`` apply
    to this head only (e.g. the semi-hard window), after the shared bounds."""

    k: int
    alpha: float | None = None
    bounds: tuple[Bound, ...] = ()

    def __post_init__(self) -> None:
        check_positive_int("k", self.k)
        if self.alpha is not None:
            if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
                raise TypeError(f"alpha must be a number or None, got {self.alpha!r}")
            if not math.isfinite(self.alpha):
                raise ValueError(f"alpha must be finite, got {self.alpha!r}")
        if not isinstance(self.bounds, tuple) or not all(isinstance(b, Bound) for b in self.bounds):
            raise TypeError(f"bounds must be a tuple of Bound, got {self.bounds!r}")


@dataclass
class TopK:
    """``[B, k]`` keys (``-inf`` = empty slot), scores and pool indices (``-1`` = empty)."""

    keys: Tensor
    scores: Tensor
    indices: Tensor


def empty_topk(n: int, k: int, dtype: torch.dtype, device: torch.device) -> TopK:
    """``[n, k]`` with every slot empty (keys ``-inf``, indices ``-1``)."""
    return TopK(
        torch.full((n, k), float("-inf"), dtype=dtype, device=device),
        torch.zeros((n, k), dtype=dtype, device=device),
        torch.full((n, k), -1, dtype=torch.int64, device=device),
    )


def _gumbel(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    return -torch.log(-torch.log(u.clamp_min_(tiny)))


@torch.no_grad()
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
        bounds: per-row score bounds shared by all heads; each one's removal count
            is ``[B]`` int64 (head-specific bounds are not counted).
        generator: randomness of sampled heads (same generator state and budget,
            same result).
        memory_budget: bytes for the tiles (default 512 MB).

    Returns:
        ``(list of TopK per head, {bound name: removed [B]})``.
    """
    check_float_tensor("queries", queries, ndim=2)
    for h in heads:
        check_positive_int("k", h.k)
    n_q, dev, dt = queries.shape[0], queries.device, queries.dtype
    head_bounds = [b for h in heads for b in h.bounds]
    check_bounds(head_bounds, n_q)
    state = [empty_topk(n_q, h.k, dt, dev) for h in heads]
    removed = {b.name: torch.zeros(n_q, dtype=torch.int64, device=dev) for b in bounds}
    sampled = any(h.alpha is not None for h in heads)
    tiles = score_tiles(
        queries,
        pool,
        distance=distance,
        exclusions=exclusions,
        bounds=bounds,
        removed=removed,
        memory_budget=memory_budget,
        extra_per_score=8 if sampled else 0,
    )
    hbuf: dict[int, Tensor] = {}  # reused per-head tiles for head-specific bounds
    for t in tiles:
        for j, (h, st) in enumerate(zip(heads, state, strict=True)):
            s_h = t.scores
            if h.bounds and j == len(heads) - 1:  # the last head may consume the tile
                apply_bounds(s_h, h.bounds, {}, t.b0, t.b1, t.mask)
            elif h.bounds:
                if j not in hbuf or hbuf[j].numel() < s_h.numel():
                    hbuf[j] = torch.empty(s_h.numel(), dtype=dt, device=dev)
                out = hbuf[j][: s_h.numel()].view_as(s_h)
                s_h = bounded_copy(t.scores, h.bounds, t.b0, t.b1, out, t.mask)
            _merge_tile(h, st, s_h, t.b0, t.b1, t.m0, generator)
    return state, removed


_BLOCK = 32
_NEG_INF = float("-inf")


def tile_topk(s: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``topk(k, dim=1)`` of a tile: ``(values [r, k'], columns [r, k'])``, ``k' = min(k, w)``."""
    return s.topk(min(k, s.shape[1]), dim=1)


def _block_max(keys: Tensor) -> Tensor:
    """Maximum of every block of 32 columns (the ragged tail is one more block)."""
    r, w = keys.shape
    nb = w // _BLOCK
    bmax = keys[:, : nb * _BLOCK].reshape(r, nb, _BLOCK).amax(2)
    if nb * _BLOCK < w:
        bmax = torch.cat([bmax, keys[:, nb * _BLOCK :].amax(1, keepdim=True)], 1)
    return bmax


def _candidates(keys: Tensor, tau: Tensor) -> tuple[Tensor, Tensor, Tensor] | None:
    """Entries above their row's threshold ``tau [r]``, compacted per row:
    ``(rows [R], values [R, C], cols [R, C])`` with ``-inf`` / ``-1`` padding.

    Only blocks of 32 columns whose maximum beats ``tau`` are read (an entry
    ``> tau`` lies in such a block); once the running top-k is full these are a
    small fraction of the tile, so the merge handles a few values per row instead
    of a selection over the whole tile.
    """
    w = keys.shape[1]
    hit_rows, blk = torch.nonzero(_block_max(keys) > tau.unsqueeze(1), as_tuple=True)
    if hit_rows.numel() == 0:
        return None
    cols = blk.unsqueeze(1) * _BLOCK + torch.arange(_BLOCK, device=keys.device)
    inside = cols < w
    vals = torch.take(keys, hit_rows.unsqueeze(1) * w + cols.clamp_max(w - 1))
    pr, pj = torch.nonzero((vals > tau[hit_rows].unsqueeze(1)) & inside, as_tuple=True)
    row = hit_rows[pr]  # row-major order: sorted by row
    rows, inv, counts = torch.unique_consecutive(row, return_inverse=True, return_counts=True)
    rank = torch.arange(row.numel(), device=keys.device) - (torch.cumsum(counts, 0) - counts)[inv]
    width = int(counts.max())
    out_v = torch.full((rows.numel(), width), _NEG_INF, dtype=keys.dtype, device=keys.device)
    out_c = torch.full((rows.numel(), width), -1, dtype=torch.int64, device=keys.device)
    out_v[inv, rank] = vals[pr, pj]
    out_c[inv, rank] = cols[pr, pj]
    return rows, out_v, out_c


def _merge_tile(
    head: Head, st: TopK, s: Tensor, b0: int, b1: int, m0: int, gen: torch.Generator | None
) -> None:
    if head.alpha is None:
        keys = s
    else:
        noisy = head.alpha * s + _gumbel(tuple(s.shape), s, gen)
        keys = torch.where(s > _NEG_INF, noisy, s)
    tau = st.keys[b0:b1, -1]
    open_rows = tau == _NEG_INF  # running top-k not full yet: select on the whole row
    n_open = int(open_rows.sum())
    all_rows = torch.arange(b1 - b0, device=s.device)
    if n_open:
        rows = all_rows if n_open == b1 - b0 else torch.nonzero(open_rows).squeeze(1)
        vals, cols = tile_topk(keys if n_open == b1 - b0 else keys[rows], head.k)
        _merge_rows(head, st, s, rows, vals, cols, b0, m0)
    if n_open < b1 - b0:  # threshold pass on the others, without copying the tile
        full = all_rows if n_open == 0 else torch.nonzero(~open_rows).squeeze(1)
        found = _candidates(keys if n_open == 0 else keys[full], tau[full])
        if found is not None:
            sub, vals, cols = found
            _merge_rows(head, st, s, full[sub], vals, cols, b0, m0)


def _take(t: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``t[rows[:, None], cols]`` with ``-inf`` where ``cols < 0`` (one flat gather)."""
    flat = rows.unsqueeze(1) * t.shape[1] + cols.clamp_min(0)
    return torch.take(t, flat).masked_fill(cols < 0, _NEG_INF)


def _merge_rows(
    head: Head,
    st: TopK,
    s: Tensor,
    rows: Tensor,
    vals: Tensor,
    cols: Tensor,
    b0: int,
    m0: int,
) -> None:
    """Merge candidate ``(vals, cols)`` of tile rows ``rows`` into the running top-k."""
    scores = vals if head.alpha is None else _take(s, rows, cols).masked_fill(cols < 0, 0.0)
    g = rows + b0
    all_keys = torch.cat([st.keys[g], vals], dim=1)
    all_scores = torch.cat([st.scores[g], scores], dim=1)
    all_idx = torch.cat([st.indices[g], torch.where(cols >= 0, cols + m0, -1)], dim=1)
    top_keys, sel = all_keys.topk(head.k, dim=1)
    st.keys[g] = top_keys
    st.scores[g] = all_scores.gather(1, sel)
    st.indices[g] = all_idx.gather(1, sel)


def ranked_topk(
    queries: Tensor,
    pool: PoolLike,
    k: int,
    *,
    distance: str | Distance = "cosine",
    exclusions: Exclusions | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """The ``k`` closest pool rows per query by one hardest :class:`Head` of
    :func:`scan_topk` (inputs unchecked): ``(scores [B, k], indices [B, k])``, closest
    first, ``-inf`` and ``-1`` in slots a row cannot fill."""
    (top,), _ = scan_topk(
        queries,
        pool,
        [Head(k)],
        distance=distance,
        exclusions=exclusions,
        memory_budget=memory_budget,
    )
    empty = top.keys == float("-inf")
    return top.scores.masked_fill(empty, float("-inf")), top.indices.masked_fill(empty, -1)
