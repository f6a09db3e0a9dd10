"""Sampled mini-batch subgraphs in PyG's layout, and induced subgraphs.

A :class:`SampledSubgraph` is what PyG's ``NeighborLoader`` hands a model:
global ids ``n_id`` (the ``batch_size`` seeds first), an ``edge_index``
relabelled to positions in ``n_id`` with row 0 the neighbour (message source)
and row 1 the node it was sampled for (message target), so that any PyG layer
run on it computes the seeds' outputs from their sampled neighbourhoods; the
seeds' outputs are ``out[:batch_size]``.

Example:
    >>> ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    >>> sub, mask = induced_subgraph(ei, torch.tensor([3, 0, 1]))
    >>> sub.tolist(), mask.tolist()
    ([[1, 0], [2, 1]], [True, False, False, True])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_index_range,
    check_integer_tensor,
    check_positive_int,
    check_tensor,
    index_bounds,
)


@dataclass(frozen=True)
class SampledSubgraph:
    """A relabelled mini-batch subgraph.

    Attributes:
        n_id: ``[n]`` int64 global node ids; ``n_id[:batch_size]`` are the seeds, then the
            nodes first reached at hop 1, hop 2, ... (within a hop in order of first
            appearance among the sampled edges).
        edge_index: ``[2, e]`` int64 local ids; ``(edge_index[0, k], edge_index[1, k])`` is
            the global edge ``(n_id[src], n_id[dst])`` of the input graph.
        batch_size: number of seeds.
        num_sampled_nodes: nodes added per hop, ``[batch_size, hop1, ...]`` (sums to ``n``).
        num_sampled_edges: edges added per hop (sums to ``e``).
        x, y: optional node features ``[n, F]`` / labels ``[n]`` gathered for ``n_id``.
    """

    n_id: Tensor
    edge_index: Tensor
    batch_size: int
    num_sampled_nodes: list[int] = field(default_factory=list)
    num_sampled_edges: list[int] = field(default_factory=list)
    x: Tensor | None = None
    y: Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.n_id.numel())

    def global_edge_index(self) -> Tensor:
        """The sampled edges in global ids, ``[2, e]``."""
        return self.n_id[self.edge_index]

    def with_features(self, x: Tensor | None = None, y: Tensor | None = None) -> SampledSubgraph:
        """A copy with ``x[n_id]`` and ``y[n_id]`` attached (full-graph ``x`` ``[N, F]``, ``y``
        ``[N]``)."""
        return SampledSubgraph(
            n_id=self.n_id,
            edge_index=self.edge_index,
            batch_size=self.batch_size,
            num_sampled_nodes=list(self.num_sampled_nodes),
            num_sampled_edges=list(self.num_sampled_edges),
            x=x[self.n_id] if x is not None else self.x,
            y=y[self.n_id] if y is not None else self.y,
        )

    def to_pyg(self) -> Any:
        """A ``torch_geometric.data.Data`` with ``edge_index``, ``n_id``, ``batch_size``,
        ``num_sampled_nodes``, ``num_sampled_edges`` and ``x``/``y`` when present."""
        from torch_geometric.data import Data

        data = Data(edge_index=self.edge_index, num_nodes=self.num_nodes)
        data.n_id = self.n_id
        data.batch_size = self.batch_size
        data.num_sampled_nodes = list(self.num_sampled_nodes)
        data.num_sampled_edges = list(self.num_sampled_edges)
        if self.x is not None:
            data.x = self.x
        if self.y is not None:
            data.y = self.y
        return data


#: Graphs up to this many nodes use a dense ``[N]`` lookup table (8 bytes a node).
DENSE_MAP_LIMIT = 1 << 22


class NodeMap:
    """Global -> local id map of a growing node set.

    Given ``num_nodes <= DENSE_MAP_LIMIT``, a dense ``[N]`` table answers every lookup
    with one gather; otherwise (or without ``num_nodes``) the map is a sorted array
    searched by bisection (memory ``O(n)``, not ``O(N)``), so a batch on a huge graph
    never allocates a buffer the size of the graph.
    """

    def __init__(self, nodes: Tensor, num_nodes: int | None = None) -> None:
        check_integer_tensor("nodes", nodes, ndim=1)
        if num_nodes is not None:
            check_positive_int("num_nodes", num_nodes, allow_zero=True)
            check_index_range("nodes", nodes, num_nodes)
        elif nodes.numel() and (lo := index_bounds(nodes)[0]) < 0:
            raise ValueError(f"nodes has negative node ids: min {lo}")
        nodes = nodes.to(torch.int64)
        self.num_nodes = num_nodes
        self.size = int(nodes.numel())
        self.dense: Tensor | None = None
        if num_nodes is not None and num_nodes <= DENSE_MAP_LIMIT:
            self.dense = torch.full((num_nodes,), -1, dtype=torch.int64, device=nodes.device)
            self.dense[nodes] = torch.arange(self.size, device=nodes.device)
        self.sorted = self.local = nodes[:0]
        if self.dense is None:
            self.sorted, self.local = torch.sort(nodes)

    def _check_query(self, name: str, query: Tensor) -> Tensor:
        """Integer ids, in ``[0, num_nodes)`` when the map knows ``num_nodes`` (a dense
        table would wrap negative ids round and fail on large ones)."""
        check_integer_tensor(name, query)
        if self.num_nodes is not None:
            check_index_range(name, query, self.num_nodes)
        return query.to(torch.int64)

    def contains(self, query: Tensor) -> Tensor:
        """Bool mask of ``query``'s shape: which ids are mapped. ``query`` must lie in
        ``[0, num_nodes)`` when the map was built with ``num_nodes`` (else ``ValueError``)."""
        query = self._check_query("query", query)
        return self._contains(query)

    def _contains(self, query: Tensor) -> Tensor:
        if self.dense is not None:
            return self._dense_lookup(query) >= 0
        if self.size == 0:
            return torch.zeros(query.shape, dtype=torch.bool, device=query.device)
        pos = torch.searchsorted(self.sorted, query).clamp_max(self.size - 1)
        return self.sorted[pos] == query

    def _dense_lookup(self, query: Tensor) -> Tensor:
        # index_select is several times faster than advanced indexing for 1-D gathers.
        table = self.dense
        if table is None:
            raise RuntimeError("dense lookup on a sorted NodeMap")
        return table.index_select(0, query.reshape(-1)).reshape(query.shape)

    def add(self, new: Tensor) -> Tensor:
        """Append ids not yet mapped (caller guarantees uniqueness); return their local ids."""
        return self._add(self._check_query("new", new))

    def _add(self, new: Tensor) -> Tensor:
        local = torch.arange(self.size, self.size + new.numel(), device=new.device)
        self.size += int(new.numel())
        if self.dense is not None:
            self.dense.index_copy_(0, new, local)
            return local
        merged, order = torch.sort(torch.cat([self.sorted, new]))
        self.local = torch.cat([self.local, local])[order]
        self.sorted = merged
        return local

    def extend(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """Map every id of ``query`` ``[Q]`` not mapped yet, in order of first appearance.

        Returns ``(local [Q], new [M])``: the local id of every query entry after the
        update, and the newly mapped ids (distinct). Deterministic; no sort in dense mode.
        ``query`` must lie in ``[0, num_nodes)`` when the map knows ``num_nodes``.
        """
        query = self._check_query("query", check_tensor("query", query, ndim=1))
        return self._extend(query)

    def _extend(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`extend` without the checks (samplers pass valid int64 ids of their CSR)."""
        if self.dense is None:
            cand = query[~self._contains(query)]
            uniq, inv = torch.unique(cand, return_inverse=True)
            first = torch.full((uniq.numel(),), cand.numel(), dtype=torch.int64)
            first.scatter_reduce_(0, inv, torch.arange(cand.numel()), reduce="amin")
            new = uniq[torch.argsort(first)]
            self._add(new)
            return self._lookup(query), new
        local = self._dense_lookup(query)
        # nonzero + index_select beats boolean-mask indexing severalfold on CPU.
        idx = torch.nonzero(local < 0).flatten()
        cand = query.index_select(0, idx)
        if cand.numel() == 0:
            return local, cand
        pos = torch.arange(cand.numel(), device=cand.device)
        # Unmapped slots are free scratch space: record each id's first position there.
        self.dense.scatter_reduce_(0, cand, pos, reduce="amin", include_self=False)
        first = torch.nonzero(self._dense_lookup(cand) == pos).flatten()
        new = cand.index_select(0, first)
        self.dense.index_fill_(0, cand, -1)
        self._add(new)
        local.index_copy_(0, idx, self._dense_lookup(cand))
        return local, new

    def __call__(self, query: Tensor) -> Tensor:
        """Local ids of mapped global ids (unmapped ids give garbage: check first with
        :meth:`contains`; ids outside ``[0, num_nodes)`` raise ``ValueError``)."""
        return self._lookup(self._check_query("query", query))

    def _lookup(self, query: Tensor) -> Tensor:
        if self.dense is not None:
            return self._dense_lookup(query)
        pos = torch.searchsorted(self.sorted, query).clamp_max(max(self.size - 1, 0))
        return self.local[pos]


def induced_subgraph(
    edge_index: Tensor, nodes: Tensor, num_nodes: int | None = None, *, relabel: bool = True
) -> tuple[Tensor, Tensor]:
    """Edges with both ends in ``nodes``.

    Args:
        edge_index: ``[2, E]`` int64.
        nodes: ``[M]`` distinct node ids; local id ``i`` is ``nodes[i]``.
        num_nodes: optional bound for validating ids.
        relabel: return local ids (default) instead of global ones.

    Returns:
        ``(sub_edge_index [2, E'], edge_mask [E])``.
    """
    ei = check_edge_index("edge_index", edge_index, num_nodes).to(torch.int64)
    mapping = NodeMap(nodes, num_nodes)  # checks nodes: integer ids in [0, num_nodes)
    if torch.unique(nodes).numel() != nodes.numel():
        raise ValueError("nodes must be distinct")
    # edge ids were checked against num_nodes above: skip a second pass over them
    mask = mapping._contains(ei[0]) & mapping._contains(ei[1])
    sub = ei[:, mask]
    return (mapping._lookup(sub) if relabel else sub), mask
