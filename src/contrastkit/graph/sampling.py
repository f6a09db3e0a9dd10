"""Uniform neighbour sampling without replacement, a fan-out per layer (GraphSAGE-style).

For a node :math:`v` with in-neighbours :math:`\\mathcal N(v)` and fan-out
:math:`k`, one hop draws :math:`\\min(k, |\\mathcal N(v)|)` distinct neighbours
uniformly at random,

.. math::
    S(v) \\sim \\mathrm{Uniform}\\{S \\subseteq \\mathcal N(v) :
    |S| = \\min(k, |\\mathcal N(v)|)\\}.

All nodes of a hop are sampled at once. Rows with at most :math:`k`
neighbours are kept whole. For the others, Floyd's algorithm draws a
uniform :math:`k`-subset of positions :math:`0..d-1` for every row together —
for slot :math:`i = 0..k-1`, with :math:`j = d - k + i`, draw :math:`t` uniform in
:math:`[0, j]` and take :math:`j` instead if :math:`t` was already taken — a
loop over the :math:`k` slots, not over nodes, costing :math:`O(k)` per row
(an int64 bitmask of taken positions) up to degree 64 and :math:`O(k^2)` above,
whatever the degree (hubs are free). Fan-outs above 32 switch to random keys with
a segment sort (one int64 sort of the over-full rows' edges). No Python loop over
nodes either way.

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
_FLOYD_MAX_FANOUT = 32


def sampling_csr(edge_index: Tensor, num_nodes: int | None = None) -> CSR:
    """In-neighbour adjacency: row ``v`` lists the sources ``u`` of edges ``u -> v``
    (duplicates merged). ``edge_index``: ``[2, E]`` in PyG's source -> target layout."""
    check_tensor("edge_index", edge_index, ndim=2)
    return to_csr(edge_index.flip(0), num_nodes)


_BITMASK_MAX_DEGREE = 64


def _floyd_resolve_bitmask(t: Tensor, j: Tensor) -> None:
    """Floyd's collision rule with the taken positions of each row in one int64 bitmask
    (every position < 64): a constant number of ops per slot."""
    taken = torch.zeros(t.shape[1], dtype=torch.int64, device=t.device)
    one = torch.ones_like(taken)
    for i in range(t.shape[0]):  # slots of the fan-out, not nodes
        hit = (taken & torch.bitwise_left_shift(one, t[i])) != 0
        t[i] = torch.where(hit, j[i], t[i])
        taken |= torch.bitwise_left_shift(one, t[i])


def _floyd_resolve_compare(t: Tensor, j: Tensor) -> None:
    """Floyd's collision rule by comparing each slot with the earlier ones."""
    for i in range(1, t.shape[0]):
        hit = (t[:i] == t[i]).any(dim=0)
        t[i] = torch.where(hit, j[i], t[i])


def _floyd_positions(deg: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """``[R, k]`` distinct positions in ``[0, max(deg[r], k))`` for every row, each row a
    uniform ``k``-subset (R. W. Floyd, "A sample of brilliance", CACM 1987).

    Slot ``i`` draws ``t`` uniform in ``[0, j]``, ``j = d - k + i``, and takes ``j`` instead
    when ``t`` is taken; ``j`` itself can never be taken, since earlier slots stay below it.
    """
    d = deg.clamp_min(k)
    # Slot-major layout: every slot is one contiguous row of R entries.
    j = d.unsqueeze(0) - k + torch.arange(k, device=deg.device).unsqueeze(1)
    u = torch.rand((k, deg.numel()), generator=gen, dtype=torch.float64)
    t = torch.minimum((u * (j + 1).to(torch.float64)).to(torch.int64), j)
    low = d <= _BITMASK_MAX_DEGREE
    if bool(low.all()):
        _floyd_resolve_bitmask(t, j)
    elif not bool(low.any()):
        _floyd_resolve_compare(t, j)
    else:
        lo, hi = torch.nonzero(low).flatten(), torch.nonzero(~low).flatten()
        t_lo, t_hi = t[:, lo], t[:, hi]
        _floyd_resolve_bitmask(t_lo, j[:, lo])
        _floyd_resolve_compare(t_hi, j[:, hi])
        t[:, lo], t[:, hi] = t_lo, t_hi
    return t.t()


def _random_key_positions(
    csr: CSR, rows: Tensor, k: int, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Segment-sort sampling of ``k`` neighbours for each of ``rows`` (all have ``deg > k``)."""
    owner, nbr = gather_neighbors(csr, rows)
    rand = torch.randint(0, 1 << _KEY_BITS, (owner.numel(),), generator=gen)
    # owner is non-decreasing, so one sort of (owner, key) shuffles within each row.
    order = torch.sort((owner << _KEY_BITS) | rand, stable=True).indices
    owner, nbr = owner[order], nbr[order]
    counts = torch.bincount(owner, minlength=rows.numel())
    start = torch.cumsum(counts, 0) - counts
    keep = torch.arange(owner.numel(), device=rows.device) - start[owner] < k
    return owner[keep], nbr[keep]


def check_fanout(name: str, fanout: object) -> int:
    """A fan-out: an ``int >= 0``, or ``-1`` for all neighbours."""
    if isinstance(fanout, bool) or not isinstance(fanout, int):
        raise TypeError(
            f"{name} must be an int >= -1 (-1 = all neighbours), got {type(fanout).__name__} "
            f"{fanout!r}"
        )
    if fanout < -1:
        raise ValueError(f"{name} must be an int >= -1 (-1 = all neighbours), got {fanout}")
    return fanout


def check_fanouts(fanouts: object, name: str = "fanouts") -> list[int]:
    """A non-empty sequence of fan-outs (see :func:`check_fanout`), one per layer."""
    if isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {type(fanouts).__name__}")
    if len(fanouts) == 0:
        raise ValueError(f"{name} must name at least one layer")
    return [check_fanout(f"{name}[{i}]", f) for i, f in enumerate(fanouts)]


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
        ``neighbor[j]`` was drawn. Entries are grouped by owner for ``fanout <= 32``;
        above, whole rows (``deg <= fanout``) come first, then the sampled ones.
    """
    check_fanout("fanout", fanout)
    check_tensor("nodes", nodes, ndim=1)
    check_index_range("nodes", nodes, csr.num_nodes)
    return _sample_hop(csr, nodes.to(torch.int64), fanout, as_generator(generator))


def _sample_hop(
    csr: CSR, nodes: Tensor, fanout: int, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """:func:`sample_neighbors` without the input checks (callers pass valid int64 ids)."""
    if fanout < 0:
        return gather_neighbors(csr, nodes)
    start = csr.rowptr.index_select(0, nodes)
    deg = csr.rowptr.index_select(0, nodes + 1) - start
    if fanout <= _FLOYD_MAX_FANOUT:
        # Rows with deg <= fanout get a permutation of 0..fanout-1; positions >= deg are
        # masked out, which keeps the whole row without a separate code path.
        picks = _floyd_positions(deg, fanout, gen)
        flat = (start.unsqueeze(1) + picks).reshape(-1)
        valid = (picks < deg.unsqueeze(1)).reshape(-1)
        if bool(valid.all()):
            owner = torch.arange(flat.numel(), device=nodes.device) // fanout
        else:
            keep = torch.nonzero(valid).flatten()
            owner, flat = keep // fanout, flat.index_select(0, keep)
        return owner, csr.col.index_select(0, flat)
    small = deg <= fanout
    if bool(small.all()):
        return gather_neighbors(csr, nodes)
    small_pos = torch.nonzero(small).flatten()
    big_pos = torch.nonzero(~small).flatten()
    owner_s, nbr_s = gather_neighbors(csr, nodes[small_pos])
    owner_b, nbr_b = _random_key_positions(csr, nodes[big_pos], fanout, gen)
    return torch.cat([small_pos[owner_s], big_pos[owner_b]]), torch.cat([nbr_s, nbr_b])


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
    fanouts = check_fanouts(fanouts)
    gen = as_generator(generator)
    mapping = NodeMap(seeds, csr.num_nodes)
    n_parts, src_parts, dst_parts = [seeds], [], []
    frontier, frontier_local = seeds, torch.arange(seeds.numel(), device=seeds.device)
    num_nodes, num_edges = [int(seeds.numel())], []
    for fanout in fanouts:
        owner, nbr = _sample_hop(csr, frontier, fanout, gen)
        local, new = mapping._extend(nbr)
        new_local = torch.arange(mapping.size - new.numel(), mapping.size)
        src_parts.append(local)
        dst_parts.append(frontier_local.index_select(0, owner))
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
