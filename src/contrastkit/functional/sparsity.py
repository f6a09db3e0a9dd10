r"""L1 sparsity penalty on embeddings: :math:`\operatorname{mean}_i \|z_i\|_1`.

.. math::

    \ell = \frac1N \sum_{i=1}^N \sum_{k=1}^d |z_{ik}| \quad (\text{"mean"}), \qquad
    \frac{\partial \ell}{\partial z_{ik}} = \frac{\operatorname{sign}(z_{ik})}{N},

with the subgradient 0 chosen at :math:`z_{ik} = 0` (``torch.abs``'s backward), so an
exactly-zero entry is left where it is. Plain (sub)gradient descent rarely lands
on exact zeros; use a proximal step (soft thresholding) for exact sparsity. Cost
O(N d).

Reference: Tibshirani (1996), the lasso; Lee et al. (2007), efficient sparse coding.
"""

from __future__ import annotations

from torch import Tensor

from contrastkit._validation import check_float_tensor
from contrastkit.functional.reduction import Reduction, reduce_loss


def l1_sparsity(z: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Row L1 norms :math:`\|z_i\|_1`, reduced over rows.

    Args:
        z: embeddings ``[N, d]``.
        reduction: ``"mean"`` over rows (default), ``"sum"`` or ``"none"`` (``[N]``).

    Returns:
        a scalar (``[N]`` for ``"none"``); an attached 0 for ``N = 0``.

    >>> import torch
    >>> l1_sparsity(torch.tensor([[1.0, -2.0], [0.0, 3.0]])).item()
    3.0
    """
    z = check_float_tensor("z", z, ndim=2)
    return reduce_loss(z.abs().sum(-1), reduction)
