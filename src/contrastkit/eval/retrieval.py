r"""Retrieval quality: Recall@K, hit rate, precision@K, nDCG@K and MRR, in tiles.

Each query ``q`` retrieves the corpus sorted by its distance. With ``G_q(m) >= 0``
the gain (relevance) of corpus item ``m``, :math:`R_q = \{m : G_q(m) > 0\}` and
:math:`\pi_q(i)` the ``i``-th retrieved item:

.. math::
    \mathrm{Recall@}K = \frac{|R_q \cap \mathrm{top}_K|}{|R_q|},\quad
    \mathrm{hit@}K = [R_q \cap \mathrm{top}_K \neq \emptyset],\quad
    \mathrm{precision@}K = \frac{|R_q \cap \mathrm{top}_K|}{K}

.. math::
    \mathrm{nDCG@}K = \frac{\sum_{i=1}^{K} G_q(\pi_q(i)) / \log_2(i + 1)}
    {\sum_{i=1}^{K} G^\downarrow_q(i) / \log_2(i + 1)},\qquad
    \mathrm{MRR} = \frac{1}{1 + \#\{m : s_q(m) > \max_{r \in R_q} s_q(r)\}}

(linear gains as ``sklearn.metrics.ndcg_score``; :math:`G^\downarrow_q` the gains
sorted decreasingly). MRR uses the full ranking, not a cut-off; an item tied with
the best relevant one does not count against it. Top-K ties are broken by
``torch.topk``. "hit@K" is what metric-learning papers call Recall@K.
All metrics are averaged over queries with at least one relevant item.

Relevance is given either by labels (``corpus_labels[m] == query_labels[q]``,
gain 1) or by ``relevant_pairs`` ``[2, R]`` (query id, corpus id) with optional
graded ``gains`` ``[R]`` (duplicates keep the largest gain).

Example:
    >>> corpus = torch.eye(3); queries = torch.tensor([[0.2, 1.0, 0.0]])
    >>> m = retrieval_metrics(queries, corpus, query_labels=torch.tensor([1]),
    ...                       corpus_labels=torch.tensor([0, 1, 1]), ks=(1,))
    >>> m["recall@1"], m["mrr"]
    (0.5, 1.0)

Reference: Järvelin & Kekäläinen, "Cumulated gain-based evaluation of IR
techniques", ACM TOIS 2002.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_length,
    check_positive_int,
    check_same_dim,
    check_tensor,
)
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB, RankScorer, chunk_rows
from contrastkit.functional.distances import Distance, get_distance


class _Relevance:
    """Dense gains ``[c, M]`` of a tile of queries, from labels or (query, item) pairs."""

    def __init__(
        self,
        num_queries: int,
        num_items: int,
        query_labels: Tensor | None,
        corpus_labels: Tensor | None,
        relevant_pairs: Tensor | None,
        gains: Tensor | None,
    ) -> None:
        self.m = num_items
        self.query_labels: Tensor | None = None
        self.corpus_labels: Tensor | None = None
        by_labels = query_labels is not None or corpus_labels is not None
        if by_labels == (relevant_pairs is not None):
            raise ValueError(
                "give relevance either as query_labels + corpus_labels or as relevant_pairs"
            )
        if by_labels:
            if query_labels is None or corpus_labels is None:
                raise ValueError("query_labels and corpus_labels must be given together")
            check_tensor("query_labels", query_labels, ndim=1)
            check_tensor("corpus_labels", corpus_labels, ndim=1)
            check_length("query_labels", query_labels, num_queries)
            check_length("corpus_labels", corpus_labels, num_items)
            self.query_labels, self.corpus_labels = (
                query_labels,
                corpus_labels.to(query_labels.device),
            )
            return
        pairs = check_edge_index("relevant_pairs", relevant_pairs)
        if pairs.numel() and (
            int(pairs[0].max()) >= num_queries or int(pairs[1].max()) >= num_items
        ):
            raise ValueError(
                f"relevant_pairs must index [0, {num_queries}) x [0, {num_items}), "
                f"got max ({int(pairs[0].max())}, {int(pairs[1].max())})"
            )
        g = torch.ones(pairs.shape[1], dtype=torch.float64, device=pairs.device)
        if gains is not None:
            g = check_float_tensor("gains", gains, ndim=1).to(torch.float64)
            check_length("gains", g, pairs.shape[1])
            if g.numel() and bool((g < 0).any()):
                raise ValueError(f"gains must be non-negative, got min {float(g.min())}")
        keys = pairs[0].to(torch.int64) * num_items + pairs[1]
        self.keys, inverse = torch.unique(keys, return_inverse=True)
        self.gains = torch.zeros(self.keys.numel(), dtype=torch.float64, device=keys.device)
        self.gains.scatter_reduce_(0, inverse, g, reduce="amax", include_self=False)
        rows = torch.div(self.keys, num_items, rounding_mode="floor")
        self.rowptr = torch.zeros(num_queries + 1, dtype=torch.int64, device=keys.device)
        self.rowptr[1:] = torch.cumsum(torch.bincount(rows, minlength=num_queries), 0)

    def tile(self, lo: int, hi: int) -> Tensor:
        if self.query_labels is not None and self.corpus_labels is not None:
            return (self.query_labels[lo:hi].unsqueeze(1) == self.corpus_labels.unsqueeze(0)).to(
                torch.float64
            )
        dense = torch.zeros(hi - lo, self.m, dtype=torch.float64, device=self.keys.device)
        start, end = int(self.rowptr[lo]), int(self.rowptr[hi])
        keys = self.keys[start:end]
        dense[torch.div(keys, self.m, rounding_mode="floor") - lo, keys % self.m] = self.gains[
            start:end
        ]
        return dense


def retrieval_metrics(
    queries: Tensor,
    corpus: Tensor,
    *,
    query_labels: Tensor | None = None,
    corpus_labels: Tensor | None = None,
    relevant_pairs: Tensor | None = None,
    gains: Tensor | None = None,
    ks: Sequence[int] = (1, 5, 10),
    distance: str | Distance = "cosine",
    exclude: Tensor | None = None,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
) -> dict[str, float]:
    """Recall@K, hit@K, precision@K, nDCG@K for every ``K`` in ``ks``, and MRR.

    Args:
        queries: ``[Q, d]`` query embeddings.
        corpus: ``[M, d]`` corpus embeddings.
        query_labels, corpus_labels: ``[Q]`` and ``[M]`` labels (relevant = same label).
        relevant_pairs: ``[2, R]`` (query id, corpus id) pairs, instead of labels.
        gains: optional ``[R]`` graded relevance of ``relevant_pairs`` (default 1).
        ks: cut-offs; each clamped to the number of retrievable items.
        distance: name or :class:`Distance`; default ``"cosine"``.
        exclude: optional ``[Q]`` corpus id removed from each query's results
            (``-1`` = none), e.g. ``arange(Q)`` when the queries are the corpus.
        chunk_size / memory_budget_mb: tiling of the ``[Q, M]`` scores (256 MiB).

    Returns:
        ``{"recall@K", "hit@K", "precision@K", "ndcg@K" for K in ks, "mrr",
        "num_queries"}``, averaged over the queries that have a relevant item.
    """
    q = check_float_tensor("queries", queries, ndim=2)
    c = check_float_tensor("corpus", corpus, ndim=2)
    check_same_dim("corpus", c, "queries", q)
    if c.shape[0] == 0:
        raise ValueError("corpus must have at least one row")
    if isinstance(ks, int) or not ks:
        raise ValueError(f"ks must be a non-empty sequence of ints, got {ks!r}")
    for k in ks:
        check_positive_int("ks", k)
    if exclude is not None:
        check_tensor("exclude", exclude, ndim=1)
        check_length("exclude", exclude, q.shape[0])
        if exclude.numel() and (int(exclude.min()) < -1 or int(exclude.max()) >= c.shape[0]):
            raise ValueError(f"exclude must lie in [-1, {c.shape[0]}), got {exclude.tolist()[:5]}")
    rel = _Relevance(q.shape[0], c.shape[0], query_labels, corpus_labels, relevant_pairs, gains)
    dist = get_distance(distance)
    avail = c.shape[0] - (1 if exclude is not None else 0)
    kcl = [min(k, max(avail, 1)) for k in ks]
    kmax = max(kcl)
    disc = 1.0 / torch.log2(torch.arange(2, kmax + 2, dtype=torch.float64, device=q.device))
    step = chunk_rows(c.shape[0], 3 * c.element_size() + 24, chunk_size, memory_budget_mb)

    sums = {
        name: 0.0 for k in ks for name in (f"recall@{k}", f"hit@{k}", f"precision@{k}", f"ndcg@{k}")
    }
    sums["mrr"] = 0.0
    counted = 0
    with torch.no_grad():
        scorer = RankScorer(dist, c)
        for lo in range(0, q.shape[0], step):
            hi = min(lo + step, q.shape[0])
            values = scorer.values(q[lo:hi])
            g = rel.tile(lo, hi)
            if exclude is not None:
                ex = exclude[lo:hi]
                rows = torch.nonzero(ex >= 0).flatten()
                values[rows, ex[rows]] = float("inf")
                g[rows, ex[rows]] = 0.0
            n_rel = (g > 0).sum(1)
            keep = n_rel > 0
            if not bool(keep.any()):
                continue
            values, g, n_rel = values[keep], g[keep], n_rel[keep].to(torch.float64)
            counted += int(keep.sum())
            top = values.topk(kmax, dim=1, largest=False).indices
            top_gain = g.gather(1, top)
            hits = (top_gain > 0).to(torch.float64).cumsum(1)
            dcg = (top_gain * disc).cumsum(1)
            idcg = (g.topk(kmax, dim=1).values * disc).cumsum(1)
            for k, kc in zip(ks, kcl, strict=True):
                sums[f"recall@{k}"] += float((hits[:, kc - 1] / n_rel).sum())
                sums[f"hit@{k}"] += float((hits[:, kc - 1] > 0).sum())
                sums[f"precision@{k}"] += float((hits[:, kc - 1] / kc).sum())
                sums[f"ndcg@{k}"] += float((dcg[:, kc - 1] / idcg[:, kc - 1]).sum())
            best = values.masked_fill(g <= 0, float("inf")).min(1, keepdim=True).values
            closer = (values < best).sum(1).to(torch.float64)
            sums["mrr"] += float((1.0 / (1.0 + closer)).sum())
    if counted == 0:
        raise ValueError("no query has a relevant corpus item: retrieval metrics are undefined")
    out = {name: total / counted for name, total in sums.items()}
    out["num_queries"] = float(counted)
    return out
