r"""Graph hard negatives: k-hop rings ranked by similarity, and edge triplets.

*k-hop negatives* (original design §4.2, ``GraphHardNegativeMiner``): for an
anchor :math:`a` the candidates are the nodes of its k-hop ball that are neither
:math:`a` nor a neighbour,

.. math::
    C(a) = \{v : 2 \le \operatorname{dist}(a, v) \le k\},

ranked by :math:`s(z_a, z_v)` (larger = closer), the best ``K`` kept. Structurally
near but not linked, they are the hard negatives of link prediction. All
anchors are expanded at once (:func:`~contrastkit.graph.khop.k_hop_rings`), the
ring entries scored in chunks under a memory budget, and the top ``K`` per
anchor taken by a segmented top-k — no per-node BFS, no Python loop over nodes.

*Edge triplets*: every edge :math:`(u, v)` gives the triplet
:math:`(u, v, n)` with :math:`n` among the ``K`` closest nodes to :math:`u` that are
not :math:`u` and not its neighbours (exact tiled scan).

Example:
    >>> ring = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    >>> z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    >>> res = khop_negatives(z, ring, torch.tensor([0]), 2, hops=3)
    >>> sorted(res.indices[0].tolist()) in ([2, 3], [2, 4], [3, 4])
    True
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_index_range,
    check_positive_int,
    check_tensor,
)
from contrastkit.functional.distances import COSINE_EPS, Distance, get_distance
from contrastkit.graph.csr import CSR, to_csr
from contrastkit.graph.khop import KHopRings, k_hop_rings
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.miner import mine
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.mining.result import MiningReport, MiningResult, finalize


def as_csr(graph: CSR | Tensor, num_nodes: int) -> CSR:
    """A CSR from a CSR (checked) or an ``edge_index`` (read as undirected)."""
    if isinstance(graph, CSR):
        if graph.num_nodes != num_nodes:
            raise ValueError(f"graph has {graph.num_nodes} nodes, embeddings have {num_nodes}")
        return graph
    return to_csr(graph, num_nodes, undirected=True)


def _check_embeddings(embeddings: Tensor) -> None:
    check_float_tensor("embeddings", embeddings, ndim=2)
    check_finite("embeddings", embeddings)


def segment_topk(
    seg: Tensor, values: Tensor, num_segments: int, k: int, memory_budget: int
) -> tuple[Tensor, Tensor]:
    """Top-``k`` entries of each segment: ``seg [P]`` (sorted segment id),
    ``values [P]`` -> ``(values [S, k], positions [S, k])``, ``-inf`` / ``-1`` when short."""
    counts = torch.bincount(seg, minlength=num_segments)
    start = torch.cumsum(counts, 0) - counts
    width = int(counts.max()) if seg.numel() else 0
    rank = torch.arange(seg.numel(), device=seg.device) - start[seg]
    if num_segments * max(width, 1) * values.element_size() <= memory_budget:
        pad = torch.full((num_segments, max(width, k)), float("-inf"), dtype=values.dtype)
        pad[seg, rank] = values
        top, col = pad.topk(k, dim=1)
        pos = torch.where(top > float("-inf"), start.unsqueeze(1) + col, -1)
        return top, pos
    # Ragged fallback for hub-heavy graphs: sort by value, then stably by segment.
    o1 = torch.sort(values, descending=True, stable=True).indices
    o2 = torch.sort(seg[o1], stable=True).indices
    order = o1[o2]
    rank_sorted = torch.arange(seg.numel(), device=seg.device) - start[seg[order]]
    keep = rank_sorted < k
    top = torch.full((num_segments, k), float("-inf"), dtype=values.dtype)
    pos = torch.full((num_segments, k), -1, dtype=torch.int64)
    top[seg[order][keep], rank_sorted[keep]] = values[order][keep]
    pos[seg[order][keep], rank_sorted[keep]] = order[keep]
    return top, pos


def ring_scores(
    embeddings: Tensor, anchors: Tensor, rings: KHopRings, dist: Distance, memory_budget: int
) -> Tensor:
    """Score ``s(z_anchor, z_node)`` of every ring entry, ``[P]`` (CPU).

    Inner-product distances use a sampled dense-dense product over the ring
    pattern (``torch.sparse.sampled_addmm``), which gathers each anchor row once;
    others gather both rows in cache-sized chunks into reused buffers.
    """
    p = rings.node.numel()
    x = embeddings.detach().cpu()
    if p == 0:
        return torch.empty(0, dtype=x.dtype)
    if dist.is_inner_product:
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            pattern = torch.sparse_csr_tensor(
                rings.ptr,
                rings.node,
                torch.zeros(p, dtype=x.dtype),
                (anchors.numel(), x.shape[0]),
                check_invariants=False,  # rings are valid CSR by construction
            )
        dots = torch.sparse.sampled_addmm(pattern, x[anchors], x.T, beta=0.0).values()
        if dist.name != "cosine":
            return dots
        # cos = x.y / (max(|x|, eps) max(|y|, eps)), as CosineSimilarity, without
        # writing a normalised copy of the whole table.
        norms = torch.linalg.vector_norm(x, dim=1).clamp_min(COSINE_EPS)
        return dots / (norms[anchors][rings.anchor] * norms[rings.node])
    step = int(min(p, max(1, min(memory_budget // (4 * x.shape[1] * x.element_size()), 8192))))
    xa = torch.empty(step, x.shape[1], dtype=x.dtype)
    xn = torch.empty_like(xa)
    out = torch.empty(p, dtype=x.dtype)
    a_node = anchors.to(torch.int64)[rings.anchor]
    for p0 in range(0, p, step):
        p1 = min(p, p0 + step)
        torch.index_select(x, 0, a_node[p0:p1], out=xa[: p1 - p0])
        torch.index_select(x, 0, rings.node[p0:p1], out=xn[: p1 - p0])
        out[p0:p1] = dist.score_paired(
            xa[: p1 - p0], xn[: p1 - p0], names=("embeddings", "embeddings")
        )
    return out


@torch.no_grad()
def khop_negatives(
    embeddings: Tensor,
    graph: CSR | Tensor,
    anchors: Tensor,
    k: int,
    *,
    hops: int = 2,
    distance: str | Distance = "cosine",
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> MiningResult:
    """The ``k`` closest nodes at distance ``2..hops`` from each anchor.

    Args:
        embeddings: ``[N, d]`` node embeddings.
        graph: :class:`~contrastkit.graph.csr.CSR` or ``edge_index [2, E]`` (undirected).
        anchors: ``[B]`` node ids.
        k: negatives per anchor; hops: ball radius (default 2, as in the design).
        chunk_size: anchors expanded together (see ``k_hop_rings``).

    Returns:
        :class:`MiningResult` ``[B, k]`` (masked where the ring has fewer nodes).
    """
    check_float_tensor("embeddings", embeddings, ndim=2)
    check_positive_int("k", k)
    check_positive_int("hops", hops)
    check_tensor("anchors", anchors, ndim=1)
    n = embeddings.shape[0]
    check_index_range("anchors", anchors, n)
    csr = as_csr(graph, n)
    if hops >= 2:
        rings = k_hop_rings(
            csr, anchors.cpu(), hops, min_hop=2, chunk_size=chunk_size, sort_nodes=False
        )
    else:  # hops = 1: the ring 2..1 is empty for every anchor
        empty = torch.zeros(0, dtype=torch.int64)
        ptr = torch.zeros(anchors.numel() + 1, dtype=torch.int64)
        rings = KHopRings(ptr=ptr, anchor=empty, node=empty, hop=empty)
    scores = ring_scores(embeddings, anchors.cpu(), rings, get_distance(distance), memory_budget)
    # Checking the scores instead of the whole table: a non-finite row that takes
    # part (an anchor or a ring node) makes its scores non-finite.
    check_finite("embeddings", scores)
    check_finite("embeddings", embeddings[anchors])
    top, pos = segment_topk(rings.anchor, scores, anchors.numel(), k, memory_budget)
    if rings.node.numel():
        idx = torch.where(pos >= 0, rings.node[pos.clamp_min(0)], -1)
    else:
        idx = torch.full_like(pos, -1)
    dev = embeddings.device
    report = MiningReport(strategy=f"khop{hops}")
    return finalize(top.to(dev), top.to(dev), idx.to(dev), None, report)


@torch.no_grad()
def edge_hard_triplets(
    embeddings: Tensor,
    edge_index: Tensor,
    k: int,
    *,
    graph: CSR | Tensor | None = None,
    distance: str | Distance = "cosine",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor, MiningResult]:
    """Triplets ``(u, v, n)`` from edges ``edge_index [2, E]``: ``n`` are the ``k``
    closest nodes to ``u`` that are not ``u`` and not its neighbours in ``graph``
    (default: the edges themselves, undirected).

    Returns:
        ``(anchors [E], positives [E], MiningResult [E, k])``; the result's
        difficulty is ``s(u, n) - s(u, v) + 1``.
    """
    _check_embeddings(embeddings)
    n = embeddings.shape[0]
    check_tensor("edge_index", edge_index, ndim=2)
    csr = as_csr(graph if graph is not None else edge_index, n)
    check_index_range("edge_index", edge_index, n)
    u, v = edge_index[0].to(torch.int64), edge_index[1].to(torch.int64)
    ex = build_exclusions(u.numel(), n, query_ids=u, edges=csr)
    res = mine(
        embeddings[u],
        embeddings,
        k,
        "hardest",
        positives=embeddings[v],
        exclusions=ex,
        distance=distance,
        memory_budget=memory_budget,
    )
    return u, v, res
