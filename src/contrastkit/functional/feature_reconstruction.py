r"""Node-feature reconstruction losses (graph auto-encoders, masked feature modelling).

A decoder maps embeddings back to features; these compare its output with the original
features node by node, then reduce over nodes (optionally only the nodes in
``node_mask``, e.g. the masked nodes of GraphMAE, Hou et al. 2022):

- ``mse`` (continuous features): :math:`\ell_i = \frac1F \sum_f (\hat x_{if} - x_{if})^2`
- ``bce`` (binary features, decoder outputs logits):
  :math:`\ell_i = -\frac1F \sum_f \big[\omega\, x_{if} \log\sigma(\hat x_{if})
  + (1 - x_{if}) \log\sigma(-\hat x_{if})\big]`
- ``ce`` (one categorical feature, decoder outputs ``C`` logits):
  :math:`\ell_i = -\sum_c y_{ic} \log \operatorname{softmax}(\hat x_i)_c` with ``y`` one-hot
  (class index targets) or a probability vector (soft targets).

``feature_reduction="sum"`` replaces :math:`\frac1F\sum_f` by :math:`\sum_f` (the design
notes' per-node squared error).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_float_tensor,
    check_length,
    check_same_shape,
    check_tensor,
    check_unit_interval,
)
from contrastkit.functional.reduction import reduce_loss

ReconstructionKind = Literal["mse", "bce", "ce"]
KINDS: tuple[ReconstructionKind, ...] = ("mse", "bce", "ce")
FeatureReduction = Literal["mean", "sum"]
FEATURE_REDUCTIONS: tuple[FeatureReduction, ...] = ("mean", "sum")


def _check_node_mask(node_mask: Tensor | None, n: int) -> Tensor | None:
    if node_mask is None:
        return None
    node_mask = check_tensor("node_mask", node_mask, ndim=1)
    if node_mask.dtype != torch.bool:
        raise TypeError(f"node_mask must be a bool tensor, got dtype {node_mask.dtype}")
    check_length("node_mask", node_mask, n)
    return node_mask


def feature_reconstruction_loss(
    pred: Tensor,
    target: Tensor,
    kind: ReconstructionKind = "mse",
    *,
    node_mask: Tensor | None = None,
    feature_reduction: FeatureReduction = "mean",
    pos_weight: float | Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Reconstruction loss between decoded features and the originals (see module doc).

    Args:
        pred: decoder output ``[N, F]`` (values for ``mse``, logits for ``bce`` and ``ce``,
            where ``F`` = number of classes ``C``).
        target: ``[N, F]`` features (``mse``), ``[N, F]`` in [0, 1] (``bce``), ``[N]`` class
            indices or ``[N, C]`` probabilities (``ce``).
        kind: ``"mse"`` (default), ``"bce"`` or ``"ce"``.
        node_mask: optional bool ``[N]``; only True nodes count (0 under ``"none"``).
        feature_reduction: ``"mean"`` (default) or ``"sum"`` over features (``mse``/``bce``).
        pos_weight: :math:`\omega` for ``bce`` (float or ``[F]``), default None (1); for
            sparse binary features.
        label_smoothing: for ``ce`` (default 0.0), as in ``F.cross_entropy``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over nodes.
        weight: optional non-negative per-node weights ``[N]``.

    Returns:
        a scalar, or ``[N]`` for ``reduction="none"``. All nodes masked gives an attached 0.

    Example:
        >>> import torch
        >>> x = torch.randn(5, 3)
        >>> float(feature_reconstruction_loss(x, x)) == 0.0
        True
        >>> logits, classes = torch.randn(5, 4), torch.tensor([0, 1, 3, 2, 0])
        >>> feature_reconstruction_loss(logits, classes, "ce").shape
        torch.Size([])
    """
    kind = check_choice("kind", kind, KINDS)
    feature_reduction = check_choice("feature_reduction", feature_reduction, FEATURE_REDUCTIONS)
    pred = check_float_tensor("pred", pred, ndim=2)
    target = check_tensor("target", target, ndim=(1, 2))
    node_mask = _check_node_mask(node_mask, pred.shape[0])
    if kind == "ce":
        per_node = _categorical(pred, target, label_smoothing)
    else:
        target = check_float_tensor("target", target, ndim=2)
        check_same_shape("pred", pred, "target", target)
        if kind == "mse":
            per_elem = (pred - target.to(pred.dtype)) ** 2
        else:
            check_unit_interval("target", target)
            pw = None
            if pos_weight is not None:
                if isinstance(pos_weight, bool) or not isinstance(pos_weight, (int, float, Tensor)):
                    raise TypeError(
                        f"pos_weight must be a number or a tensor, got {type(pos_weight).__name__}"
                    )
                pw = torch.as_tensor(pos_weight, dtype=pred.dtype, device=pred.device)
                if pw.dim() > 1 or (pw.dim() == 1 and pw.shape[0] != pred.shape[1]):
                    raise ValueError(
                        f"pos_weight must be a scalar or have {pred.shape[1]} entries, "
                        f"got shape {tuple(pw.shape)}"
                    )
                if not bool((pw > 0).all()) or not bool(torch.isfinite(pw).all()):
                    raise ValueError(f"pos_weight must be finite and > 0, got {pw.tolist()}")
            per_elem = F.binary_cross_entropy_with_logits(
                pred, target.to(pred.dtype), pos_weight=pw, reduction="none"
            )
        # with no features the mean would be 0/0; the sum gives a defined 0
        use_mean = feature_reduction == "mean" and pred.shape[1] > 0
        per_node = per_elem.mean(1) if use_mean else per_elem.sum(1)
    return reduce_loss(per_node, reduction, weight=weight, valid=node_mask)


def _categorical(pred: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
    n, c = pred.shape
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        raise TypeError(f"label_smoothing must be a number, got {label_smoothing!r}")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if target.dim() == 1:
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"target class indices must be integers, got dtype {target.dtype}")
        check_length("target", target, n)
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= c):
            raise ValueError(
                f"target has class ids outside [0, {c}): min {int(target.min())}, "
                f"max {int(target.max())}"
            )
        return F.cross_entropy(
            pred, target.long(), reduction="none", label_smoothing=label_smoothing
        )
    target = check_float_tensor("target", target, ndim=2)
    check_same_shape("pred", pred, "target", target)
    return F.cross_entropy(
        pred, target.to(pred.dtype), reduction="none", label_smoothing=label_smoothing
    )
