"""Node encoders as the trainer sees them: node ids in, embeddings out.

* ``embedding`` — a free table (Euclidean, or a Poincaré-ball parameter through
  geoopt), transductive;
* ``mlp`` — an MLP over the node features ``x`` (inductive);
* ``gnn`` — a PyG GNN over ``(x, edge_index)``; one full-graph pass per step,
  indexed by the batch's nodes (graphs of up to ~10^5 nodes).

Graphs without features give the ``mlp``/``gnn`` encoders one-hot identity features.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from contrastkit.models.embedding import EmbeddingTable
from contrastkit.models.gnn import GNNEncoder
from contrastkit.models.mlp import MLP
from contrastkit.train.config import EncoderConfig
from contrastkit.train.task import GraphTask


class NodeEncoder(nn.Module, ABC):
    """``forward(nodes [M]) -> [M, d]``; ``embed_all() -> [N, d]``."""

    @abstractmethod
    def embed_all(self) -> Tensor:
        """Embeddings of every node, ``[N, d]``."""


class FixedEmbedding(NodeEncoder):
    """Precomputed embeddings ``[N, d]`` (e.g. read from a file), not trained."""

    z: Tensor

    def __init__(self, z: Tensor) -> None:
        super().__init__()
        self.register_buffer("z", z)

    def forward(self, nodes: Tensor) -> Tensor:
        return self.z[nodes]

    def embed_all(self) -> Tensor:
        return self.z


class TableEncoder(NodeEncoder):
    def __init__(self, table: EmbeddingTable) -> None:
        super().__init__()
        self.table = table

    def forward(self, nodes: Tensor) -> Tensor:
        return self.table(nodes)

    def embed_all(self) -> Tensor:
        return self.table.weight


class FeatureEncoder(NodeEncoder):
    def __init__(self, mlp: nn.Module, x: Tensor) -> None:
        super().__init__()
        self.mlp = mlp
        self.register_buffer("x", x, persistent=False)

    x: Tensor

    def forward(self, nodes: Tensor) -> Tensor:
        return self.mlp(self.x[nodes])

    def embed_all(self) -> Tensor:
        return self.mlp(self.x)


class GraphEncoder(NodeEncoder):
    def __init__(self, gnn: nn.Module, x: Tensor, edge_index: Tensor) -> None:
        super().__init__()
        self.gnn = gnn
        self.register_buffer("x", x, persistent=False)
        self.register_buffer("edge_index", edge_index, persistent=False)

    def forward(self, nodes: Tensor) -> Tensor:
        return self.embed_all()[nodes]

    def embed_all(self) -> Tensor:
        return self.gnn(self.x, self.edge_index)


def _features(task: GraphTask) -> Tensor:
    x = task.graph.x
    if x is None:
        return torch.eye(task.num_nodes)
    return x.float()


def build_encoder(
    config: EncoderConfig, task: GraphTask, generator: torch.Generator
) -> NodeEncoder:
    if config.kind == "embedding":
        table = EmbeddingTable(
            task.num_nodes,
            config.dim,
            manifold=config.manifold,
            init_scale=config.init_scale,
            sparse=config.sparse,
            dtype=torch.float64 if config.dtype == "float64" else torch.float32,
            generator=generator,
        )
        return TableEncoder(table)
    x = _features(task)
    if config.kind == "mlp":
        mlp = MLP(
            x.shape[1], [config.hidden] * (config.layers - 1), config.dim, dropout=config.dropout
        )
        return FeatureEncoder(mlp, x)
    # message passing over the training relations only (held-out edges stay unseen)
    edge_index = torch.cat([task.train_edges, task.train_edges.flip(0)], dim=1)
    gnn = GNNEncoder(
        x.shape[1],
        config.hidden,
        config.dim,
        num_layers=config.layers,
        conv=config.gnn,
        dropout=config.dropout,
    )
    return GraphEncoder(gnn, x, edge_index)
