r"""Label-based triplet losses inside a batch: per-anchor (batch-hard) and batch-all.

Positives of anchor ``a`` are the other items with its label, negatives the items with a
different label. The per-triplet loss is :func:`contrastkit.functional.triplet.triplet_hinge`
over the score matrix :math:`S = \operatorname{score}(X, X)`.

Batch-all memory: the valid triplets number up to :math:`B^3`. Rather than materialise
them (and keep them alive for autograd), :class:`_TripletRowSums` walks the anchors in
chunks of at most ``max_elements`` triplets, reduces each chunk to per-anchor sums and
counts, and records the exact gradient with respect to ``S`` (the hinge is piecewise
linear in ``S``), so peak extra memory is ``O(max_elements + B^2)`` for forward and
backward together.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_float_tensor,
    check_length,
    check_positive_int,
    check_tensor,
    check_weight,
)
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.reduction import check_reduction, reduce_loss
from contrastkit.functional.triplet import check_triplet_options, maybe_normalize, triplet_hinge

Mining = Literal["hardest", "all"]
MINING: tuple[Mining, ...] = ("hardest", "all")
Average = Literal["nonzero", "all"]
AVERAGES: tuple[Average, ...] = ("nonzero", "all")
DEFAULT_MAX_ELEMENTS = 1 << 22


class _TripletRowSums(torch.autograd.Function):
    """Per-anchor sum over valid (p, n) of the triplet hinge, computed in anchor chunks.

    Returns ``(sums [B], counts [B], nonzero [B])``; only ``sums`` is differentiable.
    """

    @staticmethod
    def forward(
        ctx: Any,
        scores: Tensor,
        pos_mask: Tensor,
        neg_mask: Tensor,
        margin: float,
        adaptive: bool,
        penalty_weight: float,
        penalty_threshold: float,
        chunk: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        s = scores.detach()
        b = s.shape[0]
        sums = s.new_zeros(b)
        counts = s.new_zeros(b)
        nonzero = s.new_zeros(b)
        grad = torch.zeros_like(s)
        n_pos = pos_mask.sum(1).to(s.dtype)
        # the penalty depends on (a, n) only: each (a, n) appears once per positive of a
        pen_on = (s > penalty_threshold) & neg_mask if penalty_weight > 0 else None
        for start in range(0, b, chunk):
            rows = slice(start, start + chunk)
            sa = s[rows]
            sp, sn = sa.unsqueeze(2), sa.unsqueeze(1)  # [c, P, 1], [c, 1, N]
            m = margin * (1.0 - sp).clamp_min(0.0) if adaptive else margin
            valid = pos_mask[rows].unsqueeze(2) & neg_mask[rows].unsqueeze(1)
            hinge = (m + sn - sp).clamp_min_(0.0)
            hinge = torch.where(valid, hinge, 0.0)
            active = hinge > 0
            sums[rows] = hinge.sum((1, 2))
            counts[rows] = valid.sum((1, 2)).to(s.dtype)
            # d sum_a / d S[a, j]: +#active triplets with j as negative, - with j as positive
            grad[rows] = active.sum(1).to(s.dtype) - active.sum(2).to(s.dtype)
            if pen_on is not None:
                active = active | (valid & pen_on[rows].unsqueeze(1))
            nonzero[rows] = active.sum((1, 2)).to(s.dtype)
        if pen_on is not None:
            pen = penalty_weight * (s - penalty_threshold).clamp_min(0.0)
            sums += n_pos * torch.where(neg_mask, pen, 0.0).sum(1)
            grad += penalty_weight * n_pos.unsqueeze(1) * pen_on.to(s.dtype)
        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(counts, nonzero)
        return sums, counts, nonzero

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        return (grads[0].unsqueeze(1) * grad, None, None, None, None, None, None, None)


def label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Positive mask (same label, not self) and negative mask (other label), each ``[B, B]``."""
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _scores_and_masks(
    embeddings: Tensor, labels: Tensor, distance: str | Distance, normalize: bool
) -> tuple[Tensor, Tensor, Tensor]:
    embeddings = check_float_tensor("embeddings", embeddings, ndim=2)
    labels = check_tensor("labels", labels, ndim=1)
    check_length("labels", labels, embeddings.shape[0])
    if labels.is_floating_point():
        raise TypeError(f"labels must be an integer or bool tensor, got dtype {labels.dtype}")
    x = maybe_normalize(embeddings, normalize)
    pos_mask, neg_mask = label_masks(labels)
    return get_distance(distance).score_pairwise(x, x), pos_mask, neg_mask


def _chunk_rows(b: int, max_elements: int) -> int:
    return max(1, max_elements // max(1, b * b))


def batch_all_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.5,
    distance: str | Distance = "cosine",
    normalize: bool = False,
    adaptive_margin: bool = False,
    hard_negative_penalty: bool = False,
    penalty_weight: float = 0.1,
    penalty_threshold: float = 0.8,
    average: Average = "nonzero",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Triplet loss over every valid (anchor, positive, negative) triplet of a labelled batch.

    .. math::
        L = \frac{\sum_{(a,p,n)} w_a\, \ell(a,p,n)}{\sum_{(a,p,n)} w_a\, [\ell(a,p,n) > 0]}
        \quad(\texttt{average="nonzero"}),

    the reducer of pytorch-metric-learning's ``TripletMarginLoss`` (``AvgNonZeroReducer``,
    Hermans et al. 2017 "batch all"); ``average="all"`` divides by the weighted number of
    valid triplets instead. With no contributing triplet the result is an attached 0.

    Args:
        embeddings: ``[B, d]``.
        labels: ``[B]`` integer class labels.
        margin, distance, normalize, adaptive_margin, hard_negative_penalty, penalty_weight,
            penalty_threshold: see :func:`contrastkit.functional.triplet.triplet_margin_loss`
            (defaults: 0.5, ``"cosine"``, False, False, False, 0.1, 0.8).
        average: ``"nonzero"`` (default) or ``"all"``.
        max_elements: triplets evaluated at once (default :math:`2^{22}`), bounding memory.
        reduction: ``"mean"`` as above, ``"sum"`` (weighted sum over all triplets) or
            ``"none"``: per-anchor ``[B]`` averages (by ``average``) times ``w_a``, 0 for
            anchors without a counted triplet.
        weight: optional non-negative per-anchor weights ``[B]``.

    Returns:
        a scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
        >>> float(batch_all_triplet_loss(x, y, margin=0.0, distance="sqeuclidean")) >= 0
        True
    """
    reduction = check_reduction(reduction)
    average = check_choice("average", average, AVERAGES)
    check_positive_int("max_elements", max_elements)
    check_triplet_options(margin, penalty_weight, penalty_threshold)
    scores, pos_mask, neg_mask = _scores_and_masks(embeddings, labels, distance, normalize)
    b = scores.shape[0]
    check_weight("weight", weight, (b,))
    sums, counts, nonzero = _TripletRowSums.apply(
        scores,
        pos_mask,
        neg_mask,
        float(margin),
        adaptive_margin,
        float(penalty_weight) if hard_negative_penalty else 0.0,
        float(penalty_threshold),
        _chunk_rows(b, max_elements),
    )
    denom = nonzero if average == "nonzero" else counts
    tiny = torch.finfo(sums.dtype).tiny
    if reduction == "none":
        # an anchor with denom 0 has only zero-loss triplets, so its sum is 0 as well
        per_anchor = sums / denom.clamp_min(tiny)
        return per_anchor if weight is None else per_anchor * weight
    if weight is not None:
        sums, denom = sums * weight, denom * weight
    if reduction == "sum":
        return sums.sum()
    return sums.sum() / denom.sum().clamp_min(tiny)


def per_anchor_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    positives: Mining = "hardest",
    negatives: Mining = "hardest",
    margin: float = 0.5,
    distance: str | Distance = "cosine",
    normalize: bool = False,
    adaptive_margin: bool = False,
    hard_negative_penalty: bool = False,
    penalty_weight: float = 0.1,
    penalty_threshold: float = 0.8,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""One triplet loss per anchor, from its hardest or all positives/negatives in the batch.

    .. math::
        L_a = \operatorname{mean}_{p \in P_a,\, n \in N_a} \ell(a, p, n)

    where :math:`P_a` is the hardest positive :math:`\arg\min_p s(a,p)` or all positives,
    and :math:`N_a` the hardest negative :math:`\arg\max_n s(a,n)` or all negatives.
    ``hardest``/``hardest`` is the batch-hard loss of Hermans et al. (2017). Anchors
    without a positive or a negative are excluded (0 under ``"none"``).

    Args:
        embeddings: ``[B, d]``.
        labels: ``[B]`` integer class labels.
        positives: ``"hardest"`` (default) or ``"all"``.
        negatives: ``"hardest"`` (default) or ``"all"``.
        margin, distance, normalize, adaptive_margin, hard_negative_penalty, penalty_weight,
            penalty_threshold: as in :func:`batch_all_triplet_loss`.
        max_elements: chunk budget for ``"all"``/``"all"`` (default :math:`2^{22}`).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over anchors.
        weight: optional non-negative per-anchor weights ``[B]``.

    Returns:
        a scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
        >>> per_anchor_triplet_loss(x, y, reduction="none").shape
        torch.Size([6])
    """
    positives = check_choice("positives", positives, MINING)
    negatives = check_choice("negatives", negatives, MINING)
    check_positive_int("max_elements", max_elements)
    check_triplet_options(margin, penalty_weight, penalty_threshold)
    scores, pos_mask, neg_mask = _scores_and_masks(embeddings, labels, distance, normalize)
    has_pos, has_neg = pos_mask.any(1), neg_mask.any(1)
    valid = has_pos & has_neg
    opts: dict[str, Any] = {
        "adaptive_margin": adaptive_margin,
        "hard_negative_penalty": hard_negative_penalty,
        "penalty_weight": penalty_weight,
        "penalty_threshold": penalty_threshold,
    }
    if scores.shape[0] == 0:  # min/max below need a non-empty row
        return reduce_loss(scores.sum(1), reduction, weight=weight)
    if positives == "all" and negatives == "all":
        sums, counts, _ = _TripletRowSums.apply(
            scores,
            pos_mask,
            neg_mask,
            float(margin),
            adaptive_margin,
            float(penalty_weight) if hard_negative_penalty else 0.0,
            float(penalty_threshold),
            _chunk_rows(scores.shape[0], max_elements),
        )
        return reduce_loss(sums / counts.clamp_min(1.0), reduction, weight=weight, valid=valid)
    inf = torch.finfo(scores.dtype).max
    # where() before min/max: rows without positives/negatives must not produce inf - inf
    hard_pos = torch.where(pos_mask, scores, inf).min(1).values
    hard_pos = torch.where(has_pos, hard_pos, 0.0)
    hard_neg = torch.where(neg_mask, scores, -inf).max(1).values
    hard_neg = torch.where(has_neg, hard_neg, 0.0)
    if positives == "hardest" and negatives == "hardest":
        per_anchor = triplet_hinge(hard_pos, hard_neg, margin, **opts)
    elif positives == "all":
        per = triplet_hinge(scores, hard_neg.unsqueeze(1), margin, **opts)
        per_anchor = _masked_row_mean(per, pos_mask)
    else:
        per = triplet_hinge(hard_pos.unsqueeze(1), scores, margin, **opts)
        per_anchor = _masked_row_mean(per, neg_mask)
    return reduce_loss(per_anchor, reduction, weight=weight, valid=valid)


def _masked_row_mean(values: Tensor, mask: Tensor) -> Tensor:
    total = torch.where(mask, values, 0.0).sum(1)
    return total / mask.sum(1).clamp_min(1).to(values.dtype)
