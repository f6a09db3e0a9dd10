r"""``nn.Module`` wrappers for the local and multi-hop contrastive losses.

.. math::
    \ell_{ij} = y_{ij}\, d_{ij}^2 + (1 - y_{ij}) \max(0, m - d_{ij})^2

See :mod:`contrastkit.functional.pair_contrastive` (Hadsell, Chopra & LeCun 2006).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from contrastkit._validation import check_non_negative
from contrastkit.functional.distances import Distance
from contrastkit.functional.pair_contrastive import (
    local_contrastive_loss,
    multi_hop_contrastive_loss,
    require_distance,
)
from contrastkit.functional.reduction import check_reduction


class LocalContrastiveLoss(nn.Module):
    r"""Contrastive loss over an edge list with similar/dissimilar pair labels.

    Args:
        margin: ``m >= 0`` for dissimilar pairs. Default 1.0.
        distance: a distance name or :class:`Distance`. Default ``"euclidean"``.
        normalize: L2-normalise embeddings first. Default False.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.

    Shapes (forward): ``z [N, d]``, ``edge_index [2, E]``, ``similar`` bool ``[E]`` or
    None (all similar), ``weight [E]``. Returns a scalar or ``[E]``.

    Example:
        >>> import torch
        >>> loss = LocalContrastiveLoss(margin=2.0)
        >>> ei = torch.tensor([[0, 1], [1, 2]])
        >>> loss(torch.randn(3, 4), ei, torch.tensor([True, False])).shape
        torch.Size([])
    """

    def __init__(
        self,
        margin: float = 1.0,
        *,
        distance: str | Distance = "euclidean",
        normalize: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.margin = check_non_negative("margin", margin)
        self.distance = require_distance(distance)
        self.normalize = bool(normalize)
        self.reduction = check_reduction(reduction)

    def forward(
        self,
        z: Tensor,
        edge_index: Tensor,
        similar: Tensor | None = None,
        *,
        weight: Tensor | None = None,
    ) -> Tensor:
        return local_contrastive_loss(
            z,
            edge_index,
            similar,
            margin=self.margin,
            distance=self.distance,
            normalize=self.normalize,
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}, normalize={self.normalize}"


class MultiHopContrastiveLoss(nn.Module):
    r"""Pull ``h``-hop pairs together with per-hop weights :math:`w_h`, push non-pairs.

    .. math::
        L = \frac{\sum w_h d_{ij}^2 + \omega \sum_{\mathcal N} \max(0, m - d_{ij})^2}
            {\sum w_h + \omega |\mathcal N|}

    Args:
        hop_weights: :math:`w_1, \dots, w_H`; default None, i.e. :math:`w_h = 1/h`.
        negative_weight: :math:`\omega`. Default 1.0.
        margin, distance, normalize, reduction: as in :class:`LocalContrastiveLoss`.

    Shapes (forward): ``z [N, d]``; ``edge_index`` a ``[2, E]`` tensor with ``hop [E]``
    (>= 1), or a sequence of per-hop ``[2, E_h]`` tensors; ``negative_edge_index
    [2, E_-]``; ``weight [E + E_-]``. Returns a scalar or ``[E + E_-]``.

    Example:
        >>> import torch
        >>> loss = MultiHopContrastiveLoss(hop_weights=[1.0, 0.25])
        >>> hops = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0], [2]])]
        >>> loss(torch.randn(4, 3), hops, negative_edge_index=torch.tensor([[0], [3]])).shape
        torch.Size([])
    """

    def __init__(
        self,
        hop_weights: Sequence[float] | None = None,
        *,
        negative_weight: float = 1.0,
        margin: float = 1.0,
        distance: str | Distance = "euclidean",
        normalize: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.hop_weights = None if hop_weights is None else [float(w) for w in hop_weights]
        if self.hop_weights is not None and any(w < 0 or w != w for w in self.hop_weights):
            raise ValueError(f"hop_weights must be non-negative, got {self.hop_weights}")
        self.negative_weight = check_non_negative("negative_weight", negative_weight)
        self.margin = check_non_negative("margin", margin)
        self.distance = require_distance(distance)
        self.normalize = bool(normalize)
        self.reduction = check_reduction(reduction)

    def forward(
        self,
        z: Tensor,
        edge_index: Tensor | Sequence[Tensor],
        hop: Tensor | None = None,
        *,
        negative_edge_index: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        return multi_hop_contrastive_loss(
            z,
            edge_index,
            hop,
            hop_weights=self.hop_weights,
            negative_edge_index=negative_edge_index,
            negative_weight=self.negative_weight,
            margin=self.margin,
            distance=self.distance,
            normalize=self.normalize,
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        return (
            f"hop_weights={self.hop_weights}, negative_weight={self.negative_weight}, "
            f"margin={self.margin}, distance={self.distance!r}"
        )
