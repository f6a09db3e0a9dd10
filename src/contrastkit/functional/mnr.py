r"""Multiple-negatives ranking loss (MNRL), the sentence-transformers formulation.

Every anchor is scored against one shared candidate set: all positives of the batch,
followed by every hard negative of every row,

.. math::
    C = [p_1, \dots, p_B,\; n_{1,1}, \dots, n_{B,1},\; \dots,\; n_{1,H}, \dots, n_{B,H}],
    \qquad
    \ell_i = \operatorname{logsumexp}_{c \in C}\big(\lambda\, s(a_i, c)\big)
             - \lambda\, s(a_i, p_i),

with scale :math:`\lambda = 1/\tau` (default 20, cosine scores). This is
``sentence_transformers.losses.MultipleNegativesRankingLoss`` (Henderson et al. 2017,
"Efficient Natural Language Response Suggestion for Smart Reply"); ``symmetric=True``
adds the positive-to-anchor direction over :math:`\{a_1..a_B\}` and averages the two
(its ``directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_length, check_same_dim
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.info_nce import (
    check_anchor_positive,
    check_mask,
    check_negatives,
    check_temperature,
    pairwise_logits,
)
from contrastkit.functional.reduction import check_reduction, reduce_loss


def mnr_candidates(positives: Tensor, negatives: Tensor | None) -> Tensor:
    """The shared candidate matrix ``[B * (1 + H), d]`` in sentence-transformers' column
    order: positives, then hard-negative column 1 of every row, column 2, ...

    ``negatives`` is ``None``, ``[B, d]`` (H = 1) or ``[B, H, d]`` of the dtype of
    ``positives [B, d]``.
    """
    check_float_tensor("positives", positives, ndim=2)
    if negatives is None:
        return positives
    check_float_tensor("negatives", negatives, ndim=(2, 3))
    check_length("negatives", negatives, positives.shape[0])
    check_same_dim("positives", positives, "negatives", negatives)
    if negatives.dtype != positives.dtype:
        raise TypeError(f"negatives has dtype {negatives.dtype} but positives {positives.dtype}")
    if negatives.dim() == 2:
        return torch.cat([positives, negatives], dim=0)
    b, h, d = negatives.shape
    return torch.cat([positives, negatives.transpose(0, 1).reshape(h * b, d)], dim=0)


def check_mnr_inputs(anchors: Tensor, positives: Tensor, negatives: Tensor | None) -> int:
    """Validate MNRL inputs and return the number of candidate columns ``B * (1 + H)``."""
    check_anchor_positive(anchors, positives)
    if negatives is None:
        return anchors.shape[0]
    check_negatives(negatives, anchors, ndim=(2, 3))
    h = 1 if negatives.dim() == 2 else negatives.shape[1]
    return anchors.shape[0] * (1 + h)


def multiple_negatives_ranking_loss(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    *,
    scale: float | Tensor = 20.0,
    distance: str | Distance = "cosine",
    symmetric: bool = False,
    false_negative_mask: Tensor | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Multiple-negatives ranking loss with optional shared hard negatives.

    Args:
        anchors: ``[B, d]`` queries. positives: ``[B, d]``; ``positives[i]`` matches
            ``anchors[i]``.
        negatives: ``None``, ``[B, d]`` or ``[B, H, d]`` hard negatives; every row's
            negatives are candidates for every anchor (as in sentence-transformers).
        scale: logit scale :math:`\lambda = 1/\tau` > 0 (float or 0-dim tensor). Default 20.
        distance: name or :class:`Distance`. Default ``"cosine"``.
        symmetric: also the positive-to-anchor direction, averaged. Default False.
        false_negative_mask: bool ``[B, B * (1 + H)]`` over the candidate columns (order of
            :func:`mnr_candidates`), True = exclude; the own positive (column i) is kept.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. weight: optional ``[B]`` >= 0.

    Returns:
        scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> a, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 2, 8)
        >>> multiple_negatives_ranking_loss(a, p, n).shape
        torch.Size([])
    """
    m = check_mnr_inputs(anchors, positives, negatives)
    reduction = check_reduction(reduction)
    scale = check_temperature(scale, "scale")
    dist = get_distance(distance)
    b = anchors.shape[0]
    fn = check_mask("false_negative_mask", false_negative_mask, (b, m))
    candidates = mnr_candidates(positives, negatives)
    logits = pairwise_logits(dist, anchors, candidates, scale, ("anchors", "positives/negatives"))
    if fn is not None:
        own = torch.zeros_like(fn)
        own[:, :b] = torch.eye(b, dtype=torch.bool, device=fn.device)
        logits = logits.masked_fill(fn & ~own, float("-inf"))
    target = torch.arange(b, device=anchors.device)
    if not symmetric and weight is None and b > 0:
        return F.cross_entropy(logits, target, reduction=reduction)
    losses = F.cross_entropy(logits, target, reduction="none")
    if symmetric:
        losses = 0.5 * (losses + F.cross_entropy(logits[:, :b].T, target, reduction="none"))
    return reduce_loss(losses, reduction, weight)
