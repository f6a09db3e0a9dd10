"""What the tasks over one graph share: the graph's labels, names, weights, pairs and
the rule that turns its relations into a GNN's message-passing graph."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.graph.csr import to_csr
from contrastkit.train.negative_count import NegativeBound, graph_bound
from contrastkit.train.task import GraphTask
from contrastkit.train.task_base import Task


class GraphBackedTask(Task):
    """A task whose items are the nodes of ``self.graph`` (a :class:`GraphTask`): the
    ``relations`` and ``nodes`` tasks."""

    graph: GraphTask

    @staticmethod
    def message_edges(edges: Tensor, num_nodes: int) -> Tensor:
        """A GNN's message-passing graph over relations ``edges [2, E]`` of ``num_nodes``
        nodes: ``[2, E']``, every listed pair in both directions, each directed pair once,
        sorted by ``(src, dst)`` -- ``torch_geometric.utils.to_undirected`` (which
        coalesces). ``export --graph`` builds a new graph's messages so too.

        Merged, not concatenated: a graph that already lists both directions (karate's
        edge list) would otherwise pass every message twice, which changes what GCN's
        symmetric normalisation (against the self-loop weight 1), GAT's attention
        softmax and a sum aggregation compute. A listed self-loop ``(v, v)`` is kept,
        once, as PyG's ``to_undirected`` keeps it: GCNConv's
        ``add_remaining_self_loops`` then adds no second one and GATConv replaces it
        with its own, so only a mean aggregation (GraphSAGE) counts it as a neighbour.
        """
        return to_csr(edges, num_nodes, undirected=True).to_edge_index()

    @property
    def num_items(self) -> int:
        return self.graph.num_nodes

    def negative_bound(self) -> NegativeBound:
        """Negatives are drawn among the graph's nodes: every node but the anchor."""
        return graph_bound(self.graph.num_nodes)

    @property
    def edge_weighted(self) -> bool:
        return self.graph.graph.edge_weight is not None

    @property
    def labels(self) -> Tensor | None:
        return self.graph.graph.y

    @property
    def label_names(self) -> list[str] | None:
        return self.graph.graph.label_names

    @property
    def item_names(self) -> list[str] | None:
        return self.graph.graph.names

    def snapshot_pairs(self, limit: int) -> tuple[Tensor, Tensor]:
        """Up to ``limit`` training relations, drawn with a fixed seed."""
        edges = self.graph.train_edges
        gen = torch.Generator().manual_seed(1)
        take = torch.randperm(edges.shape[1], generator=gen)[:limit]
        return edges[0, take], edges[1, take]
