r"""Graph-structure objectives over a :class:`~contrastkit.objectives.batch.Batch`.

* ``link`` — binary cross-entropy of the positive pairs (label 1) against the
  anchor-negative pairs (label 0) on :math:`s/\tau + b`;
* ``adjacency`` — graph auto-encoder reconstruction of the batch's graph against
  sampled non-edges (Kipf & Welling 2016);
* ``spectral`` — :math:`\operatorname{tr}(Z^\top L Z)/|E|` over the batch's graph,
  ``normalization: sym`` for :math:`L_{sym}`, ``weighted`` to use its edge weights;
* ``feature_reconstruction`` — a linear decoder from ``z`` back to the input
  features, MSE / BCE / CE;
* ``dgi`` — Deep Graph Infomax (Veličković et al. 2019): a bilinear discriminator
  tells ``z`` from the encoder's output on row-shuffled features (``z_corrupt``) against
  the summary :math:`\sigma(\bar z)` (PyG's ``DeepGraphInfomax``);
* ``distance_preservation`` — stress: embedding distances against shortest-path hop
  counts in the batch's graph, :math:`\sum (d_{ij} - t_{ij})^2 / t_{ij}^2`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from contrastkit.functional.feature_reconstruction import feature_reconstruction_loss
from contrastkit.functional.link import (
    link_prediction_loss,
    sparse_adjacency_reconstruction_loss,
)
from contrastkit.functional.spectral import laplacian_smoothness
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.entries_contrastive import hop_pairs
from contrastkit.objectives.registry import Objective, ObjectiveContext, register
from contrastkit.typed_config import ConfigError, config_fail


@dataclass
class LinkParams:
    bias: float = 0.0
    temperature: float | None = None  # None: the run's


class LinkObjective(Objective):
    def __init__(self, params: LinkParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params, self.distance = params, ctx.distance

    def forward(self, batch: Batch) -> Tensor:
        t = self.params.temperature
        return link_prediction_loss(
            batch.z,
            batch.positive_edges(),
            batch.negative_edges(),
            distance=self.distance,
            temperature=batch.temperature if t is None else t,
            bias=self.params.bias,
        )


@register("link", LinkParams, "link prediction: BCE of positive pairs against negatives")
def _link(params: LinkParams, ctx: ObjectiveContext) -> Objective:
    return LinkObjective(params, ctx)


@dataclass
class AdjacencyParams:
    negatives_per_edge: int = 1
    temperature: float = 1.0
    bias: float = 0.0

    def __post_init__(self) -> None:
        if self.negatives_per_edge <= 0:
            config_fail("objectives.adjacency.negatives_per_edge", "must be > 0")


class AdjacencyObjective(Objective):
    def __init__(self, params: AdjacencyParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params, self.distance = params, ctx.distance
        self.generator = torch.Generator().manual_seed(int(ctx.generator.initial_seed()) + 3)

    def forward(self, batch: Batch) -> Tensor:
        edges = batch.graph_edges()
        return sparse_adjacency_reconstruction_loss(
            batch.z,
            edges,
            num_neg_samples=edges.shape[1] * self.params.negatives_per_edge,
            generator=self.generator,
            undirected=True,
            distance=self.distance,
            temperature=self.params.temperature,
            bias=self.params.bias,
        )

    def get_extra_state(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])


@register("adjacency", AdjacencyParams, "adjacency reconstruction against sampled non-edges")
def _adjacency(params: AdjacencyParams, ctx: ObjectiveContext) -> Objective:
    return AdjacencyObjective(params, ctx)


@dataclass
class SpectralParams:
    normalization: Literal["none", "sym"] = "none"
    weighted: bool = False  # use the graph's edge weights


class SpectralObjective(Objective):
    def __init__(self, params: SpectralParams) -> None:
        super().__init__()
        self.params = params

    def forward(self, batch: Batch) -> Tensor:
        weight = batch.edge_weight if self.params.weighted else None
        if self.params.weighted and weight is None:
            raise ValueError("objectives.spectral.weighted needs a graph with edge weights")
        return laplacian_smoothness(
            batch.z,
            batch.graph_edges(),
            weight,
            normalization=self.params.normalization,
            reduction="mean",
        )


@register("spectral", SpectralParams, "Laplacian smoothness tr(ZᵀLZ) over the batch's graph")
def _spectral(params: SpectralParams, ctx: ObjectiveContext) -> Objective:
    if params.weighted and not ctx.edge_weighted:
        raise ConfigError("objectives.spectral.weighted needs a graph with edge weights")
    return SpectralObjective(params)


@dataclass
class FeatureReconstructionParams:
    kind: Literal["mse", "bce"] = "mse"
    hidden: int = 0  # 0: a linear decoder; > 0: one hidden ReLU layer


class FeatureReconstructionObjective(Objective):
    needs = frozenset({"features"})

    def __init__(self, params: FeatureReconstructionParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        if ctx.feature_dim is None:
            raise ValueError("objectives.feature_reconstruction needs items with features")
        self.kind = params.kind
        layers: list[nn.Module] = []
        width = ctx.dim
        if params.hidden > 0:
            layers += [nn.Linear(width, params.hidden), nn.ReLU()]
            width = params.hidden
        layers.append(nn.Linear(width, ctx.feature_dim))
        self.decoder = nn.Sequential(*layers)

    def forward(self, batch: Batch) -> Tensor:
        if batch.features is None:
            raise ValueError("objectives.feature_reconstruction needs a batch with features")
        pred = self.decoder(batch.z)
        return feature_reconstruction_loss(pred, batch.features.to(pred.dtype), self.kind)


@register(
    "feature_reconstruction",
    FeatureReconstructionParams,
    "decode the input features from the embedding",
)
def _feature_reconstruction(
    params: FeatureReconstructionParams, ctx: ObjectiveContext
) -> Objective:
    return FeatureReconstructionObjective(params, ctx)


@dataclass
class DGIParams:
    pass


class DGIObjective(Objective):
    needs = frozenset({"corruption"})

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__()
        from contrastkit.losses.dgi import DeepGraphInfomaxLoss

        self.loss = DeepGraphInfomaxLoss(ctx.dim, generator=ctx.generator)

    def forward(self, batch: Batch) -> Tensor:
        if batch.z_corrupt is None:
            raise ValueError("objectives.dgi needs the encoder's output on corrupted input")
        return self.loss(batch.z, batch.z_corrupt)


@register("dgi", DGIParams, "Deep Graph Infomax (PyG's DeepGraphInfomax)")
def _dgi(params: DGIParams, ctx: ObjectiveContext) -> Objective:
    return DGIObjective(ctx)


@dataclass
class DistancePreservationParams:
    max_hops: int = 3
    normalized: bool = True

    def __post_init__(self) -> None:
        if self.max_hops <= 0:
            config_fail("objectives.distance_preservation.max_hops", "must be > 0")


class DistancePreservationObjective(Objective):
    def __init__(self, params: DistancePreservationParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params = params
        self.distance = "poincare" if ctx.distance.name == "poincare" else "euclidean"

    def forward(self, batch: Batch) -> Tensor:
        from contrastkit.functional.distance_preservation import distance_preservation_loss

        pairs, hops = hop_pairs(batch.graph_edges(), batch.z.shape[0], self.params.max_hops)
        return distance_preservation_loss(
            batch.z,
            pairs,
            hops.to(batch.z.dtype),
            distance=self.distance,
            normalized=self.params.normalized,
        )


@register(
    "distance_preservation",
    DistancePreservationParams,
    "stress: embedding distances against hop distances",
)
def _distance_preservation(params: DistancePreservationParams, ctx: ObjectiveContext) -> Objective:
    return DistancePreservationObjective(params, ctx)
