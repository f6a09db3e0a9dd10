r"""Label-based triplet losses inside a batch: per-anchor (batch-hard) and batch-all.

Positives of anchor ``a`` are the other items with its label, negatives the items with a
different label. The per-triplet loss is :func:`contrastkit.functional.triplet.triplet_hinge`
over the score matrix :math:`S = \operatorname{score}(X, X)`.

Batch-all cost: the valid triplets number up to :math:`B^3`, but none is materialised.
For a fixed anchor and positive the hinge is linear in the negative's score above a
threshold and zero below it, so sorting each anchor's negative scores once and taking
prefix sums gives every per-(anchor, positive) sum with one binary search
(:func:`triplet_row_sums`): :math:`O(B^2 \log B)` time and :math:`O(B^2)` memory — the
size of the score matrix itself — for forward and backward, with exact autograd gradients.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_float_tensor,
    check_length,
    check_same_shape,
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


def triplet_row_sums(
    scores: Tensor,
    pos_mask: Tensor,
    neg_mask: Tensor,
    margin: float,
    adaptive_margin: bool = False,
    penalty_weight: float = 0.0,
    penalty_threshold: float = 0.8,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Per-anchor sums of :func:`triplet_hinge` over all (p, n) pairs, without a B³ tensor.

    For anchor ``a`` and positive ``p`` the hinge is active exactly for the negatives with
    :math:`s_{an} > \theta_{ap} = s_{ap} - m_{ap}`, so with the negatives' scores sorted and
    prefix-summed per row,

    .. math::
        \sum_n \max(0, s_{an} - \theta_{ap}) = \sum_{n:\, s_{an} > \theta_{ap}} s_{an}
            - c_{ap}\,\theta_{ap}, \qquad c_{ap} = \#\{n : s_{an} > \theta_{ap}\},

    found by one ``searchsorted``. The prefix sums are kept in float64 because the
    difference cancels. Gradients flow through ``sort``/``cumsum``/``gather`` by autograd.

    Args:
        scores: ``[B, M]`` scores (larger = closer) of anchors against candidates.
        pos_mask, neg_mask: bool ``[B, M]``.
        margin, adaptive_margin, penalty_weight, penalty_threshold: as in
            :func:`triplet_hinge` (``penalty_weight`` 0 disables the penalty).

    Returns:
        ``(sums, counts, nonzero)``, each ``[B]`` in ``scores.dtype``: the per-anchor sum of
        triplet losses, the number of valid triplets and the number with a positive loss.
        Only ``sums`` carries gradients. Cost :math:`O(BM\log M)` time, :math:`O(BM)` memory.
    """
    check_float_tensor("scores", scores, ndim=2)
    for name, mask in (("pos_mask", pos_mask), ("neg_mask", neg_mask)):
        check_tensor(name, mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"{name} must be a bool tensor, got dtype {mask.dtype}")
        check_same_shape("scores", scores, name, mask)
    check_triplet_options(margin, penalty_weight, penalty_threshold)
    b, m_cols = scores.shape
    dtype = scores.dtype
    acc = torch.float64
    n_pos, n_neg = pos_mask.sum(1), neg_mask.sum(1)
    # non-negatives sort to the end as +inf and are never counted (thresholds are finite)
    neg_sorted = torch.where(neg_mask, scores, float("inf")).sort(dim=1).values
    key = neg_sorted.detach().contiguous()
    in_set = torch.arange(m_cols, device=scores.device).unsqueeze(0) < n_neg.unsqueeze(1)
    vals = torch.where(in_set, neg_sorted, 0.0).to(acc)
    csum = torch.nn.functional.pad(vals.cumsum(1), (1, 0))  # [B, M + 1], csum[:, k] = first k
    margin_ap = margin * (1.0 - scores.detach()).clamp_min(0.0) if adaptive_margin else margin
    theta = scores - margin_ap  # [B, M]: theta[a, p]
    idx = torch.searchsorted(key, theta.detach().contiguous(), right=True)  # #{n: s_n <= theta}
    active = torch.where(pos_mask, n_neg.unsqueeze(1) - idx, 0)
    tail = csum[:, -1:] - csum.gather(1, idx)
    hinge = torch.where(pos_mask, tail - active.to(acc) * theta.to(acc), 0.0)
    sums = hinge.sum(1).to(dtype)
    nonzero = active.sum(1)
    if penalty_weight > 0:
        pen = penalty_weight * (scores - penalty_threshold).clamp_min(0.0)
        sums = sums + n_pos.to(dtype) * torch.where(neg_mask, pen, 0.0).sum(1)
        # triplets with a zero hinge but a positive penalty: penalty_threshold < s_n <= theta
        t = torch.full((b, 1), penalty_threshold, dtype=dtype, device=scores.device)
        below_t = torch.searchsorted(key, t, right=True)
        nonzero = nonzero + torch.where(pos_mask, (idx - below_t).clamp_min(0), 0).sum(1)
    return sums, (n_pos * n_neg).to(dtype), nonzero.to(dtype)


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
    scores = get_distance(distance).score_pairwise(x, x, names=("embeddings", "embeddings"))
    return scores, pos_mask, neg_mask


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
        reduction: ``"mean"`` as above, ``"sum"`` (weighted sum over all triplets) or
            ``"none"``: per-anchor ``[B]`` averages (by ``average``) times ``w_a``, 0 for
            anchors without a counted triplet.
        weight: optional non-negative per-anchor weights ``[B]``.

    Returns:
        a scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
        >>> float(batch_all_triplet_loss(x, y, margin=0.0, distance="sqeuclidean")) >= 0
        True
    """
    reduction = check_reduction(reduction)
    average = check_choice("average", average, AVERAGES)
    check_triplet_options(margin, penalty_weight, penalty_threshold)
    scores, pos_mask, neg_mask = _scores_and_masks(embeddings, labels, distance, normalize)
    b = scores.shape[0]
    check_weight("weight", weight, (b,))
    sums, counts, nonzero = triplet_row_sums(
        scores,
        pos_mask,
        neg_mask,
        float(margin),
        adaptive_margin,
        float(penalty_weight) if hard_negative_penalty else 0.0,
        float(penalty_threshold),
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
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over anchors.
        weight: optional non-negative per-anchor weights ``[B]``.

    Returns:
        a scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
        >>> per_anchor_triplet_loss(x, y, reduction="none").shape
        torch.Size([6])
    """
    positives = check_choice("positives", positives, MINING)
    negatives = check_choice("negatives", negatives, MINING)
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
        sums, counts, _ = triplet_row_sums(
            scores,
            pos_mask,
            neg_mask,
            float(margin),
            adaptive_margin,
            float(penalty_weight) if hard_negative_penalty else 0.0,
            float(penalty_threshold),
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
