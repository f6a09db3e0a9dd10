r"""Distance preservation (stress): embedding distances against graph hop distances.

For sampled node pairs :math:`(i, j)` with target distances :math:`t_{ij} > 0`
(usually shortest-path hop counts from :func:`hop_distance_pairs`) the loss is the
metric-MDS stress

.. math::

    \ell = \frac{1}{|P|} \sum_{(i,j) \in P} w_{ij}\,\big(d(z_i, z_j) - t_{ij}\big)^2,
    \qquad w_{ij} = t_{ij}^{-2} \;(\text{normalised, default}) \text{ or } 1,

where :math:`d` is a true metric: Euclidean or Poincaré (the hyperbolic embedding of
a graph's hop distances). The weight :math:`t^{-2}` makes the error relative (as in
Kruskal's normalised stress) so that long distances do not swamp short ones; it is
the weighting of stress majorisation (Gansner, Koren & North 2004). Pairs whose
target is 0 (a node with itself), NaN or :math:`+\infty` (unreachable, as scipy's
``shortest_path`` reports) are ignored. Cost: O(P d).

References: Kruskal (1964), Multidimensional scaling by optimizing goodness of fit;
Gansner, Koren & North (2004), Graph drawing by stress majorization.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_index_range,
    check_length,
    check_positive_int,
    check_tensor,
)
from contrastkit.functional.distances import Distance, L2Distance, PoincareDistance, get_distance
from contrastkit.functional.reduction import Reduction, check_reduction, reduce_loss
from contrastkit.graph.csr import to_csr
from contrastkit.graph.khop import k_hop_rings

METRIC_NAMES: tuple[str, ...] = ("euclidean", "l2", "poincare")


def check_metric(distance: str | Distance) -> Distance:
    """Resolve ``distance`` and refuse anything that is not a metric (Euclidean, Poincaré)."""
    if isinstance(distance, str) and distance not in METRIC_NAMES:
        raise ValueError(
            f"distance must be a metric, one of {list(METRIC_NAMES)} (or an L2Distance / "
            f"PoincareDistance instance), got {distance!r}"
        )
    dist = get_distance(distance)
    if not isinstance(dist, (L2Distance, PoincareDistance)):
        raise ValueError(
            f"distance must be a metric, one of {list(METRIC_NAMES)} (or an L2Distance / "
            f"PoincareDistance instance), got {dist!r}"
        )
    return dist


def distance_preservation_loss(
    z: Tensor,
    pairs: Tensor,
    target: Tensor,
    *,
    distance: str | Distance = "euclidean",
    normalized: bool = True,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Stress :math:`\operatorname{mean}_{(i,j)} (d(z_i, z_j) - t_{ij})^2 / t_{ij}^2`.

    Args:
        z: node embeddings ``[N, d]``.
        pairs: ``LongTensor [2, P]`` node pairs with ids in ``[0, N)``.
        target: target distances ``[P]`` (floating point, or integer hop counts,
            converted to ``z.dtype``); must not be negative. Entries equal to 0, NaN or
            :math:`+\infty` are ignored.
        distance: ``"euclidean"`` (default; alias ``"l2"``), ``"poincare"``, or an
            :class:`~contrastkit.functional.distances.L2Distance` /
            :class:`~contrastkit.functional.distances.PoincareDistance` instance (e.g.
            another curvature). Other distances are not metrics and are refused.
        normalized: weight each pair by :math:`1/t_{ij}^2` (default True) or by 1.
        reduction: ``"mean"`` over the kept pairs (default), ``"sum"`` or ``"none"``
            (``[P]``, 0 at ignored pairs).

    Returns:
        a scalar (``[P]`` for ``"none"``); an attached 0 when no pair is kept.

    >>> z = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    >>> pairs, hops = torch.tensor([[0, 0, 1], [1, 2, 1]]), torch.tensor([2, 2, 0])
    >>> distance_preservation_loss(z, pairs, hops).item()  # ((3-2)²/4 + 0) / 2
    0.125
    """
    z = check_float_tensor("z", z, ndim=2)
    pairs = check_edge_index("pairs", pairs, z.shape[0])
    target = check_tensor("target", target, ndim=1)
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target must be a real number tensor, got dtype {target.dtype}")
    check_length("target", target, pairs.shape[1], what="entries (one per pair)")
    dist = check_metric(distance)
    check_reduction(reduction)
    target = target.to(z.dtype)
    if target.numel() and bool((target < 0).any()):
        raise ValueError(f"target must be non-negative, got min {float(target.min())}")
    valid = (target > 0) & torch.isfinite(target)
    # ignored pairs get target 1 so that neither the value nor its gradient is inf/NaN
    safe = torch.where(valid, target, torch.ones_like(target))
    d = dist.paired(z.index_select(0, pairs[0]), z.index_select(0, pairs[1]), names=("z", "z"))
    err = (d - safe) / safe if normalized else d - safe
    return reduce_loss(err.square(), reduction, valid=valid)


def hop_distance_pairs(
    edge_index: Tensor,
    num_nodes: int,
    sources: Tensor,
    max_hops: int,
    *,
    undirected: bool = True,
) -> tuple[Tensor, Tensor]:
    """Shortest-path hop distances from ``sources`` to every node within ``max_hops``.

    A level-synchronous breadth-first search from all sources at once (CSR frontier
    expansion, :func:`~contrastkit.graph.khop.k_hop_rings`): no Python loop over
    nodes or edges, only over the hops. Nodes farther than ``max_hops`` (or
    unreachable) are not listed; the source itself (hop 0) is left out.

    Args:
        edge_index: ``LongTensor [2, E]`` with ids in ``[0, num_nodes)``.
        num_nodes: ``N`` (>= 0).
        sources: ``[S]`` int64 node ids (repeats allowed: each is its own BFS).
        max_hops: largest hop distance kept (> 0).
        undirected: treat every edge as undirected (default True); False follows
            edges from ``edge_index[0]`` to ``edge_index[1]`` only.

    Returns:
        ``(pairs [2, P], hops [P])``: ``pairs[0]`` the source node, ``pairs[1]`` a node
        at hop distance ``hops`` (int64, in ``[1, max_hops]``) from it; grouped by
        source position, then sorted by hop and node. Feed them to
        :func:`distance_preservation_loss` as ``pairs`` and ``target``.

    >>> path = torch.tensor([[0, 1, 2], [1, 2, 3]])
    >>> pairs, hops = hop_distance_pairs(path, 4, torch.tensor([1]), 2)
    >>> pairs.tolist(), hops.tolist()
    ([[1, 1, 1], [0, 2, 3]], [1, 1, 2])

    Reference: Cormen et al., Introduction to Algorithms, ch. 22.2 (breadth-first search).
    """
    check_positive_int("num_nodes", num_nodes, allow_zero=True)
    check_edge_index("edge_index", edge_index, num_nodes)
    check_tensor("sources", sources, ndim=1)
    check_index_range("sources", sources, num_nodes)
    check_positive_int("max_hops", max_hops)
    sources = sources.to(torch.int64)
    csr = to_csr(edge_index, num_nodes, undirected=undirected)
    rings = k_hop_rings(csr, sources, max_hops, min_hop=1)
    pairs = torch.stack([sources.index_select(0, rings.anchor), rings.node])
    return pairs, rings.hop
