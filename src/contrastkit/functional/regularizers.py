r"""Embedding regularisers: norm penalties, hard projections, orthogonality, decorrelation.

Costs for ``z [N, d]``:

============================  ==================  ===============
function                      time                extra memory
============================  ==================  ===============
embedding_norm_penalty        O(N d)              O(N)
project_norm / _poincare      O(N d)              O(N d) (a copy)
feature_orthogonality         O(N d²)             O(d²)
decorrelation_penalty         O(N d²)             O(N d + d²)
sample_orthogonality          O(N d · min(N, d))  O(min(N, d)²) or a tile
============================  ==================  ===============

Projections return new tensors (never modify ``z`` in place) and are
differentiable; to constrain a parameter, assign the result under
``torch.no_grad()``.

References: Nickel & Kiela (2017) (ball projection); Bardes et al. (2022), VICReg
(covariance term); Zbontar et al. (2021), Barlow Twins (redundancy reduction).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_float_tensor,
    check_non_negative,
    check_positive,
    check_positive_int,
)
from contrastkit.functional.distances import BALL_EPS, project_to_ball
from contrastkit.functional.reduction import Reduction, reduce_loss

NormMode = Literal["target", "max"]
ProjectMode = Literal["clip", "sphere"]
MatrixReduction = Literal["mean", "sum"]
DecorrelationMode = Literal["covariance", "correlation"]
GramMethod = Literal["auto", "gram", "dual"]
# Below this norm a row has no direction: "sphere" projection leaves it at zero.
ZERO_NORM = 1e-12


def embedding_norm_penalty(
    z: Tensor,
    target_norm: float = 1.0,
    *,
    mode: NormMode = "target",
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Soft penalty on row norms: :math:`(\|z_i\| - r)^2` or :math:`\max(0, \|z_i\| - r)^2`.

    Args:
        z: embeddings ``[N, d]``.
        target_norm: :math:`r \ge 0` (default 1).
        mode: ``"target"`` (pull every norm to :math:`r`, default) or ``"max"``
            (squared hinge: only norms above :math:`r` are penalised).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``[N]``).
        weight: optional non-negative per-row weights ``[N]``.

    Returns:
        a scalar, or ``[N]`` for ``"none"``. A zero row has norm 0 and gradient 0.

    >>> embedding_norm_penalty(torch.tensor([[3.0, 4.0], [0.0, 0.0]])).item()
    8.5
    """
    z = check_float_tensor("z", z, ndim=2)
    r = check_non_negative("target_norm", target_norm)
    mode = check_choice("mode", mode, ("target", "max"))
    gap = torch.linalg.vector_norm(z, dim=-1) - r
    per_row = gap.square() if mode == "target" else gap.clamp_min(0.0).square()
    return reduce_loss(per_row, reduction, weight)


def project_norm(z: Tensor, max_norm: float = 1.0, *, mode: ProjectMode = "clip") -> Tensor:
    r"""Hard norm constraint: :math:`z_i \cdot \min(1, r / \|z_i\|)` or :math:`r\, z_i / \|z_i\|`.

    Args:
        z: embeddings ``[..., d]``.
        max_norm: :math:`r > 0` (default 1).
        mode: ``"clip"`` (rows longer than :math:`r` are shortened to :math:`r`,
            default) or ``"sphere"`` (every non-zero row rescaled to norm :math:`r`;
            zero rows stay zero).

    Returns:
        a new tensor ``[..., d]``.

    >>> project_norm(torch.tensor([[3.0, 4.0], [0.3, 0.4]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.30000001192092896, 0.4000000059604645]]
    """
    z = check_float_tensor("z", z)
    r = check_positive("max_norm", max_norm)
    mode = check_choice("mode", mode, ("clip", "sphere"))
    norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
    safe = norm.clamp_min(ZERO_NORM)
    apply = norm > r if mode == "clip" else norm > ZERO_NORM
    return torch.where(apply, z * (r / safe), z)


def project_poincare(z: Tensor, curvature: float = 1.0, eps: float = BALL_EPS) -> Tensor:
    r"""Pull rows back inside the Poincaré ball: norm at most :math:`(1 - \epsilon)/\sqrt{c}`.

    Args:
        z: embeddings ``[..., d]``.
        curvature: :math:`c > 0` (default 1).
        eps: boundary margin (default ``1e-5``, Nickel & Kiela 2017).

    Returns:
        a new tensor ``[..., d]``.
    """
    z = check_float_tensor("z", z)
    c = check_positive("curvature", curvature)
    e = check_positive("eps", eps)
    if e >= 1.0:
        raise ValueError(f"eps must be < 1, got {eps!r}")
    return project_to_ball(z, c, e)


def _matrix_reduce(total: Tensor, count: int, reduction: str) -> Tensor:
    reduction = check_choice("reduction", reduction, ("mean", "sum"))
    return total / max(count, 1) if reduction == "mean" else total


def feature_orthogonality(z: Tensor, *, reduction: MatrixReduction = "mean") -> Tensor:
    r"""Feature-wise orthogonality :math:`\|Z^\top Z / N - I_d\|_F^2`; O(N d²) time, O(d²) memory.

    Args:
        z: embeddings ``[N, d]`` (``N = 0`` gives :math:`\|I_d\|_F^2`).
        reduction: ``"mean"`` over the :math:`d^2` entries (default) or ``"sum"``.

    Returns:
        a scalar.

    >>> feature_orthogonality(torch.eye(3) * 3**0.5).item()
    0.0
    """
    z = check_float_tensor("z", z, ndim=2)
    n, d = z.shape
    gram = z.T @ z / max(n, 1)
    dev = gram - torch.eye(d, dtype=z.dtype, device=z.device)
    return _matrix_reduce(dev.square().sum(), d * d, reduction)


def decorrelation_penalty(
    z: Tensor, *, mode: DecorrelationMode = "covariance", reduction: MatrixReduction = "mean"
) -> Tensor:
    r"""Off-diagonal covariance (VICReg) or correlation (Barlow-Twins style) penalty.

    .. math::

        C = \frac{(Z - \bar Z)^\top (Z - \bar Z)}{\max(N - 1, 1)}, \qquad
        \ell = \frac{1}{d} \sum_{i \ne j} C_{ij}^2 \quad (\text{"mean"}),

    with ``mode="correlation"`` using :math:`C_{ij} / \sqrt{C_{ii} C_{jj}}` (a
    constant feature has correlation 0 with the others). O(N d²) time.

    Args:
        z: embeddings ``[N, d]``; ``N = 1`` gives an attached zero.
        mode: ``"covariance"`` (default, VICReg's :math:`c(Z)`) or ``"correlation"``.
        reduction: ``"mean"`` (divide by :math:`d`, VICReg's scaling, default) or ``"sum"``.

    Returns:
        a scalar.

    >>> decorrelation_penalty(torch.tensor([[1.0, 1.0], [-1.0, -1.0]])).item()
    4.0
    """
    z = check_float_tensor("z", z, ndim=2)
    mode = check_choice("mode", mode, ("covariance", "correlation"))
    n, d = z.shape
    centred = z - z.mean(dim=0, keepdim=True) if n else z
    if mode == "correlation":
        # unit-norm columns make the Gram matrix the correlation matrix
        centred = centred / torch.linalg.vector_norm(centred, dim=0).clamp_min(ZERO_NORM)
        cov = centred.T @ centred
    else:
        cov = centred.T @ centred / max(n - 1, 1)
    off = cov - torch.diag_embed(torch.diagonal(cov))
    return _matrix_reduce(off.square().sum(), d, reduction)


def sample_orthogonality(
    z: Tensor,
    *,
    reduction: MatrixReduction = "mean",
    method: GramMethod = "auto",
    tile_size: int = 1024,
) -> Tensor:
    r"""Sample-Gram orthogonality :math:`\|Z Z^\top - I_N\|_F^2` over a batch.

    ``"gram"`` forms :math:`Z Z^\top` one block of ``tile_size`` rows at a time:
    O(N² d) time, O(tile_size · N) memory. ``"dual"`` uses the identity
    :math:`\|ZZ^\top - I\|_F^2 = \|Z^\top Z\|_F^2 - 2\|Z\|_F^2 + N`: O(N d²) time,
    O(d²) memory. ``"auto"`` (default) takes the cheaper one (``"dual"`` iff
    :math:`N > d`; there the penalty is at least :math:`N - d`, so the identity
    loses no relative precision).

    Args:
        z: embeddings ``[N, d]``.
        reduction: ``"mean"`` over the :math:`N^2` entries (default, as in the
            original design) or ``"sum"``.
        method: ``"auto"``, ``"gram"`` or ``"dual"``.
        tile_size: rows per block for ``"gram"`` (default 1024).

    Returns:
        a scalar; an attached zero for ``N = 0``.

    >>> sample_orthogonality(torch.eye(2, 4)).item()
    0.0
    """
    z = check_float_tensor("z", z, ndim=2)
    method = check_choice("method", method, ("auto", "gram", "dual"))
    tile = check_positive_int("tile_size", tile_size)
    n, d = z.shape
    if method == "dual" or (method == "auto" and n > d):
        total = (z.T @ z).square().sum() - 2.0 * z.square().sum() + n
        return _matrix_reduce(total, n * n, reduction)
    total = z.sum() * 0.0
    for start in range(0, n, tile):
        end = min(start + tile, n)
        rows = torch.arange(end - start, device=z.device)
        block = z[start:end] @ z.T
        # subtract the identity's block without building it: only (i, start + i) entries
        block = block.index_put((rows, rows + start), block.new_tensor(-1.0), accumulate=True)
        total = total + block.square().sum()
    return _matrix_reduce(total, n * n, reduction)
