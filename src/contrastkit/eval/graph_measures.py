r"""Graph structure seen through an embedding: modularity of its clusters and
triangle-closure accuracy.

**Modularity** of a partition :math:`c` of an undirected graph (Newman 2006):

.. math::
    Q = \frac{1}{2m}\sum_{ij}\Big(A_{ij} - \gamma\frac{k_i k_j}{2m}\Big)\delta(c_i, c_j)
      = \sum_c \Big[\frac{L_c}{m} - \gamma\Big(\frac{d_c}{2m}\Big)^2\Big]

with :math:`L_c` the weight of edges inside ``c`` and :math:`d_c` its total degree,
computed from the edge list in one pass (equal to
``networkx.algorithms.community.modularity``; directed graphs use
:math:`\sum_c L_c/m - \gamma\, d^{out}_c d^{in}_c / m^2`).
:func:`embedding_modularity` clusters the embedding with k-means and scores the
clusters on the graph.

**Triangle closure.** A *wedge* ``u - v - w`` is a path of two edges with
``u != w``; it is *closed* when ``u - w`` is an edge too. The triangle-closure
accuracy is the probability that the embedding scores the endpoints of a random
closed wedge closer than those of a random open one (ties count 1/2), i.e. the
ROC-AUC of :math:`s(u, w)` for closed vs open wedges. With
``closure_edge_index`` (held-out edges) wedges are taken from the training graph,
those already closed in it are dropped, and a wedge counts as closed when its
``u - w`` edge is held out: the accuracy of predicting triadic closure.
Wedges are enumerated exactly when there are at most ``max_wedges`` of them
(unordered), otherwise ``max_wedges`` are drawn uniformly from ``seed``.

Example:
    >>> ei = torch.tensor([[0, 1, 2, 3, 4, 5, 2], [1, 2, 0, 4, 5, 3, 3]])
    >>> round(modularity(ei, torch.tensor([0, 0, 0, 1, 1, 1])), 4)
    0.3571

References: Newman, "Modularity and community structure in networks", PNAS 2006;
Granovetter, "The Strength of Weak Ties", 1973 (triadic closure).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_length,
    check_positive,
    check_positive_int,
    check_tensor,
)
from contrastkit.eval.binary import roc_auc
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.graph.csr import degrees, has_edge, to_csr
from contrastkit.mining.kmeans import kmeans


def modularity(
    edge_index: Tensor,
    communities: Tensor,
    *,
    edge_weight: Tensor | None = None,
    resolution: float = 1.0,
    directed: bool = False,
) -> float:
    """Modularity of the partition ``communities`` ``[N]`` of the graph ``[2, E]``.

    Undirected (default): ``(u, v)`` and ``(v, u)`` are one edge, duplicates are
    merged (their weights averaged). A self-loop adds its weight once to ``L_c``
    and twice to the degree, as networkx.
    """
    labels = check_tensor("communities", communities, ndim=1)
    if labels.is_floating_point():
        raise TypeError(f"communities must be an integer tensor, got dtype {labels.dtype}")
    n = labels.numel()
    ei = check_edge_index("edge_index", edge_index, n).to(torch.int64)
    check_positive("resolution", resolution, allow_zero=True)
    w = torch.ones(ei.shape[1], dtype=torch.float64)
    if edge_weight is not None:
        w = check_float_tensor("edge_weight", edge_weight, ndim=1).to(torch.float64)
        check_length("edge_weight", w, ei.shape[1])
        if w.numel() and bool((w < 0).any()):
            raise ValueError(f"edge_weight must be non-negative, got min {float(w.min())}")
    u, v = (ei[0], ei[1]) if directed else (ei.min(0).values, ei.max(0).values)
    keys, inverse = torch.unique(u * max(n, 1) + v, return_inverse=True)
    wsum = torch.zeros(keys.numel(), dtype=torch.float64).index_add_(0, inverse, w)
    w = wsum / torch.bincount(inverse, minlength=keys.numel()).to(torch.float64)
    u, v = torch.div(keys, max(n, 1), rounding_mode="floor"), keys % max(n, 1)
    m = float(w.sum())
    if m <= 0:
        raise ValueError("edge_index has no edges of positive weight: modularity is undefined")
    _, comm = torch.unique(labels, return_inverse=True)
    intra = float(w[comm[u] == comm[v]].sum())
    k = int(comm.max()) + 1
    d_out = torch.zeros(k, dtype=torch.float64).index_add_(0, comm[u], w)
    d_in = torch.zeros(k, dtype=torch.float64).index_add_(0, comm[v], w)
    if directed:
        return intra / m - resolution * float((d_out * d_in).sum()) / m**2
    deg = d_out + d_in
    return intra / m - resolution * float((deg * deg).sum()) / (4.0 * m**2)


def embedding_modularity(
    embeddings: Tensor, edge_index: Tensor, num_clusters: int, *, seed: int = 0
) -> dict[str, float]:
    """k-means the embedding ``[N, d]`` into ``num_clusters`` and return the clusters'
    modularity on the undirected graph ``[2, E]``: ``{"modularity", "num_clusters"}``."""
    x = check_float_tensor("embeddings", embeddings, ndim=2)
    check_edge_index("edge_index", edge_index, x.shape[0])
    if num_clusters > x.shape[0]:
        raise ValueError(
            f"num_clusters must be <= the number of nodes {x.shape[0]}, got {num_clusters}"
        )
    gen = torch.Generator().manual_seed(seed)
    labels, _ = kmeans(x, num_clusters, distance="sqeuclidean", generator=gen, num_iters=100)
    return {
        "modularity": modularity(edge_index, labels),
        "num_clusters": float(torch.unique(labels).numel()),
    }


def wedges(edge_index: Tensor, num_nodes: int, max_wedges: int, *, seed: int = 0) -> Tensor:
    """Wedges ``[3, W]`` (rows ``u, v, w``: centre ``v``) of the undirected graph: all
    unordered wedges if there are at most ``max_wedges``, else a uniform sample."""
    check_positive_int("max_wedges", max_wedges)
    csr = to_csr(edge_index, num_nodes, undirected=True, remove_self_loops=True)
    deg = degrees(csr)
    pairs = deg * (deg - 1) // 2
    total = int(pairs.sum())
    if total <= max_wedges:
        centre = torch.repeat_interleave(torch.arange(num_nodes), pairs)
        t = torch.arange(total) - (torch.cumsum(pairs, 0) - pairs)[centre]
        # Invert t = j (j - 1) / 2 + i with 0 <= i < j (triangular numbering).
        j = torch.floor((1.0 + torch.sqrt(1.0 + 8.0 * t.to(torch.float64))) / 2.0).to(torch.int64)
        j = j - (j * (j - 1) // 2 > t).long()
        i = t - j * (j - 1) // 2
    else:
        gen = torch.Generator().manual_seed(seed)
        centre = torch.multinomial(
            pairs.to(torch.float64), max_wedges, replacement=True, generator=gen
        )
        d = deg[centre].to(torch.float64)
        i = torch.floor(torch.rand(max_wedges, generator=gen, dtype=torch.float64) * d).long()
        j = torch.floor(torch.rand(max_wedges, generator=gen, dtype=torch.float64) * (d - 1)).long()
        j = j + (j >= i).long()
    start = csr.rowptr[centre]
    return torch.stack([csr.col[start + i], centre, csr.col[start + j]])


def triangle_closure_accuracy(
    embeddings: Tensor,
    edge_index: Tensor,
    *,
    closure_edge_index: Tensor | None = None,
    distance: str | Distance = "cosine",
    max_wedges: int = 200_000,
    seed: int = 0,
) -> dict[str, float]:
    """Probability that a closed wedge's endpoints score closer than an open one's.

    Args:
        embeddings: ``[N, d]``.
        edge_index: ``[2, E]`` graph (undirected) whose wedges are examined.
        closure_edge_index: optional ``[2, H]`` held-out edges that define closure.
        distance: name or :class:`Distance`; default ``"cosine"``.
        max_wedges: exact enumeration up to this many wedges, else a sample; default 200k.
        seed: seed of the sample.

    Returns:
        ``{"accuracy", "closed_fraction", "num_wedges"}``.
    """
    x = check_float_tensor("embeddings", embeddings, ndim=2)
    n = x.shape[0]
    ei = check_edge_index("edge_index", edge_index, n)
    wd = wedges(ei, n, max_wedges, seed=seed)
    if wd.shape[1] == 0:
        raise ValueError("edge_index has no wedges (paths u-v-w): triangle closure is undefined")
    graph = to_csr(ei, n, undirected=True, remove_self_loops=True)
    closed = has_edge(graph, wd[0], wd[2])
    if closure_edge_index is not None:
        held = to_csr(
            check_edge_index("closure_edge_index", closure_edge_index, n), n, undirected=True
        )
        wd = wd[:, ~closed]
        closed = has_edge(held, wd[0], wd[2])
    n_closed = int(closed.sum())
    if n_closed == 0 or n_closed == closed.numel():
        kind = "closed" if n_closed == 0 else "open"
        raise ValueError(f"no {kind} wedges in edge_index: triangle closure accuracy is undefined")
    with torch.no_grad():
        scores = get_distance(distance).score_paired(x[wd[0]], x[wd[2]])
    return {
        "accuracy": roc_auc(scores, closed),
        "closed_fraction": n_closed / closed.numel(),
        "num_wedges": float(closed.numel()),
    }
