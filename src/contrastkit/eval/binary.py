r"""Threshold-free binary classification metrics: ROC-AUC and average precision.

Both are computed from one sort of the scores, with tied scores grouped exactly
as scikit-learn does, so the values agree with ``sklearn.metrics.roc_auc_score``
and ``average_precision_score``:

.. math::
    \mathrm{AUC} = \frac{\sum_{i \in P} \operatorname{rank}(s_i) - |P|(|P|+1)/2}{|P|\,|N|}
    \qquad
    \mathrm{AP} = \sum_n (R_n - R_{n-1})\, P_n

where ranks are mid-ranks over ties (a tied positive/negative pair counts 1/2, the
trapezoid of the ROC curve) and :math:`P_n, R_n` are precision and recall at the
``n``-th distinct threshold, from the highest score down.

Example:
    >>> s = torch.tensor([0.9, 0.8, 0.3, 0.1]); y = torch.tensor([1, 0, 1, 0])
    >>> roc_auc(s, y), average_precision(s, y)
    (0.75, 0.8333333333333333)

Reference: Fawcett, "An introduction to ROC analysis", Pattern Recognition
Letters 2006; scikit-learn's ``average_precision_score`` (no interpolation).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import check_finite, check_float_tensor, check_tensor


def _check(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    s = check_float_tensor("scores", scores)
    y = check_tensor("labels", labels)
    if s.shape != y.shape:
        raise ValueError(
            f"labels must have the shape of scores {tuple(s.shape)}, got {tuple(y.shape)}"
        )
    check_finite("scores", s)
    if y.dtype != torch.bool:
        if y.numel() and bool(((y != 0) & (y != 1)).any()):
            raise ValueError("labels must be binary (0/1 or bool)")
        y = y != 0
    s, y = s.reshape(-1).to(torch.float64), y.reshape(-1)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.numel():
        raise ValueError(
            f"labels must contain both classes to define the metric, got {n_pos} positives "
            f"out of {y.numel()}"
        )
    return s, y


def _tie_groups(sorted_scores: Tensor) -> tuple[Tensor, Tensor]:
    """``(inverse [n], ends [g])``: group id of every sorted entry and the exclusive end
    position of every group of equal scores."""
    _, inverse, counts = torch.unique_consecutive(
        sorted_scores, return_inverse=True, return_counts=True
    )
    return inverse, torch.cumsum(counts, 0)


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve (Mann–Whitney U with mid-ranks for ties).

    Args:
        scores: ``[...]`` float scores, larger = more likely positive.
        labels: same shape, bool or 0/1; both classes must occur.

    Returns:
        the AUC in ``[0, 1]`` as a Python float.
    """
    s, y = _check(scores, labels)
    order = torch.argsort(s)
    inverse, ends = _tie_groups(s[order])
    counts = torch.diff(ends, prepend=ends.new_zeros(1))
    # 1-based ranks start+1 .. end share their mean (start + 1 + end) / 2.
    mid = (2 * ends - counts + 1).to(torch.float64) / 2.0
    ranks = torch.empty_like(s)
    ranks[order] = mid[inverse]
    n_pos = float(y.sum())
    n_neg = float(y.numel()) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(scores: Tensor, labels: Tensor) -> float:
    """Average precision, :math:`\\sum_n (R_n - R_{n-1}) P_n` over distinct thresholds.

    Args:
        scores: ``[...]`` float scores, larger = more likely positive.
        labels: same shape, bool or 0/1; both classes must occur.

    Returns:
        AP in ``(0, 1]`` as a Python float.
    """
    s, y = _check(scores, labels)
    order = torch.argsort(s, descending=True)
    _, ends = _tie_groups(s[order])
    tp = torch.cumsum(y[order].to(torch.float64), 0)[ends - 1]
    precision = tp / ends.to(torch.float64)
    recall = tp / tp[-1]
    gain = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((gain * precision).sum())
