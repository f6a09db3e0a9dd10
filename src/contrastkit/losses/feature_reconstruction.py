r"""``nn.Module`` wrapper for node-feature reconstruction (MSE, BCE with logits, CE).

.. math::
    L = \frac{\sum_{i \in \text{mask}} w_i\, \ell(\hat x_i, x_i)}{\sum_{i \in \text{mask}} w_i}

See :mod:`contrastkit.functional.feature_reconstruction`.
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastkit._validation import check_choice, check_positive
from contrastkit.functional.feature_reconstruction import (
    FEATURE_REDUCTIONS,
    KINDS,
    FeatureReduction,
    ReconstructionKind,
    feature_reconstruction_loss,
)
from contrastkit.functional.reduction import check_reduction


class FeatureReconstructionLoss(nn.Module):
    r"""Compare decoded node features with the originals.

    Args:
        kind: ``"mse"`` (continuous), ``"bce"`` (binary; decoder gives logits) or ``"ce"``
            (categorical; decoder gives class logits). Default ``"mse"``.
        feature_reduction: ``"mean"`` | ``"sum"`` over features. Default ``"mean"``.
        pos_weight: positive-class weight for ``bce`` (float > 0). Default None.
        label_smoothing: for ``ce``. Default 0.0.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over nodes. Default ``"mean"``.

    Shapes (forward): ``pred [N, F]``; ``target [N, F]`` (``mse``/``bce``) or ``[N]`` /
    ``[N, C]`` (``ce``); ``node_mask`` bool ``[N]``; ``weight [N]``. Returns a scalar or
    ``[N]``.

    Example:
        >>> import torch
        >>> loss = FeatureReconstructionLoss("bce", pos_weight=3.0)
        >>> x = (torch.rand(5, 6) > 0.8).float()
        >>> loss(torch.randn(5, 6), x, node_mask=torch.tensor([1, 0, 1, 1, 0]).bool()).shape
        torch.Size([])
    """

    def __init__(
        self,
        kind: ReconstructionKind = "mse",
        *,
        feature_reduction: FeatureReduction = "mean",
        pos_weight: float | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, KINDS)
        self.feature_reduction = check_choice(
            "feature_reduction", feature_reduction, FEATURE_REDUCTIONS
        )
        self.pos_weight = None if pos_weight is None else check_positive("pos_weight", pos_weight)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.reduction = check_reduction(reduction)

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        *,
        node_mask: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        return feature_reconstruction_loss(
            pred,
            target,
            self.kind,
            node_mask=node_mask,
            feature_reduction=self.feature_reduction,
            pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, feature_reduction={self.feature_reduction!r}"
