r"""Tiled in-batch InfoNCE / MNRL for huge batches: the logit matrix is never stored.

The loss of row :math:`i` needs only :math:`\operatorname{logsumexp}_j L_{ij}` with
:math:`L = Q K^\top` (:math:`Q` = anchors scaled by :math:`1/\tau`, :math:`K` = the
candidates). The forward pass streams over ``[tile, tile]`` blocks of :math:`L` and
merges per-block log-sum-exps (the online softmax normaliser of Milakov & Gimelshein
2018); the backward pass recomputes each block and accumulates

.. math::
    \frac{\partial \mathcal L}{\partial Q} = G K, \quad
    \frac{\partial \mathcal L}{\partial K} = G^\top Q, \quad
    G_{ij} = g_i\, e^{L_{ij} - \mathrm{lse}_i} + h_j\, e^{L_{ij} - \mathrm{lse}'_j},

where :math:`g, h` are the incoming gradients of the row and (symmetric) column
log-sum-exps. Memory is :math:`O((B + M) d)` plus a few blocks, instead of
:math:`O(B M)`; compute is one extra GEMM per block (four instead of three). The
positive logit, the temperature, cosine normalisation and the reduction stay outside
the autograd Function, so autograd differentiates them (and a learnable temperature)
as usual. Same idea as GradCache / ``CachedMultipleNegativesRankingLoss`` (Gao et al.
2021) bounds encoder memory; this bounds the loss's own memory.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.functional.distances import Distance, SquaredL2Distance, get_distance
from contrastkit.functional.info_nce import check_temperature
from contrastkit.functional.mnr import check_mnr_inputs, mnr_candidates
from contrastkit.functional.reduction import check_reduction, reduce_loss

#: Default working-set bound for the logit blocks (bytes).
DEFAULT_MEMORY_BUDGET = 64 * 2**20
# Live [tile, tile] buffers at the peak of the backward pass (L, G and temporaries).
_BLOCKS_LIVE = 4


def tile_size_for(memory_budget: int, dtype: torch.dtype) -> int:
    """Largest square tile side whose live blocks fit in ``memory_budget`` bytes
    (a multiple of 64 so that the GEMM blocks stay aligned, at least 64)."""
    check_positive_int("memory_budget", memory_budget)
    itemsize = torch.empty((), dtype=dtype).element_size()
    side = math.isqrt(memory_budget // (_BLOCKS_LIVE * itemsize))
    return max(64, side // 64 * 64)


def _spans(n: int, tile: int, split: int | None = None) -> list[tuple[int, int]]:
    """``[start, stop)`` blocks of ``range(n)``; no block crosses ``split``."""
    cuts = [0, n] if split is None or split >= n else [0, split, n]
    return [
        (s, min(s + tile, hi)) for lo, hi in itertools.pairwise(cuts) for s in range(lo, hi, tile)
    ]


class _TiledLogSumExp(torch.autograd.Function):
    """Row (and column) log-sum-exps of ``q @ k.T`` without materialising it.

    Returns ``[B]`` row lse, or ``[2B]`` = row lse then the lse of each of the first
    ``B`` columns over the rows when ``symmetric``.
    """

    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, symmetric: bool, tile: int) -> Tensor:
        b = q.shape[0]
        row = q.new_full((b,), float("-inf"))
        col = q.new_full((b if symmetric else 0,), float("-inf"))
        col_spans = _spans(k.shape[0], tile, b)
        for r0, r1 in _spans(b, tile):
            qr = q[r0:r1]
            parts = []
            for c0, c1 in col_spans:
                block = qr @ k[c0:c1].T
                if symmetric and c1 <= b:
                    col[c0:c1] = torch.logaddexp(col[c0:c1], torch.logsumexp(block, dim=0))
                # in-place log-sum-exp: no extra block-sized allocations
                top = block.amax(dim=1, keepdim=True)
                parts.append(block.sub_(top).exp_().sum(dim=1).log_().add_(top.squeeze(1)))
            row[r0:r1] = torch.logsumexp(torch.stack(parts, dim=1), dim=1)
        out = torch.cat([row, col]) if symmetric else row
        ctx.save_for_backward(q, k, out)
        ctx.symmetric = symmetric
        ctx.tile = tile
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        q, k, out = ctx.saved_tensors
        b, sym = q.shape[0], ctx.symmetric
        row_lse, g_row = out[:b], grad[:b]
        # the row weights g are folded into the [*, d] operands, not the [tile, tile] blocks:
        # dq = g * (E K) + E' K and dk = E^T (g q) + E'^T q, with E = exp(L - lse_row) and
        # E' = exp(L - lse_col) * h (symmetric only)
        qg = q * g_row.unsqueeze(1)
        dq = torch.zeros_like(q)
        dq_col = torch.zeros_like(q) if sym else dq
        dk = torch.zeros_like(k)
        for r0, r1 in _spans(b, ctx.tile):
            qr, qgr = q[r0:r1], qg[r0:r1]
            neg_lse = row_lse[r0:r1].neg().unsqueeze(1)
            for c0, c1 in _spans(k.shape[0], ctx.tile, b):
                kc = k[c0:c1]
                if sym and c1 <= b:
                    block = qr @ kc.T
                    e_row = torch.exp(block + neg_lse)
                    e_col = block.sub_(out[b + c0 : b + c1]).exp_().mul_(grad[b + c0 : b + c1])
                    dq_col[r0:r1].addmm_(e_col, kc)
                    dk[c0:c1].addmm_(e_col.T, qr)
                else:
                    # exp(q k^T - lse): the shift rides on the GEMM's accumulator
                    e_row = torch.addmm(neg_lse, qr, kc.T).exp_()
                dq[r0:r1].addmm_(e_row, kc)
                dk[c0:c1].addmm_(e_row.T, qgr)
        dq.mul_(g_row.unsqueeze(1))
        if sym:
            dq.add_(dq_col)
        return dq, dk, None, None


def _inner_product_operands(dist: Distance, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``x', y'`` with ``x'_i . y'_j == score(x_i, y_j)`` (autograd-differentiable)."""
    if dist.is_inner_product:
        return dist.prepare(x), dist.prepare(y)
    if isinstance(dist, SquaredL2Distance):
        # -||x - y||^2 = [2x, -|x|^2, 1] . [y, 1, -|y|^2]: still one GEMM per block
        xx, yy = (x * x).sum(-1, keepdim=True), (y * y).sum(-1, keepdim=True)
        one_x, one_y = torch.ones_like(xx), torch.ones_like(yy)
        return torch.cat([2.0 * x, -xx, one_x], dim=1), torch.cat([y, one_y, -yy], dim=1)
    raise ValueError(
        "distance must be an inner-product distance (cosine, dot) or sqeuclidean for the "
        f"tiled loss, got {dist!r}"
    )


def check_tiling(tile_size: int | None, memory_budget: int | None) -> tuple[int | None, int | None]:
    """A tiled loss module's ``(tile_size, memory_budget)``, checked: each ``None`` (the
    default) or a positive int — 0 or less is an error, never a silent default — and at
    most one of them given."""
    tile = None if tile_size is None else check_positive_int("tile_size", tile_size)
    budget = None if memory_budget is None else check_positive_int("memory_budget", memory_budget)
    if tile_size is not None and memory_budget is not None:
        raise ValueError("give at most one of tile_size and memory_budget")
    return tile, budget


def tiled_info_nce(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float | Tensor = 0.07,
    distance: str | Distance = "cosine",
    symmetric: bool = False,
    tile_size: int | None = None,
    memory_budget: int | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""In-batch InfoNCE / MNRL computed in tiles; equals the plain forms exactly.

    Same value and gradients as
    :func:`~contrastkit.functional.info_nce.info_nce` (``negatives=None``) and
    :func:`~contrastkit.functional.mnr.multiple_negatives_ranking_loss` (shared hard
    negatives ``[B, d]`` or ``[B, H, d]`` appended as candidate columns, with
    ``scale = 1/temperature``), including ``symmetric``. Masks are not supported here.

    Args:
        anchors: ``[B, d]``. positives: ``[B, d]``. negatives: ``None``, ``[B, d]`` or
            ``[B, H, d]``.
        temperature: float or 0-dim tensor > 0. Default 0.07.
        distance: ``"cosine"`` (default), ``"dot"`` or ``"sqeuclidean"``; others raise.
        symmetric: add the positive-to-anchor direction (over the ``B`` positive columns).
        tile_size: side of the square logit blocks; or
        memory_budget: bytes for the live blocks (default 64 MiB, i.e. 2048-wide float32
            tiles); give at most one.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. weight: optional ``[B]`` >= 0.

    Returns:
        scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> a, p = torch.randn(300, 16), torch.randn(300, 16)
        >>> float(tiled_info_nce(a, p, tile_size=64)) > 0
        True
    """
    check_mnr_inputs(anchors, positives, negatives)
    reduction = check_reduction(reduction)
    inv_t = 1.0 / check_temperature(temperature)
    dist = get_distance(distance)
    if tile_size is not None and memory_budget is not None:
        raise ValueError("give at most one of tile_size and memory_budget")
    if tile_size is not None:
        tile = check_positive_int("tile_size", tile_size)
    else:
        # None means the default; 0 is an error (tile_size_for), not the default
        budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
        tile = tile_size_for(budget, anchors.dtype)
    b = anchors.shape[0]
    if b == 0:
        return reduce_loss(anchors.sum(-1) * 0.0, reduction, weight)
    x, y = _inner_product_operands(dist, anchors, mnr_candidates(positives, negatives))
    q = x * inv_t
    lse = _TiledLogSumExp.apply(q, y, symmetric, tile)
    pos = (q * y[:b]).sum(-1)
    losses = lse[:b] - pos
    if symmetric:
        losses = 0.5 * (losses + (lse[b:] - pos))
    return reduce_loss(losses, reduction, weight)


def tiled_multiple_negatives_ranking_loss(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    *,
    scale: float | Tensor = 20.0,
    distance: str | Distance = "cosine",
    symmetric: bool = False,
    tile_size: int | None = None,
    memory_budget: int | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """:func:`tiled_info_nce` parameterised by the logit ``scale`` = 1/temperature
    (default 20), matching :func:`~contrastkit.functional.mnr.multiple_negatives_ranking_loss`.
    """
    scale = check_temperature(scale, "scale")
    return tiled_info_nce(
        anchors,
        positives,
        negatives,
        temperature=1.0 / scale,
        distance=distance,
        symmetric=symmetric,
        tile_size=tile_size,
        memory_budget=memory_budget,
        reduction=reduction,
        weight=weight,
    )
