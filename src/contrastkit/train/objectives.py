r"""The trainer's objectives over one relation batch, each a call into ``functional/``.

A :class:`RelationBatch` holds the embeddings of the batch's distinct nodes
``z [U, d]`` and, as local row ids into it, the anchors ``u [B]``, positives
``v [B]`` and negatives ``n [B, K]`` with their validity mask. Each objective maps
it to a scalar:

* ``infonce`` — :math:`-\log \frac{e^{s(u,v)/\tau}}{e^{s(u,v)/\tau} + \sum_k e^{s(u,n_k)/\tau}}`
  (with the Poincaré distance as score this is Nickel & Kiela's loss);
* ``triplet`` — :math:`\max(0, m + s(u,n) - s(u,v))` averaged over valid negatives;
* ``link`` — binary cross-entropy on :math:`s/\tau`, positives vs negatives;
* ``local`` — Hadsell et al.'s pair loss: :math:`d(u,v)^2` and :math:`\max(0, m - d(u,n))^2`;
* ``spectral`` — :math:`\sum_{(u,v)} \|z_u - z_v\|^2 / |E_B|` over the batch's relations
  (the Laplacian quadratic form restricted to the batch);
* ``norm`` — :math:`\mathrm{mean}_i (\|z_i\| - r)^2` toward the target norm ``r``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit.functional.distances import Distance
from contrastkit.functional.info_nce import info_nce
from contrastkit.functional.link import link_prediction_loss
from contrastkit.functional.pair_contrastive import local_contrastive_loss
from contrastkit.functional.regularizers import embedding_norm_penalty
from contrastkit.functional.relation_kernels import RELATION_DISTANCES
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.functional.spectral import laplacian_smoothness
from contrastkit.functional.triplet import triplet_margin_loss
from contrastkit.train.config import ObjectiveConfig


@dataclass
class RelationBatch:
    z: Tensor  # [U, d] embeddings of the batch's distinct nodes
    anchor: Tensor  # [B] rows of z
    positive: Tensor  # [B]
    negatives: Tensor  # [B, K]
    mask: Tensor  # [B, K] bool, True = a real negative
    temperature: float

    @classmethod
    def from_ids(
        cls, u: Tensor, v: Tensor, negatives: Tensor, mask: Tensor, temperature: float
    ) -> tuple[RelationBatch, Tensor]:
        """The batch layout over node ids ``u [B]``, ``v [B]``, ``negatives [B, K]``, and
        the distinct nodes ``[U]`` whose embeddings fill ``z`` (left empty here)."""
        b, k = negatives.shape
        nodes, inverse = torch.unique(torch.cat([u, v, negatives.reshape(-1)]), return_inverse=True)
        layout = cls(
            z=torch.empty(0),
            anchor=inverse[:b],
            positive=inverse[b : 2 * b],
            negatives=inverse[2 * b :].view(b, k),
            mask=mask,
            temperature=temperature,
        )
        return layout, nodes

    def anchors(self) -> Tensor:
        return self.z[self.anchor]

    def positives(self) -> Tensor:
        return self.z[self.positive]

    def negative_embeddings(self) -> Tensor:
        return self.z[self.negatives]

    def positive_edges(self) -> Tensor:
        return torch.stack([self.anchor, self.positive])

    def negative_edges(self) -> Tensor:
        src = self.anchor.unsqueeze(1).expand_as(self.negatives)
        return torch.stack([src[self.mask], self.negatives[self.mask]])


def _pair_distance(distance: Distance) -> Distance | str:
    # the Hadsell pair loss needs a non-negative distance; similarities use L2 instead
    return "euclidean" if distance.higher_is_closer else distance


def objective_loss(
    name: str, batch: RelationBatch, config: ObjectiveConfig, distance: Distance
) -> Tensor:
    """The scalar loss of objective ``name`` on ``batch``."""
    if name == "infonce":
        if distance.name in RELATION_DISTANCES:
            # the fused kernel: same value and gradients, one pass over [B, 1 + K, d]
            candidates = torch.cat([batch.positive.unsqueeze(1), batch.negatives], dim=1)
            return relation_softmax_loss(
                batch.anchors(),
                batch.z[candidates],
                batch.mask,
                batch.temperature,
                distance,
            )
        return info_nce(
            batch.anchors(),
            batch.positives(),
            batch.negative_embeddings(),
            negative_mask=batch.mask,
            temperature=batch.temperature,
            distance=distance,
        )
    if name == "triplet":
        return triplet_margin_loss(
            batch.anchors(),
            batch.positives(),
            batch.negative_embeddings(),
            negative_mask=batch.mask,
            margin=config.margin,
            distance=distance,
        )
    if name == "link":
        return link_prediction_loss(
            batch.z,
            batch.positive_edges(),
            batch.negative_edges(),
            distance=distance,
            temperature=batch.temperature,
        )
    if name == "local":
        pos, neg = batch.positive_edges(), batch.negative_edges()
        similar = torch.cat(
            [
                torch.ones(pos.shape[1], dtype=torch.bool),
                torch.zeros(neg.shape[1], dtype=torch.bool),
            ]
        )
        return local_contrastive_loss(
            batch.z,
            torch.cat([pos, neg], dim=1),
            similar,
            margin=config.margin,
            distance=_pair_distance(distance),
        )
    if name == "spectral":
        return laplacian_smoothness(batch.z, batch.positive_edges(), reduction="mean")
    if name == "norm":
        return embedding_norm_penalty(batch.z, config.norm_target)
    raise ValueError(f"objective must be one of the known objectives, got {name!r}")


def objective_losses(
    names: Iterable[str], batch: RelationBatch, config: ObjectiveConfig, distance: Distance
) -> dict[str, Tensor]:
    return {name: objective_loss(name, batch, config, distance) for name in names}
