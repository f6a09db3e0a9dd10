r"""Row-level diagonal Fisher of an embedding table from per-relation gradients.

For a table :math:`W \in \mathbb R^{N \times d}` and relations :math:`x_1..x_B` (each
touching a few rows through its block of gathered rows), the empirical Fisher of row
:math:`r` summarised over its :math:`d` coordinates is

.. math::
    F_r = \frac1B \sum_{i=1}^B \frac1d \big\lVert \nabla_{W_r} \ell(x_i) \big\rVert^2 ,

the mean over relations of each relation's own squared gradient (not the square of a
batch-mean gradient). ``[N]`` numbers instead of ``[N, d]``: the penalty
:math:`\sum_r F_r \lVert W_r - W^*_r \rVert^2` weighs a row as a whole, and a
:math:`10^6 \times d` table's importance costs :math:`10^6` floats.

Per-relation gradients come from ``torch.func.vmap(grad(loss))`` over the gathered
row blocks ``[B, S, d]`` — each relation's loss depends on its own block only — and a
row that appears twice in one block (a negative equal to the positive) has its slot
gradients summed before squaring, as the relation's gradient on that row is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import grad, vmap

from contrastkit._validation import check_index_range

__all__ = ["row_fisher"]


def row_fisher(weight: Tensor, rows: Tensor, block_loss: Callable[[Tensor], Tensor]) -> Tensor:
    """``F [N]`` (module docstring) of ``weight [N, d]`` over relations whose row blocks are
    ``rows [B, S]`` (int64); ``block_loss`` maps one block ``[S, d]`` to a scalar loss."""
    if rows.dim() != 2 or rows.shape[0] == 0:
        raise ValueError(f"rows must have shape [B, S] with B >= 1, got {tuple(rows.shape)}")
    n, d = weight.shape
    check_index_range("rows", rows, n)
    blocks = weight.detach()[rows]  # [B, S, d]
    g = vmap(grad(block_loss))(blocks)  # [B, S, d]: each relation's own gradient
    b, s = rows.shape
    # sum the slots of one relation that hit the same row: key = relation * N + row
    key = (torch.arange(b).unsqueeze(1) * n + rows).flatten()
    uniq, inverse = torch.unique(key, return_inverse=True)
    per_row = torch.zeros(uniq.numel(), d, dtype=g.dtype).index_add_(
        0, inverse, g.reshape(b * s, d)
    )
    sq = per_row.square().sum(1) / d
    return torch.zeros(n, dtype=g.dtype).index_add_(0, uniq % n, sq) / b
