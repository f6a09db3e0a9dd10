r"""``nn.Module`` wrapper for distance preservation (stress against hop distances).

.. math::
    \ell = \operatorname{mean}_{(i,j)} \big(d(z_i, z_j) - t_{ij}\big)^2 / t_{ij}^2

The maths and the pair sampler
(:func:`~contrastkit.functional.distance_preservation.hop_distance_pairs`) are in
:mod:`contrastkit.functional.distance_preservation`. References: Kruskal (1964);
Gansner, Koren & North (2004).
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastkit.functional.distance_preservation import (
    check_metric,
    distance_preservation_loss,
)
from contrastkit.functional.distances import Distance
from contrastkit.functional.reduction import Reduction, check_reduction


class DistancePreservationLoss(nn.Module):
    r"""Metric-MDS stress between embedding distances and target (hop) distances.

    .. math::

        \ell = \frac{1}{|P|} \sum_{(i,j) \in P} w_{ij} \big(d(z_i, z_j) - t_{ij}\big)^2,
        \qquad w_{ij} = t_{ij}^{-2} \text{ (normalised) or } 1.

    Args:
        distance: ``"euclidean"`` (default), ``"poincare"``, or an ``L2Distance`` /
            ``PoincareDistance`` instance; non-metrics (cosine, dot, squared L2) are refused.
        normalized: weight :math:`1/t^2` (default True) or 1.
        reduction: ``"mean"`` over kept pairs (default), ``"sum"`` or ``"none"``.

    Shapes (forward): ``z [N, d]``, ``pairs [2, P]``, ``target [P]`` (pairs with target
    0, NaN or +inf are ignored). Returns a scalar (``[P]`` for ``"none"``).

    Example:
        >>> import torch
        >>> from contrastkit.functional.distance_preservation import hop_distance_pairs
        >>> ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
        >>> pairs, hops = hop_distance_pairs(ring, 4, torch.arange(4), max_hops=2)
        >>> z = torch.randn(4, 2, requires_grad=True)
        >>> DistancePreservationLoss()(z, pairs, hops).backward()
    """

    def __init__(
        self,
        distance: str | Distance = "euclidean",
        *,
        normalized: bool = True,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.distance = check_metric(distance)
        if not isinstance(normalized, bool):
            raise TypeError(f"normalized must be a bool, got {type(normalized).__name__}")
        self.normalized = normalized
        self.reduction = check_reduction(reduction)

    def forward(self, z: Tensor, pairs: Tensor, target: Tensor) -> Tensor:
        return distance_preservation_loss(
            z,
            pairs,
            target,
            distance=self.distance,
            normalized=self.normalized,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"distance={self.distance!r}, normalized={self.normalized}, "
            f"reduction={self.reduction!r}"
        )
