r"""Triplet margin loss over scores, for explicit (anchor, positive, negative) triplets.

Every triplet loss in contrastkit is written once over *scores* ``s`` (larger =
closer, see :class:`~contrastkit.functional.distances.Distance`):

.. math::
    \ell(a, p, n) = \max\big(0,\; m_{ap} + s(a, n) - s(a, p)\big)
        + \lambda\,\max\big(0,\; s(a, n) - t\big)

With the squared-L2 distance (``s = -d``) this is the FaceNet loss
:math:`\max(0, d(a,p) - d(a,n) + m)` (Schroff et al. 2015); with cosine similarity it is
:math:`\max(0, m + \cos(a,n) - \cos(a,p))`. The margin is either fixed, :math:`m_{ap} = m`,
or adaptive (GATE triplet notebook), :math:`m_{ap} = m \max(0, 1 - \operatorname{sg}(s(a,p)))`,
which asks for a wider gap while the positive is still far and relaxes once it is close
(``sg`` = stop-gradient; the clamp only matters for unbounded scores such as dot products,
where a negative margin would reward violations). The second term is the optional
hard-negative penalty of the same notebook (default :math:`\lambda = 0.1`, :math:`t = 0.8`),
which keeps pushing negatives that are near-duplicates of the anchor.

Per-anchor and batch-all forms built from labels are in
:mod:`contrastkit.functional.triplet_batch`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_broadcastable,
    check_choice,
    check_float_tensor,
    check_length,
    check_non_negative,
    check_same_dim,
    check_same_shape,
    check_tensor,
)
from contrastkit.functional.distances import COSINE_EPS, Distance, get_distance
from contrastkit.functional.reduction import reduce_loss

NegativeReduction = Literal["mean", "max", "sum"]
NEGATIVE_REDUCTIONS: tuple[NegativeReduction, ...] = ("mean", "max", "sum")


def check_triplet_options(margin: float, penalty_weight: float, penalty_threshold: float) -> None:
    """Validate the shared hyper-parameters (``margin`` >= 0, ``penalty_weight`` >= 0,
    finite ``penalty_threshold``)."""
    check_non_negative("margin", margin)
    check_non_negative("penalty_weight", penalty_weight)
    if isinstance(penalty_threshold, bool) or not isinstance(penalty_threshold, (int, float)):
        raise TypeError(f"penalty_threshold must be a number, got {penalty_threshold!r}")
    if not math.isfinite(float(penalty_threshold)):
        raise ValueError(f"penalty_threshold must be finite, got {penalty_threshold!r}")


def effective_margin(pos_score: Tensor, margin: float, adaptive_margin: bool) -> Tensor | float:
    r"""``m`` or the adaptive :math:`m \max(0, 1 - \operatorname{sg}(s_{ap}))` (same shape as
    ``pos_score``)."""
    if not adaptive_margin:
        return margin
    return margin * (1.0 - pos_score.detach()).clamp_min(0.0)


def triplet_hinge(
    pos_score: Tensor,
    neg_score: Tensor,
    margin: float = 0.5,
    *,
    adaptive_margin: bool = False,
    hard_negative_penalty: bool = False,
    penalty_weight: float = 0.1,
    penalty_threshold: float = 0.8,
) -> Tensor:
    r"""Elementwise triplet loss from scores (larger = closer), broadcasting the two inputs.

    .. math::
        \ell = \max(0, m_{ap} + s_{an} - s_{ap}) + \lambda \max(0, s_{an} - t)

    Args:
        pos_score: anchor-positive scores, any shape broadcastable with ``neg_score``.
        neg_score: anchor-negative scores.
        margin: ``m >= 0`` (default 0.5, the GATE notebook's value).
        adaptive_margin: use :math:`m \max(0, 1 - \operatorname{sg}(s_{ap}))`.
        hard_negative_penalty: add :math:`\lambda \max(0, s_{an} - t)`.
        penalty_weight: :math:`\lambda` (default 0.1).
        penalty_threshold: :math:`t` (default 0.8).

    Returns:
        the broadcast shape of the inputs.

    Raises:
        TypeError/ValueError: naming ``pos_score``/``neg_score`` (not floating-point
            tensors, shapes that do not broadcast) or a bad hyper-parameter.
    """
    check_float_tensor("pos_score", pos_score)
    check_float_tensor("neg_score", neg_score)
    check_broadcastable("pos_score", pos_score, "neg_score", neg_score)
    check_triplet_options(margin, penalty_weight, penalty_threshold)
    m = effective_margin(pos_score, margin, adaptive_margin)
    loss = F.relu(m + neg_score - pos_score)
    if hard_negative_penalty:
        loss = loss + penalty_weight * F.relu(neg_score - penalty_threshold)
    return loss


def maybe_normalize(x: Tensor, normalize: bool) -> Tensor:
    """L2-normalise rows when ``normalize`` (pytorch-metric-learning's default for L2)."""
    return F.normalize(x, dim=-1, eps=COSINE_EPS) if normalize else x


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    negative_mask: Tensor | None = None,
    margin: float = 0.5,
    distance: str | Distance = "cosine",
    normalize: bool = False,
    adaptive_margin: bool = False,
    hard_negative_penalty: bool = False,
    penalty_weight: float = 0.1,
    penalty_threshold: float = 0.8,
    negative_reduction: NegativeReduction = "mean",
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Triplet margin loss for explicit triplets, one or ``K`` negatives per anchor.

    .. math::
        L_b = \operatorname{agg}_{k:\,\mathrm{mask}_{bk}}
            \Big[\max(0, m_{ap} + s(a_b, n_{bk}) - s(a_b, p_b))
            + \lambda \max(0, s(a_b, n_{bk}) - t)\Big]

    where ``agg`` is ``negative_reduction`` (mean, max = hardest negative, or sum).

    Args:
        anchor: ``[B, d]``.
        positive: ``[B, d]``.
        negative: ``[B, d]`` (one negative each) or ``[B, K, d]``.
        negative_mask: optional bool ``[B, K]``; False marks a missing negative. An anchor
            whose negatives are all masked is excluded from the mean and gives 0.
        margin: ``m >= 0`` (default 0.5).
        distance: name or :class:`Distance` (default ``"cosine"``); ``"sqeuclidean"`` gives
            the FaceNet form.
        normalize: L2-normalise embeddings first (default False).
        adaptive_margin, hard_negative_penalty, penalty_weight, penalty_threshold: see
            :func:`triplet_hinge`.
        negative_reduction: ``"mean"`` (default), ``"max"`` or ``"sum"`` over negatives.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over anchors.
        weight: optional non-negative per-anchor weights ``[B]``.

    Returns:
        a scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> a, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 3, 8)
        >>> triplet_margin_loss(a, p, n, margin=0.2, distance="sqeuclidean").shape
        torch.Size([])
    """
    anchor = check_float_tensor("anchor", anchor, ndim=2)
    positive = check_float_tensor("positive", positive, ndim=2)
    negative = check_float_tensor("negative", negative, ndim=(2, 3))
    check_same_shape("anchor", anchor, "positive", positive)
    check_same_dim("anchor", anchor, "negative", negative)
    check_length("negative", negative, anchor.shape[0])
    check_triplet_options(margin, penalty_weight, penalty_threshold)
    negative_reduction = check_choice("negative_reduction", negative_reduction, NEGATIVE_REDUCTIONS)
    dist = get_distance(distance)
    if negative.dim() == 2:
        negative = negative.unsqueeze(1)
        if negative_mask is not None:
            raise ValueError("negative_mask is only allowed with negative of shape [B, K, d]")
    b, k = negative.shape[0], negative.shape[1]
    if negative_mask is not None:
        negative_mask = check_tensor("negative_mask", negative_mask, ndim=2)
        if negative_mask.dtype != torch.bool:
            raise TypeError(f"negative_mask must be a bool tensor, got dtype {negative_mask.dtype}")
        if tuple(negative_mask.shape) != (b, k):
            raise ValueError(
                f"negative_mask must have shape {(b, k)}, got {tuple(negative_mask.shape)}"
            )
    anchor = maybe_normalize(anchor, normalize)
    positive = maybe_normalize(positive, normalize)
    negative = maybe_normalize(negative, normalize)
    pos_score = dist.score_paired(anchor, positive, names=("anchor", "positive"))  # [B]
    neg_score = dist.score_paired(
        anchor.unsqueeze(1), negative, names=("anchor", "negative")
    )  # [B, K]
    per_triplet = triplet_hinge(
        pos_score.unsqueeze(1),
        neg_score,
        margin,
        adaptive_margin=adaptive_margin,
        hard_negative_penalty=hard_negative_penalty,
        penalty_weight=penalty_weight,
        penalty_threshold=penalty_threshold,
    )  # [B, K]
    mask = (
        negative_mask
        if negative_mask is not None
        else torch.ones_like(per_triplet, dtype=torch.bool)
    )
    masked = torch.where(mask, per_triplet, torch.zeros_like(per_triplet))
    count = mask.sum(1)
    if negative_reduction == "mean":
        per_anchor = masked.sum(1) / count.clamp_min(1).to(masked.dtype)
    elif negative_reduction == "sum":
        per_anchor = masked.sum(1)
    else:
        # hinge values are >= 0, so a masked 0 never beats a real maximum
        per_anchor = masked.max(1).values if k > 0 else masked.sum(1)
    return reduce_loss(per_anchor, reduction, weight=weight, valid=count > 0)
