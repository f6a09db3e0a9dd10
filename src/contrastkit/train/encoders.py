"""Node encoders as the trainer sees them: node ids in, embeddings out.

* ``embedding`` — a free table (Euclidean, or a Poincaré-ball parameter through
  geoopt), transductive;
* ``mlp`` — an MLP over the node features ``x`` (inductive);
* ``gnn`` — a PyG GNN over ``(x, edge_index)``; one full-graph pass per step,
  indexed by the batch's nodes (graphs of up to ~10^5 nodes).

Graphs without features give the ``mlp``/``gnn`` encoders one-hot identity features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from contrastkit.models.embedding import EmbeddingTable
from contrastkit.models.gnn import GNNEncoder
from contrastkit.models.mlp import MLP
from contrastkit.objectives.batch import Batch
from contrastkit.train.config import EncoderConfig
from contrastkit.train.node_encoder import NodeEncoder
from contrastkit.typed_config import ConfigError


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

    def encode_corrupted(self, batch: Batch, generator: torch.Generator) -> Tensor:
        x = self.x[batch.items]
        return self.mlp(x[torch.randperm(x.shape[0], generator=generator)])

    def last_shared_parameters(self) -> list[Tensor]:
        return _last_layer(self.mlp)


class GraphEncoder(NodeEncoder):
    x: Tensor
    edge_index: Tensor

    def __init__(self, gnn: nn.Module, x: Tensor, edge_index: Tensor) -> None:
        super().__init__()
        self.gnn = gnn
        self.register_buffer("x", x, persistent=False)
        self.register_buffer("edge_index", edge_index, persistent=False)

    def forward(self, nodes: Tensor) -> Tensor:
        return self.embed_all()[nodes]

    def embed_all(self) -> Tensor:
        return self.gnn(self.x, self.edge_index)

    def encode(self, batch: Batch) -> Tensor:
        if batch.encoder_input is None:
            return self(batch.items)
        # a sampled subgraph: its nodes are batch.items, its edges local to them
        return self.gnn(self.x[batch.items], batch.encoder_input)

    def encode_corrupted(self, batch: Batch, generator: torch.Generator) -> Tensor:
        if batch.encoder_input is None:
            x = self.x[torch.randperm(self.x.shape[0], generator=generator)]
            return self.gnn(x, self.edge_index)[batch.items]
        x = self.x[batch.items]
        return self.gnn(x[torch.randperm(x.shape[0], generator=generator)], batch.encoder_input)

    def last_shared_parameters(self) -> list[Tensor]:
        return _last_layer(self.gnn)


def _last_layer(module: nn.Module) -> list[Tensor]:
    """Parameters of the last sub-module that has any (the output layer)."""
    leaves = [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]
    if not leaves:
        return [p for p in module.parameters() if p.requires_grad]
    return [p for p in leaves[-1].parameters(recurse=False) if p.requires_grad]


@dataclass
class EncoderInputs:
    """What a task gives its encoder: the item count, the item features ``x [N, F]``
    (``None``: one-hot identity for feature encoders) and the message-passing graph
    ``edge_index [2, E]`` of a GNN (``None``: no graph) and, for a text task, the
    texts of the items (``texts[i]`` is item ``i``); ``fit_items`` the ids of the items
    an encoder may fit itself to before training (``encoder.projection``'s PCA): the
    training split's, never held-out ones (``None``: every item); ``fit_pairs [2, P]``
    the training (anchor, positive) item pairs (``encoder.projection.kind: pair_pca``);
    ``embedded_items``: a text encoder's ``embed_all`` covers only the first this
    many (``None``: all) — the evaluation's texts, not training-only ones
    (``pairs.train_synsets``)."""

    num_items: int
    x: Tensor | None = None
    edge_index: Tensor | None = None
    texts: list[str] | None = None
    fit_items: Tensor | None = None
    fit_pairs: Tensor | None = None
    embedded_items: int | None = None

    def features(self) -> Tensor:
        return torch.eye(self.num_items) if self.x is None else self.x.float()


def build_encoder(
    config: EncoderConfig, inputs: EncoderInputs, generator: torch.Generator
) -> NodeEncoder:
    if config.kind == "embedding":
        table = EmbeddingTable(
            inputs.num_items,
            config.dim,
            manifold=config.manifold,
            init_scale=config.init_scale,
            sparse=config.sparse,
            dtype=torch.float64 if config.dtype == "float64" else torch.float32,
            generator=generator,
        )
        return TableEncoder(table)
    if config.kind == "text":
        from contrastkit.models.text import TextEncoder
        from contrastkit.train.text_encoder import TextItemEncoder

        if inputs.texts is None:
            raise ValueError("encoder.kind 'text' needs a task with texts (pairs.source text_*)")
        model = TextEncoder(config.model_path, max_seq_length=config.max_seq_length)
        if config.projection.enabled:
            from contrastkit.models.pca_head import PCAHead

            width, proj = model.dim, config.projection
            if proj.dim is not None and proj.dim > width:
                raise ConfigError(
                    f"encoder.projection.dim must be <= the model's width {width}, got {proj.dim}"
                )
            if proj.kind == "pair_pca" and inputs.fit_pairs is None:
                raise ConfigError("encoder.projection.kind 'pair_pca' needs a task with pairs")
            model.head = PCAHead(
                width,
                proj.dim,
                trainable=proj.trainable,
                centered=proj.centered,
                pairs=proj.kind == "pair_pca",
            )
        return TextItemEncoder(
            model,
            inputs.texts,
            batch_size=config.encode_batch_size,
            fit_items=inputs.fit_items,
            fit_pairs=inputs.fit_pairs,
            embedded_items=inputs.embedded_items,
        )
    if inputs.texts is not None:
        raise ValueError(f"a text task needs encoder.kind 'text', got {config.kind!r}")
    x = inputs.features()
    if config.kind == "mlp":
        mlp = MLP(
            x.shape[1], [config.hidden] * (config.layers - 1), config.dim, dropout=config.dropout
        )
        return FeatureEncoder(mlp, x)
    if inputs.edge_index is None:
        raise ValueError("encoder.kind 'gnn' needs a task with a graph")
    gnn = GNNEncoder(
        x.shape[1],
        config.hidden,
        config.dim,
        num_layers=config.layers,
        conv=config.gnn,
        dropout=config.dropout,
    )
    return GraphEncoder(gnn, x, inputs.edge_index)
