r"""Nickel & Kiela's softmax over the fused relation scores of
:mod:`contrastkit.functional.relation_kernels`, the positive in column 0.

Example (the trainer's shapes; ``cand [B, 1 + K]`` node ids, positive first)::

    c = torch.gather(table_t, 1, cand.view(1, -1).expand(d, -1)).view(d, B, -1)
    loss = relation_softmax_loss(u, c.permute(1, 2, 0), mask)  # mask [B, K]

Reference: M. Nickel and D. Kiela, "Poincaré Embeddings for Learning Hierarchical
Representations", NeurIPS 2017.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import check_float_tensor
from contrastkit.functional.distances import Distance
from contrastkit.functional.info_nce import check_mask, check_temperature
from contrastkit.functional.reduction import check_reduction, reduce_loss
from contrastkit.functional.relation_kernels import relation_scores


def relation_softmax_loss(
    u: Tensor,
    c: Tensor,
    mask: Tensor | None = None,
    temperature: float | Tensor = 1.0,
    distance: str | Distance = "poincare",
    *,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Softmax cross-entropy with the positive in column 0 of the candidates.

    .. math::
        \ell_b = \operatorname{logsumexp}_{j \in C_b} \frac{s_{bj}}{\tau} - \frac{s_{b0}}{\tau}

    where :math:`C_b` is column 0 and the negatives ``j >= 1`` with ``mask[b, j - 1]``
    True. With Poincaré scores this is Nickel & Kiela's loss; it equals
    :func:`~contrastkit.functional.info_nce.info_nce` with negatives ``c[:, 1:]`` and
    ``negative_mask=mask``. A row with every negative masked has loss 0 (and counts).

    Args:
        u: anchors ``[B, d]``. c: candidates ``[B, C, d]``, positive first (``C >= 1``).
        mask: optional bool ``[B, C - 1]``, True = a real negative.
        temperature: float or 0-dim tensor > 0. Default 1.
        distance: as in :func:`relation_scores`. Default ``"poincare"``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. weight: optional ``[B]`` >= 0.

    Returns:
        scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> u = torch.rand(4, 5) * 0.1; c = torch.rand(4, 11, 5) * 0.1
        >>> relation_softmax_loss(u, c).shape
        torch.Size([])
    """
    reduction = check_reduction(reduction)
    inv_t = 1.0 / check_temperature(temperature)
    b, n = check_float_tensor("c", c, ndim=3).shape[:2]
    if n == 0:
        raise ValueError(f"c must hold at least the positive (C >= 1), got shape {tuple(c.shape)}")
    keep = check_mask("mask", mask, (b, n - 1))
    return positive_first_softmax_loss(
        relation_scores(u, c, distance), keep, inv_t, reduction, weight
    )


def positive_first_softmax_loss(
    scores: Tensor,
    keep: Tensor | None,
    inv_t: float | Tensor,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Cross-entropy of ``scores [B, C] * inv_t`` with the positive in column 0 and the
    negatives where ``keep [B, C - 1]`` is False dropped (inputs already checked)."""
    b = scores.shape[0]
    logits = scores if isinstance(inv_t, float) and inv_t == 1.0 else scores * inv_t
    if keep is not None:
        drop = torch.cat([keep.new_zeros(b, 1), ~keep], dim=1)
        logits = logits.masked_fill(drop, float("-inf"))
    target = torch.zeros(b, dtype=torch.long, device=scores.device)
    if reduction != "none" and weight is None and b > 0:
        return F.cross_entropy(logits, target, reduction=reduction)
    return reduce_loss(F.cross_entropy(logits, target, reduction="none"), reduction, weight)
