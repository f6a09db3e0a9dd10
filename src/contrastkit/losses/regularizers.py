r"""``nn.Module`` wrappers for the embedding regularisers and projections.

Formulas and costs are in :mod:`contrastkit.functional.regularizers`; these
modules hold the hyper-parameters and a multiplier :math:`\lambda`.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from contrastkit._validation import (
    check_choice,
    check_non_negative,
    check_positive,
    check_positive_int,
)
from contrastkit.functional.distances import BALL_EPS
from contrastkit.functional.reduction import Reduction, check_reduction
from contrastkit.functional.regularizers import (
    DecorrelationMode,
    GramMethod,
    MatrixReduction,
    NormMode,
    decorrelation_penalty,
    embedding_norm_penalty,
    feature_orthogonality,
    project_norm,
    project_poincare,
    sample_orthogonality,
)

OrthogonalityForm = Literal["feature", "sample"]
ProjectionKind = Literal["clip", "sphere", "poincare"]


class EmbeddingNormLoss(nn.Module):
    r"""Soft norm constraint :math:`\lambda\,\mathrm{mean}_i (\|z_i\| - r)^2` or a max-norm hinge.

    Args:
        target_norm: :math:`r \ge 0`. Default 1.0 (unit sphere, as in the original design).
        mode: ``"target"`` (default) or ``"max"`` (:math:`\max(0, \|z_i\| - r)^2`).
        lambda_: multiplier :math:`\lambda \ge 0`. Default 1.0.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shapes (forward): ``z [N, d]``, ``weight [N]`` (optional). Returns a scalar or ``[N]``.

    Example:
        >>> import torch
        >>> EmbeddingNormLoss()(torch.tensor([[3.0, 4.0]])).item()
        16.0
    """

    def __init__(
        self,
        target_norm: float = 1.0,
        *,
        mode: NormMode = "target",
        lambda_: float = 1.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.target_norm = check_non_negative("target_norm", target_norm)
        self.mode: NormMode = check_choice("mode", mode, ("target", "max"))
        self.lambda_ = check_non_negative("lambda_", lambda_)
        self.reduction = check_reduction(reduction)

    def forward(self, z: Tensor, weight: Tensor | None = None) -> Tensor:
        out = embedding_norm_penalty(
            z, self.target_norm, mode=self.mode, reduction=self.reduction, weight=weight
        )
        return out * self.lambda_

    def extra_repr(self) -> str:
        return f"target_norm={self.target_norm}, mode={self.mode!r}, lambda_={self.lambda_}"


class OrthogonalityLoss(nn.Module):
    r"""Orthogonality penalty, feature-wise or sample-wise (Gram).

    .. math::

        \ell_{feature} = \lambda \|Z^\top Z / N - I_d\|_F^2, \qquad
        \ell_{sample} = \lambda \|Z Z^\top - I_N\|_F^2 .

    Cost: ``"feature"`` O(N d²); ``"sample"`` O(N d · min(N, d)) (see
    :func:`~contrastkit.functional.regularizers.sample_orthogonality`).

    Args:
        form: ``"feature"`` (default) or ``"sample"`` (the original design's form).
        lambda_: multiplier :math:`\lambda \ge 0`. Default 1.0.
        reduction: ``"mean"`` over the matrix entries (default) or ``"sum"``.
        method: ``"auto"``, ``"gram"`` or ``"dual"`` (``"sample"`` only).
        tile_size: rows per Gram block (``"sample"`` with ``"gram"``). Default 1024.

    Shapes (forward): ``z [N, d]``. Returns a scalar.
    """

    def __init__(
        self,
        form: OrthogonalityForm = "feature",
        *,
        lambda_: float = 1.0,
        reduction: MatrixReduction = "mean",
        method: GramMethod = "auto",
        tile_size: int = 1024,
    ) -> None:
        super().__init__()
        self.form: OrthogonalityForm = check_choice("form", form, ("feature", "sample"))
        self.lambda_ = check_non_negative("lambda_", lambda_)
        self.reduction: MatrixReduction = check_choice("reduction", reduction, ("mean", "sum"))
        self.method: GramMethod = check_choice("method", method, ("auto", "gram", "dual"))
        self.tile_size = check_positive_int("tile_size", tile_size)

    def forward(self, z: Tensor) -> Tensor:
        if self.form == "feature":
            out = feature_orthogonality(z, reduction=self.reduction)
        else:
            out = sample_orthogonality(
                z, reduction=self.reduction, method=self.method, tile_size=self.tile_size
            )
        return out * self.lambda_

    def extra_repr(self) -> str:
        return f"form={self.form!r}, lambda_={self.lambda_}, reduction={self.reduction!r}"


class DecorrelationLoss(nn.Module):
    r"""Off-diagonal covariance (VICReg) or correlation penalty.

    .. math::

        \ell = \frac{\lambda}{d} \sum_{i \ne j} C_{ij}^2 .

    Args:
        mode: ``"covariance"`` (default) or ``"correlation"``.
        lambda_: multiplier :math:`\lambda \ge 0`. Default 1.0 (VICReg weights its
            covariance term 1 against 25 for invariance and variance).
        reduction: ``"mean"`` (divide by :math:`d`, default) or ``"sum"``.

    Shapes (forward): ``z [N, d]``. Returns a scalar. Cost O(N d²).
    """

    def __init__(
        self,
        mode: DecorrelationMode = "covariance",
        *,
        lambda_: float = 1.0,
        reduction: MatrixReduction = "mean",
    ) -> None:
        super().__init__()
        self.mode: DecorrelationMode = check_choice("mode", mode, ("covariance", "correlation"))
        self.lambda_ = check_non_negative("lambda_", lambda_)
        self.reduction: MatrixReduction = check_choice("reduction", reduction, ("mean", "sum"))

    def forward(self, z: Tensor) -> Tensor:
        return decorrelation_penalty(z, mode=self.mode, reduction=self.reduction) * self.lambda_

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, lambda_={self.lambda_}, reduction={self.reduction!r}"


class EmbeddingProjection(nn.Module):
    r"""Hard constraint: clip norms, rescale to a sphere, or pull into the Poincaré ball.

    Returns a new tensor (differentiable, never in place); to constrain a
    parameter, ``with torch.no_grad(): p.copy_(proj(p))`` after the optimiser step.

    Args:
        kind: ``"clip"`` (norm :math:`\le r`, default), ``"sphere"`` (norm :math:`= r`
            for non-zero rows) or ``"poincare"`` (norm :math:`\le (1-\epsilon)/\sqrt c`).
        max_norm: :math:`r > 0` for ``"clip"``/``"sphere"``. Default 1.0.
        curvature: :math:`c > 0` for ``"poincare"``. Default 1.0.
        eps: ball margin for ``"poincare"``. Default ``1e-5``.

    Shapes (forward): ``z [..., d]`` to ``[..., d]``.
    """

    def __init__(
        self,
        kind: ProjectionKind = "clip",
        *,
        max_norm: float = 1.0,
        curvature: float = 1.0,
        eps: float = BALL_EPS,
    ) -> None:
        super().__init__()
        self.kind: ProjectionKind = check_choice("kind", kind, ("clip", "sphere", "poincare"))
        self.max_norm = check_positive("max_norm", max_norm)
        self.curvature = check_positive("curvature", curvature)
        self.eps = check_positive("eps", eps)

    def forward(self, z: Tensor) -> Tensor:
        if self.kind == "poincare":
            return project_poincare(z, self.curvature, self.eps)
        return project_norm(z, self.max_norm, mode=self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, max_norm={self.max_norm}, curvature={self.curvature}"
