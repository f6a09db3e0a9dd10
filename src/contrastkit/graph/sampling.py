"""Uniform neighbour sampling without replacement, a fan-out per layer (GraphSAGE-style).

For a node :math:`v` with in-neighbours :math:`\\mathcal N(v)` and fan-out
:math:`k`, one hop draws :math:`\\min(k, |\\mathcal N(v)|)` distinct neighbours
uniformly at random,

.. math::
    S(v) \\sim \\mathrm{Uniform}\\{S \\subseteq \\mathcal N(v) :
    |S| = \\min(k, |\\mathcal N(v)|)\\}.

All nodes of a hop are sampled at once by *random keys with a segment sort*:
each candidate edge of an over-full row gets a random 31-bit key, the
``(row, key)`` pairs are sorted as one int64, and the first ``k`` of each row are
kept — the first ``k`` of a uniformly random permutation. Rows with at most
``k`` neighbours are kept whole without drawing anything. Cost: one gather
and one sort of the over-full rows' edges per hop; no Python loop over nodes.

Neighbours are *in*-neighbours — the sources of edges into ``v`` — because
those are the nodes whose messages PyG layers aggregate at ``v``. Build the
sampling adjacency with :func:`sampling_csr`.

Example:
    >>> ei = torch.tensor([[1, 2, 3, 0, 0], [0, 0, 0, 1, 2]])
    >>> sub = neighbor_sample(sampling_csr(ei, 4), torch.tensor([0]), [2], generator=0)
    >>> sub.batch_size, sub.num_sampled_nodes[0], sub.edge_index.shape[1]
    (1, 1, 2)

Reference: W. Hamilton, R. Ying, J. Leskovec, "Inductive Representation Learning on Large
Graphs" (GraphSAGE), NeurIPS 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastkit._validation import check_index_range, check_tensor
from contrastkit.graph.csr import CSR, gather_neighbors, to_csr
from contrastkit.graph.rng import GeneratorLike, as_generator
from contrastkit.graph.subgraph import NodeMap, SampledSubgraph

_KEY_BITS = 31


def sampling_csr(edge_index: Tensor, num_nodes: int | None = None) -> CSR:
    """In-neighbour adjacency: row ``v`` lists the sources ``u`` of edges ``u -> v``
    (duplicates merged). ``edge_index``: ``[2, E]`` in PyG's source -> target layout."""
    check_tensor("edge_index", edge_index, ndim=2)
    return to_csr(edge_index.flip(0), num_nodes)


def sample_neighbors(
    csr: CSR, nodes: Tensor, fanout: int, generator: GeneratorLike | None = None
) -> tuple[Tensor, Tensor]:
    """One hop: up to ``fanout`` distinct neighbours of every node in ``nodes``.

    Args:
        csr: adjacency (see :func:`sampling_csr`).
        nodes: ``[M]`` int64 node ids.
        fanout: neighbours per node; ``-1`` keeps all of them.
        generator: ``torch.Generator`` or int seed (default seed 0).

    Returns:
        ``(owner [P], neighbor [P])``: ``owner[j]`` is the position in ``nodes`` for which
        ``neighbor[j]`` was drawn. Rows with ``deg <= fanout`` come first, whole and sorted
        by neighbour id; the sampled rows follow, each in random order.
    """
    if isinstance(fanout, bool) or not isinstance(fanout, int) or fanout < -1:
        raise ValueError(f"fanout must be an int >= -1 (-1 = all neighbours), got {fanout!r}")
    check_tensor("nodes", nodes, ndim=1)
    check_index_range("nodes", nodes, csr.num_nodes)
    owner, nbr = gather_neighbors(csr, nodes)
    if fanout < 0:
        return owner, nbr
    nodes = nodes.to(torch.int64)
    deg = csr.rowptr[nodes + 1] - csr.rowptr[nodes]
    full_row = deg[owner] > fanout
    if not bool(full_row.any()):
        return owner, nbr
    gen = as_generator(generator)
    big_owner, big_nbr = owner[full_row], nbr[full_row]
    rand = torch.randint(0, 1 << _KEY_BITS, (big_owner.numel(),), generator=gen)
    # big_owner is non-decreasing, so one sort of (owner, key) shuffles within each row.
    order = torch.sort((big_owner << _KEY_BITS) | rand, stable=True).indices
    big_owner, big_nbr = big_owner[order], big_nbr[order]
    counts = torch.bincount(big_owner, minlength=nodes.numel())
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(big_owner.numel(), device=nodes.device) - start[big_owner]
    keep = rank < fanout
    owner = torch.cat([owner[~full_row], big_owner[keep]])
    nbr = torch.cat([nbr[~full_row], big_nbr[keep]])
    return owner, nbr


def _check_seeds(csr: CSR, seeds: Tensor) -> Tensor:
    check_tensor("seeds", seeds, ndim=1)
    check_index_range("seeds", seeds, csr.num_nodes)
    seeds = seeds.to(torch.int64)
    if torch.unique(seeds).numel() != seeds.numel():
        raise ValueError("seeds must be distinct node ids")
    return seeds


def neighbor_sample(
    csr: CSR,
    seeds: Tensor,
    fanouts: Sequence[int],
    *,
    generator: GeneratorLike | None = None,
) -> SampledSubgraph:
    """Multi-hop neighbour sampling around ``seeds``, relabelled for PyG layers.

    Hop ``h`` samples ``fanouts[h]`` neighbours of every node first reached at hop
    ``h - 1`` (the seeds at hop 1); nodes met again are not expanded again — the
    non-disjoint mode of PyG's ``NeighborLoader``.

    Args:
        csr: in-neighbour adjacency from :func:`sampling_csr`.
        seeds: ``[B]`` distinct int64 node ids.
        fanouts: one fan-out per layer (``-1`` = all neighbours).
        generator: ``torch.Generator`` or int seed (default seed 0).

    Returns:
        :class:`~contrastkit.graph.subgraph.SampledSubgraph`; a GNN with
        ``len(fanouts)`` layers run on it gives the seeds' outputs in ``out[:B]``.
    """
    seeds = _check_seeds(csr, seeds)
    if len(fanouts) == 0:
        raise ValueError("fanouts must name at least one layer")
    gen = as_generator(generator)
    mapping = NodeMap(seeds)
    n_parts, src_parts, dst_parts = [seeds], [], []
    frontier, frontier_local = seeds, torch.arange(seeds.numel(), device=seeds.device)
    num_nodes, num_edges = [int(seeds.numel())], []
    for fanout in fanouts:
        owner, nbr = sample_neighbors(csr, frontier, fanout, gen)
        new = torch.unique(nbr[~mapping.contains(nbr)])
        new_local = mapping.add(new)
        src_parts.append(mapping(nbr))
        dst_parts.append(frontier_local[owner])
        n_parts.append(new)
        num_nodes.append(int(new.numel()))
        num_edges.append(int(nbr.numel()))
        frontier, frontier_local = new, new_local
    edge_index = torch.stack([torch.cat(src_parts), torch.cat(dst_parts)])
    return SampledSubgraph(
        n_id=torch.cat(n_parts),
        edge_index=edge_index,
        batch_size=int(seeds.numel()),
        num_sampled_nodes=num_nodes,
        num_sampled_edges=num_edges,
    )
