r"""``nn.Module`` wrapper for the L1 penalty :math:`\lambda \operatorname{mean}_i \|z_i\|_1`.

See :mod:`contrastkit.functional.sparsity` (subgradient 0 at 0). Reference:
Tibshirani (1996).
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastkit._validation import check_non_negative
from contrastkit.functional.reduction import Reduction, check_reduction
from contrastkit.functional.sparsity import l1_sparsity


class SparsityLoss(nn.Module):
    r"""L1 sparsity penalty on embeddings.

    .. math::

        \ell = \frac{\lambda}{N} \sum_i \|z_i\|_1 .

    Args:
        lambda_: multiplier :math:`\lambda \ge 0`. Default 1.0.
        reduction: ``"mean"`` over rows (default), ``"sum"`` or ``"none"``.

    Shapes (forward): ``z [N, d]``. Returns a scalar (``[N]`` for ``"none"``).

    Example:
        >>> import torch
        >>> SparsityLoss(0.5)(torch.tensor([[1.0, -3.0]])).item()
        2.0
    """

    def __init__(self, lambda_: float = 1.0, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.lambda_ = check_non_negative("lambda_", lambda_)
        self.reduction = check_reduction(reduction)

    def forward(self, z: Tensor) -> Tensor:
        out = l1_sparsity(z, reduction=self.reduction)
        return out if self.lambda_ == 1.0 else out * self.lambda_

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}, reduction={self.reduction!r}"
