r"""The per-relation InfoNCE a stream trains with, written on one gathered row block.

A relation :math:`(a, p)` with negatives :math:`n_1..n_K` is the row block
:math:`Z = [z_a; z_p; z_{n_1}; \dots; z_{n_K}]` (``[..., 2+K, d]``) and

.. math::
    \ell(Z) = \operatorname{logsumexp}_{c \in \{p, n_1..n_K\}} \frac{s(z_a, z_c)}{\tau}
              - \frac{s(z_a, z_p)}{\tau}

with the scores :math:`s` of :mod:`contrastkit.functional.distances` (larger is
closer). It is written on the block alone, with no checks that read values, so that
``torch.func.vmap(grad(...))`` gives each relation's own gradient
(:mod:`contrastkit.continual.row_fisher`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.functional.distances import Distance

__all__ = ["relation_block_logits", "relation_block_loss"]


def relation_block_logits(block: Tensor, distance: Distance, temperature: float) -> Tensor:
    """``block [..., 2+K, d]`` -> logits ``[..., 1+K]``: :math:`s(z_a, z_c) / \\tau` for
    :math:`c = p, n_1..n_K` (what DER replay stores, :mod:`contrastkit.continual.replay`)."""
    return distance.score_paired(block[..., :1, :], block[..., 1:, :]) / temperature


def relation_block_loss(block: Tensor, distance: Distance, temperature: float) -> Tensor:
    """``block [..., 2+K, d]`` -> losses ``[...]`` (see the module docstring)."""
    scores = relation_block_logits(block, distance, temperature)
    return torch.logsumexp(scores, dim=-1) - scores[..., 0]
