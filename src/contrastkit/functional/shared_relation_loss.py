r"""Relation softmax with negatives shared by groups of anchors (PyTorch-BigGraph).

The ``B`` anchors are cut into ``G`` groups of ``m = ceil(B / G)`` consecutive rows;
the anchors of group ``g`` share its ``K`` negatives ``n[g]``. Scores :math:`s` are
those of :mod:`~contrastkit.functional.relation_kernels` (Poincaré, squared L2, dot),
and the loss is Nickel & Kiela's, the positive against the group's negatives:

.. math::
    \ell_b = \log\Big(e^{s_{b+}/\tau} + \sum_{k:\,\mathrm{mask}_{bk}} e^{s_{bk}/\tau}
             + \sum_{h:\,\mathrm{own\_mask}_{bh}} e^{s_{bh}/\tau}\Big)
             - s_{b+}/\tau, \qquad L = \frac{1}{B}\sum_b \ell_b ,

the last sum over negatives of anchor ``b``'s own (``own_negatives [B, H, d]``, e.g.
mined hard ones beside the shared uniform ones), scored per relation as the positive is.

The ``[G, m, K]`` negative scores come from one batched product, via
:math:`\|u - n\|^2 = \|u\|^2 + \|n\|^2 - 2\,u \cdot n`. That form cancels when
:math:`\|u - n\|^2 \ll \|u\|^2 + \|n\|^2`; as in the per-relation kernel, those entries
(rare for random negatives, but the siblings that decide a leaf's rank near the ball's
boundary are among them) are recomputed from :math:`u - n`.
:class:`SharedNegativeSoftmax` fuses the scores with the masked cross-entropy and
writes the backward by hand: two more batched products and a few passes over
``[B, K]``, against ~30 for autograd through the same expression (the trainer's
shared-negatives step, ``benchmarks/bench_relation_step.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_float_tensor
from contrastkit.functional.distances import Distance
from contrastkit.functional.info_nce import check_mask, check_temperature
from contrastkit.functional.relation_kernels import (
    EXPANSION_SAFE,
    relation_scores,
    resolve_relation_distance,
)

_XM1_FLOOR = {torch.float64: 1e-12}  # as relation_kernels: where arcosh's gradient is cut


class SharedNegativeSoftmax(torch.autograd.Function):
    """``forward(own [B, C], u [B, d], n [G, K, d], keep [B, K] | None, inv_t, kind, k,
    eps)`` -> the mean loss; ``own``: each anchor's own scores, its positive in column 0
    and then its own negatives (``-inf`` where masked); their gradient flows back
    through whatever computed them."""

    @staticmethod
    def forward(
        ctx: Any,
        own: Tensor,
        u: Tensor,
        n: Tensor,
        keep: Tensor | None,
        inv_t: float,
        kind: str,
        k: float,
        eps: float,
    ) -> Tensor:
        b, d = u.shape
        g, kk, _ = n.shape
        m = -(-b // g)
        pad = g * m - b  # the last group may be short: zero anchors, no loss, no gradient
        uu = torch.cat([u, u.new_zeros(pad, d)]) if pad else u
        grid = uu.reshape(g, m, d)
        nt = n.transpose(1, 2)
        floor = _XM1_FLOOR.get(u.dtype, 1e-10)
        ctx.on_floor = False
        if kind == "dot":
            logits = torch.bmm(grid, nt).mul_(inv_t)
            alpha = beta = xc = root = None
        else:
            un = (grid * grid).sum(2, keepdim=True)  # [G, m, 1]
            nn = (n * n).sum(2).unsqueeze(1)  # [G, 1, K]
            total = un + nn
            delta = torch.baddbmm(total, grid, nt, alpha=-2.0)
            # close pairs lose the expansion's digits: recompute them from u - n
            close = delta < total.mul_(EXPANSION_SAFE.get(u.dtype, 4.0))
            if bool(close.any()):  # a reduction: cheaper than nonzero when none are
                gi, mi, ki = close.nonzero(as_tuple=True)
                diff = grid[gi, mi] - n[gi, ki]
                delta[gi, mi, ki] = (diff * diff).sum(1)
            delta.clamp_min_(0.0)
            if kind == "sqeuclidean":
                logits = delta.mul_(-inv_t)
                alpha = beta = xc = root = None
            else:
                alpha = torch.rsub(un, 1.0, alpha=k).clamp_min_(eps)
                beta = torch.rsub(nn, 1.0, alpha=k).clamp_min_(eps)
                # x - 1 of arcosh(x), formed directly (1 + x would round small x away)
                xc = delta.mul_(2.0 * k / alpha).div_(beta).clamp_min_(floor)
                # coincident points (x - 1 on the floor) are rare: one reduction finds them
                ctx.on_floor = bool(xc.amin() <= floor) if xc.numel() else False
                root = (xc + 2.0).mul_(xc).sqrt_()
                logits = torch.add(xc, root).log1p_().mul_(-inv_t / math.sqrt(k))
        flat = logits.view(g * m, kk)
        if keep is not None or pad:
            drop = flat.new_zeros(g * m, kk, dtype=torch.bool)
            if keep is not None:
                torch.logical_not(keep, out=drop[:b])
            drop[b:] = True
            flat.masked_fill_(drop, -math.inf)
        p = own * inv_t
        if pad:
            p = torch.cat([p, p.new_zeros(pad, p.shape[1])])
        top = torch.maximum(flat.amax(1), p.amax(1))
        e = flat.sub_(top.unsqueeze(1)).exp_()  # in place: the softmax numerators
        ep = (p - top.unsqueeze(1)).exp_()  # [G m, C], 0 where an own negative is masked
        z = e.sum(1).add_(ep.sum(1))
        loss = (z.log() + top - p[:, 0])[:b].mean()
        ctx.save_for_backward(grid, n, e, ep, z, alpha, beta, xc, root)
        ctx.shape, ctx.kind, ctx.inv_t, ctx.k = (b, g, m, kk), kind, inv_t, k
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        grid, n, e, ep, z, alpha, beta, xc, root = ctx.saved_tensors
        b, g, m, kk = ctx.shape
        inv_t, k = ctx.inv_t, ctx.k
        scale = grad / b  # the mean
        # dL/ds over the softmax: p_j / tau for the negatives, (p_+ - 1) / tau for the positive
        share = scale.mul(inv_t).div(z)  # [G m]
        share[b:] = 0.0
        gown = (ep * share.unsqueeze(1))[:b]
        gown[:, 0] -= scale * inv_t
        # out of place: a second backward (retain_graph) must find e as it was
        ds = e.view(g * m, kk).mul(share.unsqueeze(1)).view(g, m, kk)
        # The two products are taken transposed, [G, d, m] and [G, d, K]: with the
        # narrow d as rows, CPU batched GEMMs of this shape run ~5x faster than with d
        # as columns (0.3 ms against 1.5 ms each at G = 512, m = 32, K = 50, d = 10,
        # 2 threads), which lifts the trainer's shared step by ~25 %.
        nt, gt = n.transpose(1, 2), grid.transpose(1, 2)
        if ctx.kind == "dot":
            gu_t = torch.bmm(nt, ds.transpose(1, 2))
            gn_t = torch.bmm(gt, ds)
        else:
            # s = 2 dL/d(delta): grad_u = u sum_k s + a u - sum_k s n_k, and for n alike
            if ctx.kind == "sqeuclidean":
                s = ds.mul_(-2.0)
                row_extra = col_extra = None
            else:
                # dL/d(x - 1) = -ds / (sqrt(k) root), cut where x - 1 sits on the floor
                w = ds.div_(root).mul_(-1.0 / math.sqrt(k))
                if ctx.on_floor:
                    w.masked_fill_(xc <= _XM1_FLOOR.get(w.dtype, 1e-10), 0.0)
                wx = w * xc  # through 1 - k|u|^2 and 1 - k|n|^2: (2k / alpha) sum w (x - 1)
                row_extra = wx.sum(2, keepdim=True).mul_(2.0 * k).div_(alpha)
                col_extra = wx.sum(1).unsqueeze(2).mul_(2.0 * k).div_(beta.transpose(1, 2))
                s = w.mul_(4.0 * k / alpha).div_(beta)
            ru = s.sum(2, keepdim=True)
            cn = s.sum(1).unsqueeze(2)
            if row_extra is not None and col_extra is not None:
                ru.add_(row_extra)
                cn.add_(col_extra)
            gu_t = torch.baddbmm((grid * ru).transpose(1, 2), nt, s.transpose(1, 2), alpha=-1.0)
            gn_t = torch.baddbmm((n * cn).transpose(1, 2), gt, s, alpha=-1.0)
        gu = gu_t.transpose(1, 2).reshape(g * m, -1)[:b]
        gn = gn_t.transpose(1, 2).contiguous()
        return gown, gu, gn, None, None, None, None, None


def shared_relation_softmax_loss(
    u: Tensor,
    p: Tensor,
    n: Tensor,
    mask: Tensor | None = None,
    temperature: float = 1.0,
    distance: str | Distance = "poincare",
    own_negatives: Tensor | None = None,
    own_mask: Tensor | None = None,
) -> Tensor:
    r"""Mean relation softmax of anchors ``u [B, d]`` with positives ``p [B, d]`` against
    negatives ``n [G, K, d]`` shared by groups of ``ceil(B / G)`` consecutive anchors,
    and each anchor's ``own_negatives [B, H, d]`` if given.

    Equal in value and gradient to :func:`~contrastkit.functional.relation_loss.
    relation_softmax_loss` with each anchor's group negatives written out, followed by
    its own; ``mask [B, K]`` and ``own_mask [B, H]`` (True = a real negative) drop the
    others for that anchor. The fused backward (:class:`SharedNegativeSoftmax`) is the
    trainer's shared-negatives step; own negatives are how mined ones join it.

    Example:
        >>> u, p = torch.rand(6, 3) * 0.1, torch.rand(6, 3) * 0.1
        >>> float(shared_relation_softmax_loss(u, p, torch.rand(2, 4, 3) * 0.1)) > 0
        True
    """
    check_float_tensor("u", u, ndim=2)
    check_float_tensor("p", p, ndim=2)
    check_float_tensor("n", n, ndim=3)
    if p.shape != u.shape:
        raise ValueError(f"p must have the shape of u {tuple(u.shape)}, got {tuple(p.shape)}")
    g, kk, d = n.shape
    b = u.shape[0]
    if d != u.shape[1] or not 0 < g <= max(b, 1) or (b > 0 and -(-b // -(-b // g)) != g):
        raise ValueError(
            f"n must be [G, K, {u.shape[1]}] with G groups of ceil(B / G) of the B = {b} "
            f"anchors each, got {tuple(n.shape)}"
        )
    keep = check_mask("mask", mask, (b, kk))
    inv_t = 1.0 / check_temperature(temperature)
    kind, k, eps = resolve_relation_distance(distance)
    candidates = p.unsqueeze(1)
    own_keep = None
    if own_negatives is not None:
        check_float_tensor("own_negatives", own_negatives, ndim=3)
        if own_negatives.shape[0] != b or own_negatives.shape[2] != d:
            raise ValueError(
                f"own_negatives must be [{b}, H, {d}], got {tuple(own_negatives.shape)}"
            )
        own_keep = check_mask("own_mask", own_mask, tuple(own_negatives.shape[:2]))
        candidates = torch.cat([candidates, own_negatives], dim=1)
    elif own_mask is not None:
        raise ValueError("own_mask was given without own_negatives")
    own = relation_scores(u, candidates, distance)  # [B, 1 + H], the positive first
    if own_keep is not None:
        dropped = torch.cat([own_keep.new_zeros(b, 1), ~own_keep], dim=1)
        own = own.masked_fill(dropped, -math.inf)
    loss: Tensor = SharedNegativeSoftmax.apply(own, u, n, keep, float(inv_t), kind, k, eps)
    return loss
