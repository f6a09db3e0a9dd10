"""Shared plumbing of the evaluation metrics: chunk sizes under a memory budget,
distance values where smaller means closer, and padded CSR rows.

Private to :mod:`contrastkit.eval`; every public metric validates its own inputs
and then calls these helpers.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from contrastkit._validation import check_positive, check_positive_int
from contrastkit.functional.distances import (
    CosineSimilarity,
    Distance,
    DotProduct,
    L2Distance,
    PoincareDistance,
    SquaredL2Distance,
    project_to_ball,
)
from contrastkit.graph.csr import CSR

#: Default working-memory budget of one tile, in MiB.
DEFAULT_BUDGET_MB = 256.0


def chunk_rows(
    num_cols: int, bytes_per_entry: int, chunk_size: int | None, memory_budget_mb: float
) -> int:
    """Rows per tile: ``chunk_size`` when given, else as many rows of ``num_cols``
    entries of ``bytes_per_entry`` working bytes as fit in ``memory_budget_mb``."""
    if chunk_size is not None:
        return check_positive_int("chunk_size", chunk_size)
    budget = check_positive("memory_budget_mb", memory_budget_mb) * 2**20
    return max(1, int(budget // max(1, num_cols * bytes_per_entry)))


def closeness_values(distance: Distance, x: Tensor, y: Tensor) -> Tensor:
    """Pairwise values ``[N, M]`` where *smaller* means closer, for any :class:`Distance`
    (similarities are negated, distances kept as they are)."""
    value = distance.pairwise(x, y)
    return -value if distance.higher_is_closer else value


class RankScorer:
    r"""Pairwise values that order every *row* exactly as ``distance`` does
    (smaller = closer), computed with a single GEMM per tile.

    Ranking metrics only compare distances from one query, so any transform that
    is strictly increasing along a row gives the same ranks. With the corpus side
    prepared once, one tile of queries costs one GEMM over ``d + 2`` columns:

    - cosine / dot: :math:`-\langle q, v\rangle` on the prepared points;
    - squared / plain L2: :math:`\|v\|^2 - 2\langle q, v\rangle` (the row
      constant :math:`\|q\|^2` and the square root do not change the order);
    - Poincaré: :math:`\operatorname{arcosh}` is increasing and the query's conformal
      factor is constant along a row, so
      :math:`d(q, v) \sim (\|q\|^2 + \|v\|^2 - 2\langle q, v\rangle)/(1 - c\|v\|^2)`,
      written as :math:`[q, \|q\|^2, 1] \cdot [-2 v s_v, s_v, \|v\|^2 s_v]` with
      :math:`s_v = 1/(1 - c\|v\|^2)` (points projected into the ball first).

    Other :class:`Distance` subclasses use their own ``pairwise`` per tile.

    Args:
        distance: the distance whose order is reproduced.
        corpus: ``[M, d]`` points every query is compared with.
    """

    def __init__(self, distance: Distance, corpus: Tensor) -> None:
        self.distance = distance
        self.kind = _kind(distance)
        self.raw_corpus = corpus
        self.corpus_t = self._corpus_side(corpus).T.contiguous()

    def _corpus_side(self, y: Tensor) -> Tensor:
        if self.kind == "inner":
            return self.distance.prepare(y)
        if self.kind == "l2":
            return torch.cat([-2.0 * y, (y * y).sum(-1, keepdim=True)], 1)
        if self.kind == "poincare":
            dist = cast(PoincareDistance, self.distance)
            c, eps = dist.curvature, dist.eps
            y = project_to_ball(y, c, eps)
            sq = (y * y).sum(-1, keepdim=True)
            scale = 1.0 / (1.0 - c * sq).clamp_min(eps)
            return torch.cat([-2.0 * y * scale, scale, sq * scale], 1)
        return y

    def query_side(self, q: Tensor) -> Tensor:
        """Transform raw query rows ``[c, d]`` into the GEMM's left operand."""
        if self.kind == "inner":
            return self.distance.prepare(q)
        ones = torch.ones(q.shape[0], 1, dtype=q.dtype, device=q.device)
        if self.kind == "l2":
            return torch.cat([q, ones], 1)
        if self.kind == "poincare":
            dist = cast(PoincareDistance, self.distance)
            q = project_to_ball(q, dist.curvature, dist.eps)
            return torch.cat([q, (q * q).sum(-1, keepdim=True), ones], 1)
        return q

    def values(self, queries: Tensor) -> Tensor:
        """``[c, M]`` order-preserving values for raw query rows ``[c, d]``."""
        if self.kind == "generic":
            return closeness_values(self.distance, queries, self.raw_corpus)
        out = torch.mm(self.query_side(queries), self.corpus_t)
        # No clamp at 0: cancellation only reorders (near-)coincident points, which the
        # distance itself cannot tell apart either, and a pass over the tile is saved.
        return out.neg_() if self.kind == "inner" else out


def _kind(distance: Distance) -> str:
    kind = type(distance)
    if kind in (CosineSimilarity, DotProduct):
        return "inner"
    if kind in (SquaredL2Distance, L2Distance):
        return "l2"
    if kind is PoincareDistance:
        return "poincare"
    return "generic"


def padded_rows(csr: CSR, rows: Tensor, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """Neighbour lists of ``rows`` ``[c]`` padded to ``width`` columns.

    Returns ``(col [c, width], valid [c, width], pos [c, width])``: neighbour ids
    (0 where padded), a validity mask, and each entry's position in ``csr.col``
    (clamped where padded).
    """
    start = csr.rowptr[rows]
    deg = csr.rowptr[rows + 1] - start
    offs = torch.arange(width, device=rows.device)
    valid = offs.unsqueeze(0) < deg.unsqueeze(1)
    pos = (start.unsqueeze(1) + offs.unsqueeze(0)).clamp_max(max(csr.num_edges - 1, 0))
    col = torch.where(valid, csr.col[pos], torch.zeros_like(pos)) if csr.num_edges else pos
    return col, valid, pos
