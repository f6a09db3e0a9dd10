r"""Supervised node classification: cross-entropy on the labelled nodes of a mask.

.. math::

    \ell = \frac{1}{|V_L|} \sum_{i \in V_L} -\log \operatorname{softmax}(x_i)_{y_i},
    \qquad V_L = \{i : \text{mask}_i \wedge y_i \ge 0\},

the semi-supervised objective of GCN on a train mask (Kipf & Welling 2017). A
negative label marks an unlabelled node (as PyG datasets do with ``-1``); it is
ignored like a node outside the mask. Label smoothing (Szegedy et al. 2016) is that
of ``F.cross_entropy``. Only the kept rows are gathered before the softmax, so a
small train mask on a large graph costs O(|V_L| C), not O(N C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_length, check_tensor
from contrastkit.functional.reduction import Reduction, check_reduction, reduce_loss


def check_label_smoothing(label_smoothing: float) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        raise TypeError(f"label_smoothing must be a number, got {type(label_smoothing).__name__}")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def node_classification_loss(
    logits: Tensor,
    labels: Tensor,
    mask: Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy of class logits on the labelled nodes inside ``mask``.

    Args:
        logits: class logits ``[N, C]``.
        labels: integer class ids ``[N]`` in ``[0, C)``; negative means unlabelled
            (ignored).
        mask: optional bool ``[N]`` (e.g. the train mask); default None (all nodes).
        label_smoothing: in ``[0, 1]`` (default 0.0), as in ``F.cross_entropy``.
        reduction: ``"mean"`` over the kept nodes (default), ``"sum"`` or ``"none"``
            (``[N]``, 0 at ignored nodes).

    Returns:
        a scalar (``[N]`` for ``"none"``); an attached 0 when no node is kept.

    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, 0.0]])
    >>> labels = torch.tensor([0, 0, -1])
    >>> mask = torch.tensor([True, False, True])
    >>> round(node_classification_loss(logits, labels, mask).item(), 4)  # node 0 only
    0.1269
    """
    logits = check_float_tensor("logits", logits, ndim=2)
    n, c = logits.shape
    labels = check_tensor("labels", labels, ndim=1)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    check_length("labels", labels, n)
    if labels.numel() and int(labels.max()) >= c:
        raise ValueError(f"labels must be < the number of classes {c}, got max {int(labels.max())}")
    keep = labels >= 0
    if mask is not None:
        mask = check_tensor("mask", mask, ndim=1)
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        check_length("mask", mask, n)
        keep = keep & mask
    ls = check_label_smoothing(label_smoothing)
    reduction = check_reduction(reduction)
    rows = keep.nonzero().squeeze(1)
    per_node = F.cross_entropy(
        logits.index_select(0, rows),
        labels.index_select(0, rows).long(),
        reduction="none",
        label_smoothing=ls,
    )
    if reduction == "none":
        return logits.new_zeros(n).index_copy(0, rows, per_node)
    return reduce_loss(per_node, reduction)
