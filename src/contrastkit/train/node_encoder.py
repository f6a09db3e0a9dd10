"""The interface every encoder the trainer drives implements (tables, MLPs, GNNs, text):
node or item ids in, embeddings out. Its own module so that encoders built elsewhere
(``train/text_encoder.py``) subclass it without importing the factory that builds them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from contrastkit.objectives.batch import Batch


class NodeEncoder(nn.Module, ABC):
    """``forward(nodes [M]) -> [M, d]``; ``embed_all() -> [N, d]``; ``encode(batch)``
    the rows of a step's :class:`~contrastkit.objectives.batch.Batch`."""

    @abstractmethod
    def embed_all(self) -> Tensor:
        """Embeddings of every node, ``[N, d]``."""

    def encode(self, batch: Batch) -> Tensor:
        """``z [U, d]`` for the batch's items (a sampled subgraph where it has one)."""
        return self(batch.items)

    def encode_corrupted(self, batch: Batch, generator: torch.Generator) -> Tensor:
        """The encoder on corrupted input (Deep Graph Infomax): features shuffled
        across rows, structure kept."""
        raise ValueError(
            f"{type(self).__name__} has no input features to corrupt (objectives.dgi needs "
            "an mlp or gnn encoder)"
        )

    def last_shared_parameters(self) -> list[Tensor]:
        """The last layer every objective's gradient flows through (GradNorm's W)."""
        return [p for p in self.parameters() if p.requires_grad]
