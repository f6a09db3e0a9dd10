r"""Exact Poincaré top-k by one GEMM scan: the distance's order is an inner product's.

For a fixed query :math:`q`, the Poincaré distance

.. math::
    d(q, x) = \tfrac{1}{\sqrt c}\operatorname{arcosh}\Big(1 + \frac{2c\|q - x\|^2}
    {\alpha_q \beta_x}\Big), \qquad \alpha_q = 1 - c\|q\|^2,\ \beta_x = 1 - c\|x\|^2,

grows with :math:`y(q, x) = \|q - x\|^2 / \beta_x` alone, and

.. math::
    y(q, x) = \|q\|^2 \cdot \tfrac{1}{\beta_x} - 2\, q \cdot \tfrac{x}{\beta_x}
    + \tfrac{\|x\|^2}{\beta_x} = \tilde q \cdot \tilde x, \quad
    \tilde q = (\|q\|^2, -2q, 1),\ \tilde x = \tfrac{1}{\beta_x}(1, x, \|x\|^2),

an inner product in :math:`d + 2` dimensions. So the ``k`` nearest pool rows of each
query are the top-``k`` of :math:`-\tilde q \cdot \tilde x`: the tiled dot-product scan
(one GEMM per tile, no elementwise ``arcosh`` over the ``B x M`` scores), in float64
whatever the table's dtype, since :math:`1/\beta_x` reaches :math:`10^8` at a float64
table's rim. Only the ``B k`` winners are then scored by the distance itself and
re-sorted, so the scores returned are the distance's. Points outside the ball raise a
``ValueError``; those past the rim are projected to it and :math:`\beta` floored at
``eps``, as :class:`PoincareDistance` does.
On the 82,115 WordNet nouns this is what makes re-mining every node's hard pool cheap.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.functional.distances import PoincareDistance, check_in_ball, project_to_ball
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.mining.topk_scan import ranked_topk


def poincare_topk(
    queries: Tensor,
    pool: Tensor,
    k: int,
    distance: PoincareDistance,
    *,
    exclusions: Exclusions | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """:func:`~contrastkit.mining.topk.exact_topk` for ``distance`` (queries ``[B, d]``,
    pool ``[M, d]`` tensors): ``(scores [B, k], indices [B, k])``, closest first, ``-inf``
    and ``-1`` in slots a row cannot fill."""
    c, eps = distance.curvature, distance.eps
    check_in_ball(c, ("queries", queries), ("pool", pool))
    if pool.shape[0] == 0:  # nothing to rank (and no row to gather the winners from)
        b, dev = queries.shape[0], queries.device
        return (
            torch.full((b, k), float("-inf"), dtype=queries.dtype, device=dev),
            torch.full((b, k), -1, dtype=torch.int64, device=dev),
        )
    q = project_to_ball(queries.detach().to(torch.float64), c, eps)
    x = project_to_ball(pool.detach().to(torch.float64), c, eps)
    q_sq, x_sq = (q * q).sum(1, keepdim=True), (x * x).sum(1, keepdim=True)
    inv_beta = 1.0 / (1.0 - c * x_sq).clamp_min(eps)
    # larger = closer: -y(q, x) as a dot product of the augmented rows
    q_aug = torch.cat([-q_sq, 2.0 * q, -torch.ones_like(q_sq)], dim=1)
    x_aug = torch.cat([inv_beta, x * inv_beta, x_sq * inv_beta], dim=1)
    check_positive_int("k", k)
    # the dot-product scan (not exact_topk, which dispatches Poincaré distances here)
    found, idx = ranked_topk(
        q_aug, x_aug, k, distance="dot", exclusions=exclusions, memory_budget=memory_budget
    )
    valid = torch.isfinite(found)
    rows = pool.detach()[idx.clamp_min(0)]  # [B, k, d]
    scores = distance.score_paired(
        queries.detach().unsqueeze(1).expand_as(rows), rows, names=("queries", "pool")
    )
    scores = scores.masked_fill(~valid, float("-inf"))
    # the exact scores may swap neighbours the surrogate's rounding left a hair apart
    scores, order = scores.sort(dim=1, descending=True, stable=True)
    return scores, idx.gather(1, order)
