"""``nn.Module`` wrapper for the multiple-negatives ranking loss (sentence-transformers)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.info_nce import check_temperature
from contrastkit.functional.mnr import multiple_negatives_ranking_loss
from contrastkit.functional.reduction import check_reduction
from contrastkit.functional.tiled_info_nce import (
    check_tiling,
    tiled_multiple_negatives_ranking_loss,
)


class MultipleNegativesRankingLoss(nn.Module):
    r"""In-batch ranking loss with optional hard negatives shared across the batch.

    .. math::
        \ell_i = \operatorname{logsumexp}_{c \in C}\big(\lambda\, s(a_i, c)\big)
                 - \lambda\, s(a_i, p_i),
        \quad C = [p_1..p_B, n_{1,1}..n_{B,1}, \dots, n_{1,H}..n_{B,H}]

    Same value as ``sentence_transformers.losses.MultipleNegativesRankingLoss`` (Henderson
    et al. 2017); see :func:`contrastkit.functional.mnr.multiple_negatives_ranking_loss`.

    Args:
        scale: :math:`\lambda = 1/\tau` > 0. Default 20.
        distance: name or :class:`Distance`. Default ``"cosine"``.
        symmetric: also rank anchors for every positive, averaged. Default False.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        tiled: never materialise the ``[B, B(1+H)]`` logits (no masks). Default False.
        tile_size, memory_budget: tiling controls.

    Shapes (forward): ``anchors [B, d]``, ``positives [B, d]``, ``negatives`` ``None`` /
    ``[B, d]`` / ``[B, H, d]``, ``false_negative_mask [B, B(1+H)]``, ``weight [B]``.
    Returns a scalar or ``[B]``.

    Example:
        >>> loss = MultipleNegativesRankingLoss()
        >>> loss(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)).shape
        torch.Size([])
    """

    def __init__(
        self,
        scale: float = 20.0,
        *,
        distance: str | Distance = "cosine",
        symmetric: bool = False,
        reduction: str = "mean",
        tiled: bool = False,
        tile_size: int | None = None,
        memory_budget: int | None = None,
    ) -> None:
        super().__init__()
        self.scale = float(check_temperature(scale, "scale"))
        self.distance = get_distance(distance)
        self.symmetric = bool(symmetric)
        self.reduction = check_reduction(reduction)
        self.tiled = bool(tiled)
        self.tile_size, self.memory_budget = check_tiling(tile_size, memory_budget)

    def forward(
        self,
        anchors: Tensor,
        positives: Tensor,
        negatives: Tensor | None = None,
        *,
        false_negative_mask: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        if self.tiled:
            if false_negative_mask is not None:
                raise ValueError("false_negative_mask is not supported with tiled=True")
            return tiled_multiple_negatives_ranking_loss(
                anchors,
                positives,
                negatives,
                scale=self.scale,
                distance=self.distance,
                symmetric=self.symmetric,
                tile_size=self.tile_size,
                memory_budget=self.memory_budget,
                reduction=self.reduction,
                weight=weight,
            )
        return multiple_negatives_ranking_loss(
            anchors,
            positives,
            negatives,
            scale=self.scale,
            distance=self.distance,
            symmetric=self.symmetric,
            false_negative_mask=false_negative_mask,
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        return f"scale={self.scale}, distance={self.distance!r}, symmetric={self.symmetric}"
