r"""``nn.Module`` for supervised node classification: a linear head plus masked cross-entropy.

.. math::
    \ell = \operatorname{mean}_{i \in V_L} -\log \operatorname{softmax}(W z_i + b)_{y_i}

The loss is in :mod:`contrastkit.functional.node_classification`; this module owns the
head :math:`(W, b)` (``nn.Linear(dim, num_classes)``) and an optional dropout on the
embeddings before it. Reference: Kipf & Welling (2017), semi-supervised GCN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from contrastkit._validation import check_float_tensor, check_positive_int
from contrastkit.functional.node_classification import (
    check_label_smoothing,
    node_classification_loss,
)
from contrastkit.functional.reduction import Reduction, check_reduction


class NodeClassificationLoss(nn.Module):
    r"""Linear classification head on node embeddings, trained by masked cross-entropy.

    Args:
        dim: embedding dimension :math:`d` (> 0).
        num_classes: :math:`C` (> 0).
        dropout: probability in ``[0, 1)`` of dropping an embedding entry before the
            head, in training mode only (default 0.0; ``nn.Dropout`` uses the global RNG).
        label_smoothing: in ``[0, 1]`` (default 0.0).
        reduction: ``"mean"`` over labelled masked nodes (default), ``"sum"`` or ``"none"``.
        bias: give the head a bias (default True).
        generator: optional ``torch.Generator`` for the head's initialisation (the
            distribution of ``nn.Linear``). Default None (the global RNG).

    Shapes (forward): ``z [N, d]``, ``labels [N]`` (int, negative = unlabelled),
    ``mask [N]`` bool (optional). Returns a scalar (``[N]`` for ``"none"``).
    :meth:`logits` gives the head's ``[N, C]`` output (for accuracy, ``argmax(-1)``).

    Example:
        >>> import torch
        >>> head = NodeClassificationLoss(16, 3, dropout=0.5)
        >>> z, y = torch.randn(10, 16), torch.randint(0, 3, (10,))
        >>> head(z, y, mask=torch.arange(10) < 6).shape
        torch.Size([])
    """

    def __init__(
        self,
        dim: int,
        num_classes: int,
        *,
        dropout: float = 0.0,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        check_positive_int("num_classes", num_classes)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
            raise TypeError(f"dropout must be a number, got {type(dropout).__name__}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = check_reduction(reduction)
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(dim, num_classes, bias=bias)
        if generator is not None:
            self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""Redraw the head as ``nn.Linear`` does: uniform in :math:`\pm 1/\sqrt d`."""
        bound = 1.0 / math.sqrt(self.head.in_features)
        # kaiming_uniform_ with a = sqrt(5) is uniform(-1/sqrt(d), 1/sqrt(d))
        nn.init.kaiming_uniform_(self.head.weight, a=math.sqrt(5), generator=generator)
        if self.head.bias is not None:
            nn.init.uniform_(self.head.bias, -bound, bound, generator=generator)

    def logits(self, z: Tensor) -> Tensor:
        """Class logits ``[N, C]`` of embeddings ``z [N, d]`` (dropout in training mode)."""
        z = check_float_tensor("z", z, ndim=2)
        if z.shape[1] != self.head.in_features:
            raise ValueError(
                f"z must have shape [N, {self.head.in_features}], got {tuple(z.shape)}"
            )
        return self.head(self.dropout(z))

    def forward(self, z: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        return node_classification_loss(
            self.logits(z),
            labels,
            mask,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}, reduction={self.reduction!r}"
