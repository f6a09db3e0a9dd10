"""What every objective sees: one step's examples over the rows it encoded.

A :class:`Batch` holds the embeddings ``z [U, d]`` of the step's distinct items
(graph nodes, feature vectors, texts) and, as local row ids into ``z``:

* ``anchor [B]``, ``positive [B]`` — the training pairs (a relation ``u -> v``, an
  anchor/positive pair, an edge of a node task);
* ``negatives [B, K]`` with ``mask [B, K]`` (True = a real negative; ``K`` may be 0);
* optional per-row ``labels [U]`` (-1: none; in-batch false-negative masks, the
  multi-positive InfoNCE, the category miner), ``label_mask [U]`` (rows a supervised
  head trains on), ``edges [2, E]`` (the batch's graph: the sampled subgraph of a
  node task; the positive pairs otherwise), ``features [U, F]`` (what a feature
  reconstruction decodes to), ``z_corrupt [U, d]`` (the encoder on corrupted input,
  for Deep Graph Infomax) and ``false_negatives [U, U]`` (bool, True where row ``j``
  may never be a negative of row ``i``: a text task's structural filter).

Tasks build a batch with ``z`` left empty; the step fills ``z`` (and ``z_corrupt``
when an objective asks for it) from the encoder. Objectives read tensors only: a
loss never calls a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor


@dataclass
class RelationIds:
    """The global ids of a relation batch as the sparse table step consumes them:
    anchors ``u [B]``, positives ``v [B]`` and the structured negatives (``shared``
    per group of relations and/or ``own`` per relation; see
    :class:`~contrastkit.mining.relation_sampler.RelationNegatives`)."""

    u: Tensor
    v: Tensor
    negatives: Any  # RelationNegatives (kept untyped: mining imports nothing from here)


@dataclass
class Batch:
    items: Tensor  # [U] global ids of z's rows
    anchor: Tensor  # [B] rows of z
    positive: Tensor  # [B]
    negatives: Tensor  # [B, K]
    mask: Tensor  # [B, K] bool, True = a real negative
    temperature: float
    z: Tensor = field(default_factory=lambda: torch.empty(0))  # [U, d]
    labels: Tensor | None = None  # [U] long, -1 = none
    label_mask: Tensor | None = None  # [U] bool: rows a supervised head trains on
    edges: Tensor | None = None  # [2, E] local rows
    edge_weight: Tensor | None = None  # [E] weights of ``edges``
    features: Tensor | None = None  # [U, F]
    z_corrupt: Tensor | None = None  # [U, d]
    encoder_input: Any = None  # what the encoder takes instead of ``items`` (a subgraph)
    relations: RelationIds | None = None  # for the sparse table step
    size: int = 0  # examples the batch stands for (relations, pairs, nodes); 0: B
    false_negatives: Tensor | None = None  # [U, U] bool: never a negative of each other
    # the rule behind false_negatives, by item ids: (ids_a [A], ids_b [C]) -> [A, C]
    # bool; what data parallelism applies to the candidates other ranks hold
    forbidden: Callable[[Tensor, Tensor], Tensor] | None = None

    @classmethod
    def from_ids(
        cls, u: Tensor, v: Tensor, negatives: Tensor, mask: Tensor, temperature: float
    ) -> Batch:
        """The layout over global ids ``u [B]``, ``v [B]``, ``negatives [B, K]``: the
        distinct ids become ``items`` and every id its row among them."""
        b, k = negatives.shape
        nodes, inverse = torch.unique(torch.cat([u, v, negatives.reshape(-1)]), return_inverse=True)
        return cls(
            items=nodes,
            anchor=inverse[:b],
            positive=inverse[b : 2 * b],
            negatives=inverse[2 * b :].view(b, k),
            mask=mask,
            temperature=temperature,
        )

    def with_z(self, z: Tensor, z_corrupt: Tensor | None = None) -> Batch:
        return replace(self, z=z, z_corrupt=z_corrupt)

    @property
    def num_examples(self) -> int:
        return self.size or int(self.anchor.numel())

    def anchors(self) -> Tensor:
        return self.z[self.anchor]

    def positives(self) -> Tensor:
        return self.z[self.positive]

    def negative_embeddings(self) -> Tensor:
        return self.z[self.negatives]

    def positive_edges(self) -> Tensor:
        """``[2, B]`` rows of the positive pairs."""
        return torch.stack([self.anchor, self.positive])

    def graph_edges(self) -> Tensor:
        """``[2, E]``: the batch's graph when it has one, else its positive pairs."""
        return self.edges if self.edges is not None else self.positive_edges()

    def negative_edges(self) -> Tensor:
        """``[2, M]`` rows of the valid (anchor, negative) pairs."""
        src = self.anchor.unsqueeze(1).expand_as(self.negatives)
        return torch.stack([src[self.mask], self.negatives[self.mask]])

    def anchor_labels(self) -> Tensor | None:
        return None if self.labels is None else self.labels[self.anchor]
