r"""Filtered ranking metrics of Nickel & Kiela (2017): mean rank and MAP.

For every anchor ``u`` with positives :math:`P(u)` (its neighbours in the graph)
and the set :math:`F(u) \supseteq P(u)` of *known* relations (filtered out of the
negatives), each positive ``v`` is ranked among the non-neighbours of ``u``:

.. math::
    r(u, v) = 1 + \#\{w \notin F(u) \cup \{u\} : d(u, w) < d(u, v)\}

``mean_rank`` is the mean of :math:`r` over all positive relations (edges).
``MAP`` is the mean over anchors of the average precision of the ranking of all
non-self nodes: sorting the positives of ``u`` as :math:`v_1, \dots, v_{|P|}` by
distance, the ``k``-th one sits at position :math:`r(u, v_k) + k - 1`, so

.. math::
    \mathrm{AP}(u) = \frac{1}{|P(u)|}\sum_{k=1}^{|P(u)|} \frac{k}{r(u, v_k) + k - 1}.

Conventions (checked against ``facebookresearch/poincare-embeddings``
``hype/graph.py`` and gensim's ``ReconstructionEvaluation``):

- **Directed** by default, as both reference implementations: the relation
  ``(u, v)`` of ``edge_index`` (for WordNet: hyponym -> hypernym) ranks ``v``
  for anchor ``u`` only. ``mode="undirected"`` evaluates the symmetric closure
  (every edge in both directions, each direction a separate relation).
- **Self excluded** (facebookresearch sets ``d(u, u) = 10^{12}``). gensim keeps
  the anchor itself among the negatives, which adds 1 to every rank;
  ``include_self=True`` reproduces gensim's numbers exactly.
- **Ties** between a positive and a negative: ``"optimistic"`` (strict ``<``
  above; gensim's convention) by default, ``"pessimistic"`` counts ``<=``,
  ``"average"`` the mean of both (mid-rank). A collapsed embedding (all points
  equal) scores a perfect MAP under ``"optimistic"``; use ``"average"`` when ties
  are possible (e.g. float32 Poincaré points on the boundary).
- Duplicate edges are merged and self-loops dropped (gensim would rank a
  self-loop as a relation of rank 1); nodes without positives are not anchors.

Algorithm (no loop over nodes or edges): anchors are sorted by degree and
processed in tiles of ``c`` rows. A tile costs one GEMM of ``[c, d + 2]`` by
``[d + 2, N]`` giving values that order each row exactly as the distance does
(:class:`~contrastkit.eval._tiling.RankScorer`: no ``arcosh`` or square root is
needed to rank), a sort of each anchor's positives only (padded to the tile's
largest degree ``K``), and one batched ``searchsorted`` that places each negative
among them; ``scatter_add`` + ``cumsum`` turn the slots into counts:
:math:`O(cN(d + \log K))`. Negatives farther than an anchor's farthest positive
never count, so for a good embedding only the few closer ones are searched. The
WordNet noun closure (82,115 nodes, 743,241 edges) takes about 1.7 passes of the
``N x N`` GEMM for a trained-like embedding (``benchmarks/bench_eval.py``).

Example:
    >>> x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.5, 0.5], [-0.9, 0.1]])
    >>> ei = torch.tensor([[0, 0], [1, 2]])
    >>> res = reconstruction_ranking(x, ei, distance="poincare")
    >>> res.mean_rank, res.map
    (1.0, 1.0)

Reference: Nickel & Kiela, "Poincaré Embeddings for Learning Hierarchical
Representations", NeurIPS 2017, Section 4.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_edge_index,
    check_finite,
    check_float_tensor,
)
from contrastkit.eval._rank_tile import Ties, rank_tile
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB, RankScorer, chunk_rows
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.graph.csr import CSR, to_csr

Mode = Literal["directed", "undirected"]
__all__ = [
    "MODES",
    "TIES",
    "Mode",
    "RankingParts",
    "RankingResult",
    "Ties",
    "filtered_ranking",
    "ranking_parts",
    "reconstruction_ranking",
]
TIES: tuple[Ties, ...] = ("optimistic", "pessimistic", "average")
MODES: tuple[Mode, ...] = ("directed", "undirected")


@dataclass(frozen=True)
class RankingResult:
    """Outcome of :func:`filtered_ranking`.

    Attributes:
        mean_rank: mean of the ranks of all evaluated relations.
        map: mean average precision over anchors.
        num_edges: number of evaluated relations ``E'`` (after merging duplicates).
        anchors: ``[A]`` int64 ids of the evaluated anchors.
        average_precision: ``[A]`` float64 AP of each anchor.
        edges: ``[2, E']`` evaluated relations sorted by (anchor, target), or ``None``.
        ranks: ``[E']`` float64 rank of each relation in ``edges``, or ``None``.
    """

    mean_rank: float
    map: float
    num_edges: int
    anchors: Tensor
    average_precision: Tensor
    edges: Tensor | None = None
    ranks: Tensor | None = None

    def as_dict(self) -> dict[str, float]:
        """``{"mean_rank": ..., "map": ...}``."""
        return {"mean_rank": self.mean_rank, "map": self.map}


def filtered_ranking(
    embeddings: Tensor,
    edge_index: Tensor,
    filter_edge_index: Tensor | None = None,
    *,
    distance: str | Distance = "poincare",
    mode: Mode = "directed",
    ties: Ties = "optimistic",
    include_self: bool = False,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
    return_ranks: bool = False,
) -> RankingResult:
    """Rank the relations ``edge_index`` among the non-relations of each anchor.

    Args:
        embeddings: ``[N, d]`` node embeddings (finite).
        edge_index: ``[2, E]`` relations to rank (``E >= 1``), row 0 = anchor.
        filter_edge_index: ``[2, F]`` further known relations that are removed from
            the negatives but not ranked (the training edges in link prediction).
        distance: name or :class:`Distance`; default ``"poincare"``.
        mode: ``"directed"`` (default) or ``"undirected"`` (both directions of
            every edge, filter edges included).
        ties: ``"optimistic"`` (default), ``"pessimistic"`` or ``"average"``.
        include_self: count the anchor itself as a negative (gensim); default False.
        chunk_size: anchors per tile; by default as many as fit ``memory_budget_mb``.
        memory_budget_mb: working memory of one tile in MiB; default 256.
        return_ranks: also return the per-relation ``edges`` and ``ranks``.

    Returns:
        a :class:`RankingResult`.
    """
    parts = ranking_parts(
        embeddings,
        edge_index,
        filter_edge_index,
        distance=distance,
        mode=mode,
        ties=ties,
        include_self=include_self,
        chunk_size=chunk_size,
        memory_budget_mb=memory_budget_mb,
        return_ranks=return_ranks,
    )
    return parts.result(parts.average_precision, parts.rank_sum)


@dataclass(frozen=True)
class RankingParts:
    """What :func:`ranking_parts` computed for one shard of the anchors.

    Attributes:
        pos: the relations ranked (CSR, duplicates merged, self-loops dropped).
        anchors: ``[A]`` every anchor, in processing (degree) order.
        shard: ``(i, W)``: this shard holds ``anchors[i::W]``.
        average_precision: ``[ceil((A - i) / W)]`` float64 AP of the shard's anchors.
        rank_sum: the sum of the shard's ranks (multiples of 1/2: exact in float64).
        ranks: ``[E']`` ranks of the shard's relations (others 0), or ``None``.
    """

    pos: CSR
    anchors: Tensor
    shard: tuple[int, int]
    average_precision: Tensor
    rank_sum: float
    ranks: Tensor | None

    def result(self, average_precision: Tensor, rank_sum: float) -> RankingResult:
        """The :class:`RankingResult` of every anchor from their APs ``[A]`` (in
        processing order) and the total rank sum."""
        order = torch.argsort(self.anchors)
        return RankingResult(
            mean_rank=rank_sum / self.pos.num_edges,
            map=float(average_precision.mean()),
            num_edges=self.pos.num_edges,
            anchors=self.anchors[order],
            average_precision=average_precision[order],
            edges=self.pos.to_edge_index() if self.ranks is not None else None,
            ranks=self.ranks,
        )


def ranking_parts(
    embeddings: Tensor,
    edge_index: Tensor,
    filter_edge_index: Tensor | None = None,
    *,
    distance: str | Distance = "poincare",
    mode: Mode = "directed",
    ties: Ties = "optimistic",
    include_self: bool = False,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
    return_ranks: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> RankingParts:
    """:func:`filtered_ranking`'s work for the anchors ``anchors[i::W]`` of
    ``shard = (i, W)`` (strided over the degree order, so every shard gets anchors of
    every degree): the shards of ``W`` processes together hold every anchor once
    (:mod:`~contrastkit.eval.sharded_ranking` combines them). ``(0, 1)``: all."""
    x = check_float_tensor("embeddings", embeddings, ndim=2)
    check_finite("embeddings", x)
    n = x.shape[0]
    ei = check_edge_index("edge_index", edge_index, n).to(x.device)
    mode = check_choice("mode", mode, MODES)
    ties = check_choice("ties", ties, TIES)
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard must be (i, W) with 0 <= i < W, got {shard}")
    dist = get_distance(distance)
    undirected = mode == "undirected"
    pos = to_csr(ei, n, undirected=undirected, remove_self_loops=True)
    if pos.num_edges == 0:
        raise ValueError(
            "edge_index has no relations besides self-loops: mean rank and MAP are undefined"
        )
    known = pos
    if filter_edge_index is not None:
        fi = check_edge_index("filter_edge_index", filter_edge_index, n).to(x.device)
        known = to_csr(torch.cat([ei, fi], 1), n, undirected=undirected, remove_self_loops=True)

    deg = pos.rowptr[1:] - pos.rowptr[:-1]
    anchors = torch.nonzero(deg > 0).flatten()
    # Degree order keeps the padding of every tile close to its real width.
    anchors = anchors[torch.argsort(deg[anchors], stable=True)]
    mine = anchors[index::count]
    # values + GEMM temporaries, the candidate mask and an int64 slot per entry.
    per_entry = 3 * x.element_size() + 17
    step = chunk_rows(n, per_entry, chunk_size, memory_budget_mb)

    with torch.no_grad():
        scorer = RankScorer(dist, x)
    ap_parts: list[Tensor] = [torch.empty(0, dtype=torch.float64, device=x.device)]
    rank_sum = 0.0
    ranks_out = None
    if return_ranks:
        ranks_out = torch.zeros(pos.num_edges, dtype=torch.float64, device=x.device)
    for lo in range(0, mine.numel(), step):
        a = mine[lo : lo + step]
        ap, r_sum = rank_tile(scorer, x, a, pos, known, ties, include_self, ranks_out)
        ap_parts.append(ap)
        rank_sum += r_sum
    return RankingParts(pos, anchors, shard, torch.cat(ap_parts), rank_sum, ranks_out)


def reconstruction_ranking(
    embeddings: Tensor,
    edge_index: Tensor,
    *,
    distance: str | Distance = "poincare",
    mode: Mode = "directed",
    ties: Ties = "optimistic",
    include_self: bool = False,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
    return_ranks: bool = False,
) -> RankingResult:
    """Reconstruction mean rank and MAP of Nickel & Kiela (2017): every relation of
    the (transitive-closure) graph ``edge_index`` ``[2, E]`` ranked among the
    non-relations of its anchor. See :func:`filtered_ranking` for the arguments.

    >>> x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)) * 0.1
    >>> r = reconstruction_ranking(x, torch.tensor([[0, 1], [1, 2]]))
    >>> 1.0 <= r.mean_rank <= 4.0 and 0.0 < r.map <= 1.0
    True
    """
    return filtered_ranking(
        embeddings,
        edge_index,
        None,
        distance=distance,
        mode=mode,
        ties=ties,
        include_self=include_self,
        chunk_size=chunk_size,
        memory_budget_mb=memory_budget_mb,
        return_ranks=return_ranks,
    )
