r"""Candidates a query must never receive, applied inside each scoring tile.

For query :math:`i` and pool item :math:`j` the candidate is excluded when

.. math::
    j = \mathrm{id}(i) \;\lor\; (i, j) \in \mathcal{P} \;\lor\;
    y^{q}_i = y^{p}_j \;\lor\; h^{p}_j < h^{q}_i

(the query itself, a banned pair — a positive or a known edge — the same label,
or a pool item *shallower* than the query: its depth :math:`h` is smaller, e.g.
its norm in a Poincaré hierarchy, where ancestors lie nearer the origin). Excluded
entries are set to :math:`-\infty` in the score tile *before*
top-k, so no later filter can let them back in.

Shapes: ``query_ids [B]`` (``-1`` = the query is not in the pool);
``positive_ids [B]`` or ``[B, P]`` (``-1`` padding); ``query_labels [B]``;
``pool_labels [M]``; ``query_depth [B]``; ``pool_depth [M]``; ``edges`` a CSR over
pool ids or an ``edge_index [2, E]``.

Example:
    >>> ex = build_exclusions(2, 5, query_ids=torch.tensor([0, 1]),
    ...                       positive_ids=torch.tensor([[2, -1], [3, 4]]))
    >>> s = torch.zeros(2, 5); ex.apply(s, 0, 2, 0, 5); (s == 0).int().tolist()
    [[0, 1, 0, 1, 1], [1, 0, 1, 0, 0]]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_index_range,
    check_length,
    check_tensor,
)
from contrastkit.graph.csr import CSR, gather_neighbors, to_csr


@dataclass(frozen=True)
class Exclusions:
    """Pre-sorted exclusion data for ``B`` queries against a pool of ``M`` items.

    Attributes:
        query_ids: ``[B]`` pool index of each query or ``-1``; ``None`` if unused.
        pair_rows: ``[E]`` query row of each banned pair, sorted ascending.
        pair_cols: ``[E]`` pool index of each banned pair.
        query_labels: ``[B]`` or ``None``.
        pool_labels: ``[M]`` or ``None``.
        query_depth: ``[B]`` float or ``None``.
        pool_depth: ``[M]`` float or ``None`` (items with ``pool_depth < query_depth``
            are excluded).
    """

    query_ids: Tensor | None = None
    pair_rows: Tensor | None = None
    pair_cols: Tensor | None = None
    query_labels: Tensor | None = None
    pool_labels: Tensor | None = None
    query_depth: Tensor | None = None
    pool_depth: Tensor | None = None

    def max_pairs_per_row(self, num_queries: int) -> int:
        """Largest number of id/pair exclusions of a single row (labels not counted)."""
        n = 0 if self.query_ids is None else 1
        if self.pair_rows is not None and self.pair_rows.numel():
            n += int(torch.bincount(self.pair_rows, minlength=num_queries).max())
        return n

    def apply(
        self, scores: Tensor, b0: int, b1: int, m0: int, m1: int, mask: Tensor | None = None
    ) -> None:
        """Set excluded entries of the tile ``scores [b1-b0, m1-m0]`` (queries
        ``b0:b1`` against pool items ``m0:m1``) to ``-inf`` in place. ``mask``: an
        optional bool scratch tensor of the tile's shape (saves an allocation)."""
        neg_inf = float("-inf")
        if self.query_ids is not None:
            q = self.query_ids[b0:b1]
            hit = (q >= m0) & (q < m1)
            rows = torch.nonzero(hit).squeeze(1)
            scores[rows, q[rows] - m0] = neg_inf
        if self.pair_rows is not None and self.pair_cols is not None:
            lo, hi = torch.searchsorted(
                self.pair_rows, torch.tensor([b0, b1], device=self.pair_rows.device)
            ).tolist()
            r, c = self.pair_rows[lo:hi], self.pair_cols[lo:hi]
            hit = (c >= m0) & (c < m1)
            scores[r[hit] - b0, c[hit] - m0] = neg_inf
        if self.query_labels is not None and self.pool_labels is not None:
            ql, pl = self.query_labels[b0:b1, None], self.pool_labels[None, m0:m1]
            same = ql == pl if mask is None else torch.eq(ql, pl, out=mask)
            scores.masked_fill_(same, neg_inf)
        if self.query_depth is not None and self.pool_depth is not None:
            qh, ph = self.query_depth[b0:b1, None], self.pool_depth[None, m0:m1]
            shallower = ph < qh if mask is None else torch.lt(ph, qh, out=mask)
            scores.masked_fill_(shallower, neg_inf)

    def with_pairs(self, rows: Tensor, cols: Tensor) -> Exclusions:
        """A copy that also bans the pairs ``(rows[e], cols[e])`` (``cols < 0`` ignored)."""
        keep = cols >= 0
        r = rows[keep].to(torch.int64)
        c = cols[keep].to(torch.int64)
        if self.pair_rows is not None and self.pair_cols is not None:
            r, c = torch.cat([self.pair_rows, r]), torch.cat([self.pair_cols, c])
        order = torch.sort(r, stable=True).indices
        return dataclasses.replace(self, pair_rows=r[order], pair_cols=c[order])

    def banned(self, rows: Tensor, cand: Tensor, pool_size: int) -> Tensor:
        """Exclusion test for arbitrary candidates: ``rows [b]`` (query rows) and
        ``cand [b, f]`` (pool ids, ``-1`` = none) -> bool ``[b, f]`` (True = excluded).
        Used by backends that return candidate lists instead of dense tiles."""
        out = cand < 0
        if self.query_ids is not None:
            out |= cand == self.query_ids[rows].unsqueeze(1)
        if self.pair_rows is not None and self.pair_cols is not None and self.pair_rows.numel():
            keys = torch.sort(self.pair_rows * pool_size + self.pair_cols).values
            q = rows.unsqueeze(1) * pool_size + cand
            pos = torch.searchsorted(keys, q).clamp_max(keys.numel() - 1)
            out |= keys[pos] == q
        if self.query_labels is not None and self.pool_labels is not None:
            lab = self.pool_labels[cand.clamp_min(0)]
            out |= lab == self.query_labels[rows].unsqueeze(1)
        if self.query_depth is not None and self.pool_depth is not None:
            out |= self.pool_depth[cand.clamp_min(0)] < self.query_depth[rows].unsqueeze(1)
        return out


def _edge_pairs(edges: CSR | Tensor, query_ids: Tensor, pool_size: int) -> tuple[Tensor, Tensor]:
    csr = edges if isinstance(edges, CSR) else to_csr(edges, pool_size, undirected=True)
    if csr.num_nodes != pool_size:
        raise ValueError(f"edges must span the pool of {pool_size} items, got {csr.num_nodes}")
    rows = torch.nonzero(query_ids >= 0).squeeze(1)
    owner, nbr = gather_neighbors(csr, query_ids[rows])
    return rows[owner], nbr


def build_exclusions(
    num_queries: int,
    pool_size: int,
    *,
    query_ids: Tensor | None = None,
    positive_ids: Tensor | None = None,
    query_labels: Tensor | None = None,
    pool_labels: Tensor | None = None,
    query_depth: Tensor | None = None,
    pool_depth: Tensor | None = None,
    edges: CSR | Tensor | None = None,
) -> Exclusions:
    """Validate and pre-sort exclusions (see the module docstring for shapes).

    ``edges`` bans every neighbour of each query's own pool id (needs
    ``query_ids``); an ``edge_index`` is read as undirected, pass a directed
    :class:`~contrastkit.graph.csr.CSR` to ban only out-neighbours. Labels apply
    only when both ``query_labels`` and ``pool_labels`` are given, depths only when
    both ``query_depth`` and ``pool_depth`` are (finite floats).
    """
    dev_rows: list[Tensor] = []
    dev_cols: list[Tensor] = []
    if query_ids is not None:
        check_tensor("query_ids", query_ids, ndim=1)
        check_length("query_ids", query_ids, num_queries)
        check_index_range("query_ids", query_ids + 1, pool_size + 1)
        query_ids = query_ids.to(torch.int64)
    if positive_ids is not None:
        check_tensor("positive_ids", positive_ids, ndim=(1, 2))
        check_length("positive_ids", positive_ids, num_queries)
        pos = positive_ids.to(torch.int64).reshape(num_queries, -1)
        check_index_range("positive_ids", pos + 1, pool_size + 1)
        rows, slot = torch.nonzero(pos >= 0, as_tuple=True)
        dev_rows.append(rows)
        dev_cols.append(pos[rows, slot])
    if edges is not None:
        if query_ids is None:
            raise ValueError("edges needs query_ids (the pool id of each query)")
        r, c = _edge_pairs(edges, query_ids, pool_size)
        dev_rows.append(r)
        dev_cols.append(c)
    for kind, q, p in (("labels", query_labels, pool_labels), ("depth", query_depth, pool_depth)):
        if (q is None) != (p is None):
            missing = f"pool_{kind}" if p is None else f"query_{kind}"
            raise ValueError(f"{missing} is required when the other {kind} are given")
    if query_labels is not None and pool_labels is not None:
        check_tensor("query_labels", query_labels, ndim=1)
        check_length("query_labels", query_labels, num_queries)
        check_tensor("pool_labels", pool_labels, ndim=1)
        check_length("pool_labels", pool_labels, pool_size)
    if query_depth is not None and pool_depth is not None:
        check_float_tensor("query_depth", query_depth, ndim=1)
        check_length("query_depth", query_depth, num_queries)
        check_finite("query_depth", query_depth)
        check_float_tensor("pool_depth", pool_depth, ndim=1)
        check_length("pool_depth", pool_depth, pool_size)
        check_finite("pool_depth", pool_depth)
    pair_rows = pair_cols = None
    if dev_rows:
        rows_all, cols_all = torch.cat(dev_rows), torch.cat(dev_cols)
        order = torch.sort(rows_all, stable=True).indices
        pair_rows, pair_cols = rows_all[order], cols_all[order]
    return Exclusions(
        query_ids, pair_rows, pair_cols, query_labels, pool_labels, query_depth, pool_depth
    )
