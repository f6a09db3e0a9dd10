r"""``nn.Module`` wrappers for the triplet margin losses.

.. math::
    \ell(a, p, n) = \max(0, m_{ap} + s(a, n) - s(a, p)) + \lambda \max(0, s(a, n) - t)

The modules hold the hyper-parameters and call
:mod:`contrastkit.functional.triplet` (explicit triplets) and
:mod:`contrastkit.functional.triplet_batch` (labelled batches). ``margin`` is a plain
attribute, so a schedule may assign a new value between steps.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from contrastkit._validation import check_choice
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.reduction import check_reduction
from contrastkit.functional.triplet import (
    NEGATIVE_REDUCTIONS,
    NegativeReduction,
    check_triplet_options,
    triplet_margin_loss,
)
from contrastkit.functional.triplet_batch import (
    AVERAGES,
    MINING,
    Average,
    Mining,
    batch_all_triplet_loss,
    per_anchor_triplet_loss,
)


class _TripletBase(nn.Module):
    """Shared hyper-parameters (see :func:`~contrastkit.functional.triplet.triplet_margin_loss`)."""

    def __init__(
        self,
        margin: float,
        distance: str | Distance,
        normalize: bool,
        adaptive_margin: bool,
        hard_negative_penalty: bool,
        penalty_weight: float,
        penalty_threshold: float,
        reduction: str,
    ) -> None:
        super().__init__()
        check_triplet_options(margin, penalty_weight, penalty_threshold)
        self.margin = float(margin)
        self.distance = get_distance(distance)
        self.normalize = bool(normalize)
        self.adaptive_margin = bool(adaptive_margin)
        self.hard_negative_penalty = bool(hard_negative_penalty)
        self.penalty_weight = float(penalty_weight)
        self.penalty_threshold = float(penalty_threshold)
        self.reduction = check_reduction(reduction)

    def _options(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "distance": self.distance,
            "normalize": self.normalize,
            "adaptive_margin": self.adaptive_margin,
            "hard_negative_penalty": self.hard_negative_penalty,
            "penalty_weight": self.penalty_weight,
            "penalty_threshold": self.penalty_threshold,
            "reduction": self.reduction,
        }

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, distance={self.distance!r}, normalize={self.normalize}, "
            f"adaptive_margin={self.adaptive_margin}, "
            f"hard_negative_penalty={self.hard_negative_penalty}"
        )


class TripletMarginLoss(_TripletBase):
    r"""Triplet margin loss for explicit triplets, one or ``K`` negatives per anchor.

    Args:
        margin: ``m >= 0``. Default 0.5 (GATE notebook).
        distance: name or :class:`Distance`. Default ``"cosine"``; ``"sqeuclidean"`` gives
            FaceNet's :math:`\max(0, d(a,p) - d(a,n) + m)` (Schroff et al. 2015).
        normalize: L2-normalise embeddings first. Default False.
        adaptive_margin: :math:`m \max(0, 1 - \operatorname{sg}(s(a,p)))`. Default False.
        hard_negative_penalty: add :math:`\lambda \max(0, s(a,n) - t)`. Default False.
        penalty_weight: :math:`\lambda`. Default 0.1.
        penalty_threshold: :math:`t`. Default 0.8.
        negative_reduction: ``"mean"`` | ``"max"`` | ``"sum"`` over negatives. Default mean.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.

    Shapes (forward): ``anchor [B, d]``, ``positive [B, d]``, ``negative [B, d]`` or
    ``[B, K, d]``, ``negative_mask`` bool ``[B, K]``, ``weight [B]``. Returns a scalar or
    ``[B]``.

    Example:
        >>> import torch
        >>> loss = TripletMarginLoss(margin=0.2, adaptive_margin=True)
        >>> loss(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 3, 8)).shape
        torch.Size([])
    """

    def __init__(
        self,
        margin: float = 0.5,
        *,
        distance: str | Distance = "cosine",
        normalize: bool = False,
        adaptive_margin: bool = False,
        hard_negative_penalty: bool = False,
        penalty_weight: float = 0.1,
        penalty_threshold: float = 0.8,
        negative_reduction: NegativeReduction = "mean",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            margin, distance, normalize, adaptive_margin, hard_negative_penalty,
            penalty_weight, penalty_threshold, reduction,
        )  # fmt: skip
        self.negative_reduction = check_choice(
            "negative_reduction", negative_reduction, NEGATIVE_REDUCTIONS
        )

    def forward(
        self,
        anchor: Tensor,
        positive: Tensor,
        negative: Tensor,
        *,
        negative_mask: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        return triplet_margin_loss(
            anchor,
            positive,
            negative,
            negative_mask=negative_mask,
            negative_reduction=self.negative_reduction,
            weight=weight,
            **self._options(),
        )


class PerAnchorTripletLoss(_TripletBase):
    r"""One triplet loss per anchor of a labelled batch; ``hardest``/``hardest`` is the
    batch-hard loss of Hermans et al. (2017).

    Args:
        positives: ``"hardest"`` | ``"all"``. Default ``"hardest"``.
        negatives: ``"hardest"`` | ``"all"``. Default ``"hardest"``.
        others: as in :class:`TripletMarginLoss`.

    Shapes (forward): ``embeddings [B, d]``, ``labels [B]``, ``weight [B]``. Returns a
    scalar or ``[B]``.

    Example:
        >>> import torch
        >>> loss = PerAnchorTripletLoss(margin=0.3)
        >>> loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])).shape
        torch.Size([])
    """

    def __init__(
        self,
        margin: float = 0.5,
        *,
        positives: Mining = "hardest",
        negatives: Mining = "hardest",
        distance: str | Distance = "cosine",
        normalize: bool = False,
        adaptive_margin: bool = False,
        hard_negative_penalty: bool = False,
        penalty_weight: float = 0.1,
        penalty_threshold: float = 0.8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            margin, distance, normalize, adaptive_margin, hard_negative_penalty,
            penalty_weight, penalty_threshold, reduction,
        )  # fmt: skip
        self.positives = check_choice("positives", positives, MINING)
        self.negatives = check_choice("negatives", negatives, MINING)

    def forward(
        self, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None = None
    ) -> Tensor:
        return per_anchor_triplet_loss(
            embeddings,
            labels,
            positives=self.positives,
            negatives=self.negatives,
            weight=weight,
            **self._options(),
        )


class BatchAllTripletLoss(_TripletBase):
    r"""Triplet loss over every valid triplet of a labelled batch, averaged over the
    non-zero ones (``average="nonzero"``, pytorch-metric-learning's ``TripletMarginLoss``
    with its ``AvgNonZeroReducer``) or over all of them. No :math:`B^3` tensor is formed:
    :math:`O(B^2 \log B)` time, :math:`O(B^2)` memory (see
    :func:`~contrastkit.functional.triplet_batch.triplet_row_sums`).

    Args:
        average: ``"nonzero"`` | ``"all"``. Default ``"nonzero"``.
        others: as in :class:`TripletMarginLoss`.

    Shapes (forward): ``embeddings [B, d]``, ``labels [B]``, ``weight [B]``. Returns a
    scalar or ``[B]`` (per-anchor averages).

    Example:
        >>> import torch
        >>> loss = BatchAllTripletLoss(margin=0.05, distance="euclidean", normalize=True)
        >>> loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])).shape
        torch.Size([])
    """

    def __init__(
        self,
        margin: float = 0.5,
        *,
        average: Average = "nonzero",
        distance: str | Distance = "cosine",
        normalize: bool = False,
        adaptive_margin: bool = False,
        hard_negative_penalty: bool = False,
        penalty_weight: float = 0.1,
        penalty_threshold: float = 0.8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            margin, distance, normalize, adaptive_margin, hard_negative_penalty,
            penalty_weight, penalty_threshold, reduction,
        )  # fmt: skip
        self.average = check_choice("average", average, AVERAGES)

    def forward(
        self, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None = None
    ) -> Tensor:
        return batch_all_triplet_loss(
            embeddings,
            labels,
            average=self.average,
            weight=weight,
            **self._options(),
        )
