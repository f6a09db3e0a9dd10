"""What the tasks over one graph share: the graph's labels, names, weights and pairs."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.train.negative_count import NegativeBound, graph_bound
from contrastkit.train.task import GraphTask
from contrastkit.train.task_base import Task


class GraphBackedTask(Task):
    """A task whose items are the nodes of ``self.graph`` (a :class:`GraphTask`): the
    ``relations`` and ``nodes`` tasks."""

    graph: GraphTask

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
