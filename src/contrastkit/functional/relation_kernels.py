r"""Fused scores of one anchor against its candidates, the trainer's hot path.

A relation batch pairs each anchor :math:`u_b` with ``C`` candidates :math:`c_{bj}` (the
positive first, then ``K`` negatives). The scores (larger = closer) are

.. math::
    s_{bj} = \begin{cases}
      -\tfrac{1}{\sqrt k}\operatorname{arcosh}\!\big(1 + \frac{2k\,\delta_{bj}}
          {(1 - k\|u_b\|^2)(1 - k\|c_{bj}\|^2)}\big) & \text{poincare (curvature } -k)\\
      -\delta_{bj} & \text{sqeuclidean}\\
      u_b \cdot c_{bj} & \text{dot}
    \end{cases}
    \qquad \delta_{bj} = \|u_b - c_{bj}\|^2 .

:class:`RelationScores` takes two reductions over the ``[B, C, d]`` candidates
(:math:`\|c\|^2`, :math:`u \cdot c`) and :math:`\delta = \|u\|^2 + \|c\|^2 - 2u\cdot c`,
which cancels when :math:`\delta \ll \|u\|^2 + \|c\|^2` (float32 error about
:math:`10^{-7}(\|u\|^2+\|c\|^2)/\delta`, relative). Entries below
:math:`\kappa(\|u\|^2 + \|c\|^2)` (:math:`\kappa` = 1/32 in float32, :math:`10^{-6}` in
float64) are recomputed from :math:`u - c`, values and gradients, so the result is as
accurate as the difference form (measured against float64: ``PoincareDistance``'s
float32 error everywhere, and smaller for tiny distances, where :math:`\operatorname{arcosh}(1+x)`
is taken from :math:`x`, not from the rounded :math:`1 + x`). The backward is written by
hand: one pass for ``grad_c``, one batched matrix-vector product for ``grad_u``. Points
on or outside the ball raise a ``ValueError``; those between the rim
:math:`(1-\epsilon)/\sqrt k` and the boundary are projected to the rim, as
:class:`~contrastkit.functional.distances.PoincareDistance` does.

``c`` may be any strided view. Keep the table feature-major ``[d, N]``, gather the
candidates as ``[d, B*C]`` (``torch.gather`` over an expanded index) and pass
``view(d, B, C).permute(1, 2, 0)``: the reductions then run plane by plane without
``[B, C, d]`` temporaries (~3x faster than row-major for ``d`` = 10), and ``grad_c``
comes back in that layout, ready for ``scatter_add_`` into a ``[d, N]`` gradient.
``benchmarks/bench_relation_step.py`` measures a full training step both ways.

Example (the trainer's shapes; ``cand [B, 1 + K]`` node ids, positive first)::

    c = torch.gather(table_t, 1, cand.view(1, -1).expand(d, -1)).view(d, B, -1)
    scores = relation_scores(u, c.permute(1, 2, 0))  # [B, 1 + K]

Reference: M. Nickel and D. Kiela, "Poincaré Embeddings for Learning Hierarchical
Representations", NeurIPS 2017 (the loss over these scores:
:func:`~contrastkit.functional.relation_loss.relation_softmax_loss`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_float_tensor
from contrastkit.functional.distances import (
    BALL_EPS,
    Distance,
    DotProduct,
    PoincareDistance,
    SquaredL2Distance,
    project_to_ball,
)

RELATION_DISTANCES: tuple[str, ...] = ("dot", "poincare", "sqeuclidean", "squared_l2")
# Share of ||u||^2 + ||c||^2 below which delta is recomputed from u - c (module doc); other
# dtypes get 4, i.e. every entry, since delta <= 2 (||u||^2 + ||c||^2)
EXPANSION_SAFE = {torch.float64: 1e-6, torch.float32: 1.0 / 32.0}
# the floor that contrastkit.functional.distances.arcosh puts under x - 1 (1e-10 otherwise)
_XM1_FLOOR = {torch.float64: 1e-12}


def resolve_relation_distance(distance: str | Distance) -> tuple[str, float, float]:
    """``(kind, curvature, eps)`` for a name or a :class:`Distance` the kernel supports."""
    if isinstance(distance, PoincareDistance):
        if distance.eps >= 1.0:
            raise ValueError(f"distance.eps must be < 1, got {distance.eps}")
        return "poincare", distance.curvature, distance.eps
    if isinstance(distance, (SquaredL2Distance, DotProduct)):
        distance = distance.name
    if isinstance(distance, str) and distance in RELATION_DISTANCES:
        return ("sqeuclidean" if distance == "squared_l2" else distance), 1.0, BALL_EPS
    raise ValueError(
        f"distance must be one of {list(RELATION_DISTANCES)} or a PoincareDistance, "
        f"SquaredL2Distance or DotProduct, got {distance!r}"
    )


def _feature_planes(c: Tensor) -> Tensor | None:
    """``c [B, C, d]`` as its ``d`` contiguous ``[B, C]`` planes, if it is laid out so."""
    planes = c.permute(2, 0, 1)
    return planes if planes.is_contiguous() and c.shape[2] > 0 else None


def _dots(c: Tensor, v: Tensor) -> Tensor:
    """``sum_k c[..., k] v[..., k]`` -> ``[B, C]`` for ``c [B, C, d]`` and ``v`` ``c`` itself
    or ``[B, 1, d]``. Feature-major ``c`` is summed plane by plane: no ``[B, C, d]``
    temporary, about 3x faster than the generic product-and-sum for small ``d``."""
    planes = _feature_planes(c)
    if planes is None:
        return torch.linalg.vecdot(c, v)
    other = planes if v is c else v.permute(2, 0, 1)
    acc = torch.mul(planes[0], other[0], out=torch.empty_like(planes[0]))
    for k in range(1, planes.shape[0]):
        acc.addcmul_(planes[k], other[k])
    return acc


def _square_norms(x: Tensor) -> Tensor:
    return _dots(x, x) if x.dim() == 3 else torch.linalg.vecdot(x, x)


class RelationScores(torch.autograd.Function):
    """``forward(u [B, d], c [B, C, d], un [B], cn [B, C], kind, k, eps) -> [B, C]``;
    ``un``/``cn``: squared norms of ``u``/``c`` from the caller (no gradient of their own)."""

    @staticmethod
    def forward(
        ctx: Any, u: Tensor, c: Tensor, un: Tensor, cn: Tensor, kind: str, k: float, eps: float
    ) -> Tensor:
        ctx.kind = kind
        ip = _dots(c, u.unsqueeze(1))
        if kind == "dot":
            ctx.save_for_backward(u, c)
            return ip
        total = cn + un.unsqueeze(1)
        # negative values are all below the threshold, so they are recomputed too
        delta = total.add(ip, alpha=-2.0)
        safe = EXPANSION_SAFE.get(u.dtype, 4.0)
        bi, ji = (delta < total.mul_(safe)).nonzero(as_tuple=True)
        if bi.numel() > 0:
            delta[bi, ji] = _square_norms(u[bi] - c[bi, ji])
        if kind == "sqeuclidean":
            ctx.save_for_backward(u, c, bi, ji)
            return delta.neg_()
        alpha = torch.rsub(un, 1.0, alpha=k).clamp_min_(eps)
        beta = torch.rsub(cn, 1.0, alpha=k).clamp_min_(eps)
        # x - 1 directly: forming 1 + x first would round small distances away
        xm1 = delta.mul_((2.0 * k / alpha).unsqueeze(1)).div_(beta)
        xc = xm1.clamp_min(_XM1_FLOOR.get(u.dtype, 1e-10))
        root = (xc + 2.0).mul_(xc).sqrt_()
        ctx.save_for_backward(u, c, alpha, beta, bi, ji, xm1, root)
        ctx.k = k
        return torch.log1p(xc.add_(root)).mul_(-1.0 / math.sqrt(k))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        kind = ctx.kind
        need_u, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if kind == "dot":
            u, c = ctx.saved_tensors
            gu = torch.bmm(grad.unsqueeze(1), c).squeeze(1) if need_u else None
            gc = None
            if need_c:  # an explicit contiguous output: the broadcast would pick a slow layout
                gc = torch.mul(grad.unsqueeze(-1), u.unsqueeze(1), out=c.new_empty(c.shape))
            return gu, gc, None, None, None, None, None
        # s = 2 dL/d(delta): grad_c = s (c - u) + ..., grad_u = sum_j s (u - c_j) + ...
        bc: Tensor | None = None  # the gradient through 1 - k||c||^2 is bc_scale * bc * c
        au: Tensor | None = None  # ... and through 1 - k||u||^2, au * u
        bc_scale = 0.0
        if kind == "sqeuclidean":
            u, c, bi, ji = ctx.saved_tensors
            s = grad * -2.0
        else:
            u, c, alpha, beta, bi, ji, xm1, root = ctx.saved_tensors
            k = ctx.k
            # dL/d(x - 1) but for -1/sqrt(k) (folded into the [B] factors); 0 on the floor
            w = grad.div(root).masked_fill_(xm1 < _XM1_FLOOR.get(u.dtype, 1e-10), 0.0)
            # through 1 - k||.||^2, never clamped inside the ball (>= 2 eps - eps^2 > eps)
            wx = w.mul(xm1)
            bc_scale = -2.0 * math.sqrt(k)
            au = wx.sum(1).mul_(bc_scale).div_(alpha)
            bc = wx.div_(beta)
            s = w.mul_((-4.0 * math.sqrt(k) / alpha).unsqueeze(1)).div_(beta)
        gu = gc = None
        fix = bi.numel() > 0
        if fix:
            diff = u[bi] - c[bi, ji]  # exact u - c where the expansion cancels
            s_fix = s[bi, ji].unsqueeze(1)
            s[bi, ji] = 0.0  # those entries are added back exactly below
        if need_c:
            # grad_c = (bc + s) c - s u, one pass over the candidates (in c's own layout)
            pc = s if bc is None else torch.add(s, bc, alpha=bc_scale)
            planes = _feature_planes(c)
            # explicit outputs: the broadcast product would pick a ~5x slower layout
            if planes is None:
                gc = torch.mul(c, pc.unsqueeze(-1), out=c.new_empty(c.shape))
                gc.addcmul_(s.unsqueeze(-1), u.unsqueeze(1), value=-1.0)
            else:
                gc = torch.mul(planes, pc, out=torch.empty_like(planes))
                gc = gc.addcmul_(s, u.t().unsqueeze(-1), value=-1.0).permute(1, 2, 0)
            if fix:
                # bc kept apart: bc + s - s would cancel where s >> bc
                exact = s_fix * -diff
                if bc is not None:
                    exact.addcmul_(bc[bi, ji].unsqueeze(1), c[bi, ji], value=bc_scale)
                gc[bi, ji] = exact
        if need_u:
            coef = s.sum(1) if au is None else s.sum(1).add_(au)
            gu = torch.baddbmm(
                (u * coef.unsqueeze(1)).unsqueeze(1), s.unsqueeze(1), c, alpha=-1.0
            ).squeeze(1)
            if fix:
                gu.index_add_(0, bi, s_fix * diff)
        return gu, gc, None, None, None, None, None


def relation_scores(u: Tensor, c: Tensor, distance: str | Distance = "poincare") -> Tensor:
    r"""Scores (larger = closer) of each anchor against its candidates.

    Equal to ``get_distance(distance).score_paired(u.unsqueeze(1), c)`` in value and
    gradient, with one fused forward and a hand-written backward (:class:`RelationScores`).

    Args:
        u: anchors ``[B, d]``. c: candidates ``[B, C, d]`` (any strides; see the module doc).
        distance: ``"poincare"`` (default; curvature 1, boundary eps 1e-5), ``"sqeuclidean"``
            / ``"squared_l2"``, ``"dot"``, or a :class:`PoincareDistance` (any curvature and
            eps < 1) / :class:`SquaredL2Distance` / :class:`DotProduct`.

    Returns:
        ``[B, C]``.

    Example:
        >>> u = torch.tensor([[0.1, 0.2]]); c = torch.tensor([[[0.1, 0.2], [0.5, -0.3]]])
        >>> relation_scores(u, c).argmax(1).item()
        0
    """
    check_float_tensor("u", u, ndim=2)
    check_float_tensor("c", c, ndim=3)
    if c.shape[0] != u.shape[0] or c.shape[2] != u.shape[1]:
        raise ValueError(f"c must have shape [{u.shape[0]}, C, {u.shape[1]}], got {tuple(c.shape)}")
    if c.dtype != u.dtype:
        raise TypeError(f"c has dtype {c.dtype} but u has {u.dtype}")
    kind, k, eps = resolve_relation_distance(distance)
    if kind == "dot":
        return RelationScores.apply(u, c, u.new_empty(0), u.new_empty(0), kind, k, eps)
    with torch.no_grad():
        un, cn = _square_norms(u), _square_norms(c)
    if kind == "poincare":
        bound = ((1.0 - eps) / math.sqrt(k)) ** 2
        # one sync for both maxima; points outside the ball are refused (as by the
        # distance), those between the rim and the boundary projected to the rim
        zero = un.new_zeros(())
        u_max, c_max = torch.stack(
            [un.max() if un.numel() else zero, cn.max() if cn.numel() else zero]
        ).tolist()
        for name, largest in (("u", u_max), ("c", c_max)):
            if largest * k >= 1.0:
                raise ValueError(
                    f"{name} lies outside the Poincaré ball of curvature -{k:g} "
                    f"(radius {1.0 / math.sqrt(k):.6g}): largest norm {math.sqrt(largest):.6g}"
                )
        # rare: the projection's own autograd then carries its Jacobian
        if u_max > bound:
            u = project_to_ball(u, k, eps)
            un = _square_norms(u.detach())
        if c_max > bound:
            c = project_to_ball(c, k, eps)
            cn = _square_norms(c.detach())
    return RelationScores.apply(u, c, un, cn, kind, k, eps)
