"""Reduction of per-sample losses, shared by every objective.

``mean`` with per-sample weights ``w`` is the weighted mean
:math:`\\sum_i w_i \\ell_i / \\sum_i w_i` (the convention of
``torch.nn.functional.cross_entropy(weight=...)``); ``sum`` is
:math:`\\sum_i w_i \\ell_i`; ``none`` returns :math:`w_i \\ell_i`.
An empty input reduces to a zero that is still attached to the graph, so
``backward()`` works and gives zero gradients instead of NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_weight

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[Reduction, ...] = ("mean", "sum", "none")


def check_reduction(reduction: str) -> Reduction:
    return check_choice("reduction", reduction, REDUCTIONS)


def reduce_loss(
    losses: Tensor,
    reduction: str = "mean",
    weight: Tensor | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """Reduce per-sample ``losses`` of any shape.

    Args:
        losses: per-sample losses, any shape ``S``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        weight: optional non-negative weights of shape ``S``.
        valid: optional bool mask of shape ``S``; invalid entries count as weight 0
            and are returned as 0 under ``"none"``.

    Returns:
        a scalar, or a tensor of shape ``S`` for ``"none"``.
    """
    reduction = check_reduction(reduction)
    check_weight("weight", weight, losses.shape)
    w: Tensor | None = weight
    if valid is not None:
        v = valid.to(losses.dtype)
        w = v if w is None else w * v
        # where() so that a NaN/inf computed for an invalid row cannot leak into the sum
        losses = torch.where(valid, losses, torch.zeros_like(losses))
    weighted = losses if w is None else losses * w
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if w is None:
        if losses.numel() == 0:
            return losses.sum() * 0.0
        return losses.mean()
    total = w.sum()
    # clamp keeps an all-masked batch at an attached 0 instead of 0/0
    return weighted.sum() / total.clamp_min(torch.finfo(losses.dtype).tiny)
