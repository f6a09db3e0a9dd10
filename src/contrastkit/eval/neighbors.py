r"""Exact k-nearest-neighbour search in tiles, and the recall of an approximate
search (FAISS, HNSW, ...) against it.

:func:`exact_knn` computes the ``[c, M]`` values of a tile of queries with one GEMM
(see :class:`~contrastkit.eval._tiling.RankScorer`) and keeps the ``k`` closest;
memory stays within ``memory_budget_mb`` however large the corpus.

:func:`knn_recall` is the usual ANN quality measure

.. math::
    \mathrm{recall@}k = \frac{1}{Q}\sum_q \frac{|A_q \cap E_q|}{|E_q|}

with :math:`A_q` the approximate and :math:`E_q` the exact neighbour ids (ids < 0,
FAISS's "no result", are ignored). Exact neighbours are only defined up to ties at
the ``k``-th distance; use continuous embeddings when comparing.

Example:
    >>> corpus = torch.eye(4); queries = torch.tensor([[1.0, 0.1, 0.0, 0.0]])
    >>> _, idx = exact_knn(queries, corpus, 2, distance="euclidean")
    >>> idx.tolist()
    [[0, 1]]
    >>> knn_recall(torch.tensor([[0, 3]]), idx)
    0.5

Reference: Aumüller et al., "ANN-Benchmarks", Information Systems 2020.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import (
    check_float_tensor,
    check_index_range,
    check_length,
    check_positive_int,
    check_same_dim,
    check_tensor,
)
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB, RankScorer, chunk_rows
from contrastkit.functional.distances import Distance, get_distance


def exact_knn(
    queries: Tensor,
    corpus: Tensor,
    k: int,
    *,
    distance: str | Distance = "cosine",
    exclude: Tensor | None = None,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
) -> tuple[Tensor, Tensor]:
    """The ``k`` closest corpus rows of every query, closest first.

    Args:
        queries: ``[Q, d]``.
        corpus: ``[M, d]``.
        k: neighbours per query, ``1 <= k <= M`` (``M - 1`` with ``exclude``).
        distance: name or :class:`Distance`; default ``"cosine"``.
        exclude: optional ``[Q]`` corpus index to skip per query (the query itself
            when ``queries`` is ``corpus``), ``-1`` for none.
        chunk_size: queries per tile; default from ``memory_budget_mb`` (256).

    Returns:
        ``(scores [Q, k], indices [Q, k])``: the distance's scores (larger = closer,
        :meth:`Distance.score_paired`) and int64 corpus ids.
    """
    q = check_float_tensor("queries", queries, ndim=2)
    c = check_float_tensor("corpus", corpus, ndim=2)
    check_same_dim("corpus", c, "queries", q)
    check_positive_int("k", k)
    limit = c.shape[0] - (1 if exclude is not None else 0)
    if k > limit:
        raise ValueError(f"k must be <= {limit} (corpus size), got {k}")
    if exclude is not None:
        check_tensor("exclude", exclude, ndim=1)
        check_length("exclude", exclude, q.shape[0])
        check_index_range("exclude", exclude + 1, c.shape[0] + 1)
    dist = get_distance(distance)
    step = chunk_rows(c.shape[0], 3 * c.element_size() + 8, chunk_size, memory_budget_mb)
    out = torch.empty(q.shape[0], k, dtype=torch.int64, device=q.device)
    with torch.no_grad():
        scorer = RankScorer(dist, c)
        for lo in range(0, q.shape[0], step):
            values = scorer.values(q[lo : lo + step])
            if exclude is not None:
                ex = exclude[lo : lo + step]
                rows = torch.nonzero(ex >= 0).flatten()
                values[rows, ex[rows]] = float("inf")
            out[lo : lo + step] = values.topk(k, dim=1, largest=False).indices
        scores = dist.score_paired(q.unsqueeze(1), c[out])
    return scores, out


def knn_recall(approx_indices: Tensor, exact_indices: Tensor) -> float:
    """Mean share of the exact neighbours found by an approximate search.

    Args:
        approx_indices: ``[Q, k']`` int ids from the approximate search (``< 0`` =
            no result; duplicates count once).
        exact_indices: ``[Q, k]`` int ids of the exact neighbours (distinct per row).

    Returns:
        recall in ``[0, 1]`` as a Python float.
    """
    a = check_tensor("approx_indices", approx_indices, ndim=2)
    e = check_tensor("exact_indices", exact_indices, ndim=2)
    check_length("approx_indices", a, e.shape[0])
    if e.shape[0] == 0 or e.shape[1] == 0:
        raise ValueError(f"exact_indices must be non-empty, got shape {tuple(e.shape)}")
    if a.is_floating_point() or e.is_floating_point():
        raise TypeError("approx_indices and exact_indices must be integer tensors")
    if a.shape[1] == 0:
        return 0.0
    # Membership by binary search in each sorted approximate row: O(Q k log k').
    a_sorted = a.to(torch.int64).sort(dim=1).values
    e = e.to(torch.int64)
    pos = torch.searchsorted(a_sorted, e).clamp_max(a.shape[1] - 1)
    found = a_sorted.gather(1, pos) == e
    return float(found.to(torch.float64).mean())
