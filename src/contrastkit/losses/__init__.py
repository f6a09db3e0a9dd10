"""Thin nn.Module wrappers around :mod:`contrastkit.functional`, and the combiner."""

from contrastkit.losses.combine import (
    CombinerConfig,
    FixedWeighting,
    MagnitudeWeighting,
    build_combiner,
    combine_losses,
)
from contrastkit.losses.dgi import DeepGraphInfomaxLoss
from contrastkit.losses.distance_preservation import DistancePreservationLoss
from contrastkit.losses.ewc import EWC
from contrastkit.losses.feature_reconstruction import FeatureReconstructionLoss
from contrastkit.losses.fisher import diagonal_fisher
from contrastkit.losses.gradnorm import GradNormWeighting
from contrastkit.losses.info_nce import InfoNCELoss, SupervisedInfoNCELoss
from contrastkit.losses.link import (
    DenseAdjacencyReconstructionLoss,
    LinkPredictionLoss,
    SparseAdjacencyReconstructionLoss,
)
from contrastkit.losses.mnr import MultipleNegativesRankingLoss
from contrastkit.losses.node_classification import NodeClassificationLoss
from contrastkit.losses.pair_contrastive import LocalContrastiveLoss, MultiHopContrastiveLoss
from contrastkit.losses.pcgrad import PCGrad, pcgrad, projection_order
from contrastkit.losses.regularizers import (
    DecorrelationLoss,
    EmbeddingNormLoss,
    EmbeddingProjection,
    OrthogonalityLoss,
)
from contrastkit.losses.sparsity import SparsityLoss
from contrastkit.losses.spectral import SpectralSmoothnessLoss
from contrastkit.losses.temperature import Temperature
from contrastkit.losses.triplet import BatchAllTripletLoss, PerAnchorTripletLoss, TripletMarginLoss
from contrastkit.losses.uncertainty import UncertaintyWeighting
from contrastkit.losses.weighting import CombinedLoss, LossComponent, LossWeighting

__all__ = [
    "EWC",
    "BatchAllTripletLoss",
    "CombinedLoss",
    "CombinerConfig",
    "DecorrelationLoss",
    "DeepGraphInfomaxLoss",
    "DenseAdjacencyReconstructionLoss",
    "DistancePreservationLoss",
    "EmbeddingNormLoss",
    "EmbeddingProjection",
    "FeatureReconstructionLoss",
    "FixedWeighting",
    "GradNormWeighting",
    "InfoNCELoss",
    "LinkPredictionLoss",
    "LocalContrastiveLoss",
    "LossComponent",
    "LossWeighting",
    "MagnitudeWeighting",
    "MultiHopContrastiveLoss",
    "MultipleNegativesRankingLoss",
    "NodeClassificationLoss",
    "OrthogonalityLoss",
    "PCGrad",
    "PerAnchorTripletLoss",
    "SparseAdjacencyReconstructionLoss",
    "SparsityLoss",
    "SpectralSmoothnessLoss",
    "SupervisedInfoNCELoss",
    "Temperature",
    "TripletMarginLoss",
    "UncertaintyWeighting",
    "build_combiner",
    "combine_losses",
    "diagonal_fisher",
    "pcgrad",
    "projection_order",
]
