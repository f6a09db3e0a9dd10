"""One distance abstraction for every loss, miner and metric.

A :class:`Distance` computes a raw value between embeddings — a similarity
(cosine, dot) or a distance (L2, squared L2, Poincaré) — and knows which way is
"closer" (:attr:`Distance.higher_is_closer`). Losses work on *scores*, where
larger always means closer (``score = value`` for similarities, ``-value`` for
distances), so each loss is written once and runs with any distance:
InfoNCE over Poincaré scores is the distance-softmax loss of Nickel & Kiela (2017).

Shapes: ``pairwise(x [N, d], y [M, d]) -> [N, M]``;
``paired(x [..., d], y [..., d]) -> [...]`` with broadcasting.

Example:
    >>> dist = get_distance("poincare")
    >>> u = torch.tensor([[0.1, 0.2]]); v = torch.tensor([[0.3, -0.1]])
    >>> bool(dist.paired(u, v) > 0)
    True
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_broadcastable,
    check_float_tensor,
    check_positive,
    check_same_dim,
)

# Norm floor for cosine similarity: a zero vector has cosine 0 with everything.
COSINE_EPS = 1e-8
# Boundary margin of the Poincaré ball (Nickel & Kiela 2017 use 1e-5).
BALL_EPS = 1e-5


def _sq_clamp(dtype: torch.dtype) -> float:
    # sqrt'(0) is infinite; flooring the squared distance keeps gradients finite.
    return 1e-12 if dtype == torch.float64 else 1e-10


class Distance(ABC):
    """Base class: a pairwise and an elementwise ("paired") closeness measure."""

    name: ClassVar[str]
    higher_is_closer: ClassVar[bool]
    #: True when ``pairwise(x, y) == prepare(x) @ prepare(y).T`` (enables GEMM tiling tricks).
    is_inner_product: ClassVar[bool] = False

    def _check(self, x: Tensor, y: Tensor, pairwise: bool, names: tuple[str, str]) -> None:
        nx, ny = names
        check_float_tensor(nx, x, ndim=2 if pairwise else None)
        check_float_tensor(ny, y, ndim=2 if pairwise else None)
        check_same_dim(nx, x, ny, y)
        if not pairwise:
            check_broadcastable(nx, x, ny, y)

    @abstractmethod
    def _pairwise(self, x: Tensor, y: Tensor) -> Tensor: ...

    @abstractmethod
    def _paired(self, x: Tensor, y: Tensor) -> Tensor: ...

    def pairwise(self, x: Tensor, y: Tensor, *, names: tuple[str, str] = ("x", "y")) -> Tensor:
        """Raw values between every row of ``x [N, d]`` and ``y [M, d]`` -> ``[N, M]``.

        ``names``: what error messages call ``x`` and ``y`` (a loss passes its own
        argument names)."""
        self._check(x, y, True, names)
        return self._pairwise(x, y)

    def paired(self, x: Tensor, y: Tensor, *, names: tuple[str, str] = ("x", "y")) -> Tensor:
        """Raw values between matching rows, broadcasting ``[..., d]`` -> ``[...]``."""
        self._check(x, y, False, names)
        return self._paired(x, y)

    def to_score(self, value: Tensor) -> Tensor:
        """Map raw values to scores where larger means closer."""
        return value if self.higher_is_closer else -value

    def score_pairwise(
        self, x: Tensor, y: Tensor, *, names: tuple[str, str] = ("x", "y")
    ) -> Tensor:
        """Scores (larger = closer) ``[N, M]``."""
        return self.to_score(self.pairwise(x, y, names=names))

    def score_paired(self, x: Tensor, y: Tensor, *, names: tuple[str, str] = ("x", "y")) -> Tensor:
        """Scores (larger = closer) ``[...]``."""
        return self.to_score(self.paired(x, y, names=names))

    def prepare(self, x: Tensor) -> Tensor:
        """Transform embeddings so that an inner product gives the score (inner-product
        distances only; identity otherwise)."""
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CosineSimilarity(Distance):
    r""":math:`\cos(x, y) = x \cdot y / (\max(\|x\|, \epsilon)\max(\|y\|, \epsilon))`."""

    name = "cosine"
    higher_is_closer = True
    is_inner_product = True

    def prepare(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=-1, eps=COSINE_EPS)

    def _pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        return self.prepare(x) @ self.prepare(y).T

    def _paired(self, x: Tensor, y: Tensor) -> Tensor:
        return (self.prepare(x) * self.prepare(y)).sum(-1)


class DotProduct(Distance):
    r""":math:`x \cdot y`."""

    name = "dot"
    higher_is_closer = True
    is_inner_product = True

    def _pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        return x @ y.T

    def _paired(self, x: Tensor, y: Tensor) -> Tensor:
        return (x * y).sum(-1)


def _pairwise_sq_l2(x: Tensor, y: Tensor) -> Tensor:
    # ||x||^2 + ||y||^2 - 2 x.y : one GEMM instead of an [N, M, d] difference tensor.
    sq = (x * x).sum(-1, keepdim=True) + (y * y).sum(-1).unsqueeze(0) - 2.0 * (x @ y.T)
    return sq.clamp_min(0.0)


class SquaredL2Distance(Distance):
    r""":math:`\|x - y\|_2^2`."""

    name = "sqeuclidean"
    higher_is_closer = False

    def _pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        return _pairwise_sq_l2(x, y)

    def _paired(self, x: Tensor, y: Tensor) -> Tensor:
        return ((x - y) ** 2).sum(-1)


class L2Distance(Distance):
    r""":math:`\|x - y\|_2` (the squared distance is floored at 1e-10 before the root so
    that gradients stay finite at coincident points)."""

    name = "euclidean"
    higher_is_closer = False

    def _pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        return _pairwise_sq_l2(x, y).clamp_min(_sq_clamp(x.dtype)).sqrt()

    def _paired(self, x: Tensor, y: Tensor) -> Tensor:
        return ((x - y) ** 2).sum(-1).clamp_min(_sq_clamp(x.dtype)).sqrt()


def arcosh(x: Tensor) -> Tensor:
    r"""Stable :math:`\operatorname{arcosh}(x) = \log(x + \sqrt{x^2 - 1})` for ``x >= 1``.

    Written as :math:`\log(x + \sqrt{(x-1)(x+1)})` with :math:`x - 1` floored, so the
    gradient stays finite at coincident points (where ``x`` = 1 exactly).
    """
    xm1 = (x - 1.0).clamp_min(_sq_clamp(x.dtype))
    return torch.log1p(xm1 + torch.sqrt(xm1 * (xm1 + 2.0)))


def check_ball_eps(name: str, eps: float) -> float:
    """The boundary margin of the ball: a number in ``(0, 1)`` (the rim is at
    ``(1 - eps)/sqrt(c)``, so ``eps >= 1`` would put it at or beyond the centre)."""
    v = check_positive(name, eps)
    if v >= 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {eps!r}")
    return v


def _project(x: Tensor, curvature: float, eps: float) -> Tensor:
    max_norm = (1.0 - eps) / math.sqrt(curvature)
    norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-15)
    return torch.where(norm > max_norm, x * (max_norm / norm), x)


def project_to_ball(x: Tensor, curvature: float = 1.0, eps: float = BALL_EPS) -> Tensor:
    r"""Rescale rows with :math:`\|x\| \ge (1 - \epsilon)/\sqrt{c}` back inside the ball.

    ``x``: floating ``[..., d]``; ``curvature`` :math:`c > 0`; ``eps`` in ``(0, 1)``
    (default ``1e-5``). Differentiable; rows already inside are returned unchanged.
    """
    check_float_tensor("x", x)
    c = check_positive("curvature", curvature)
    return _project(x, c, check_ball_eps("eps", eps))


def check_in_ball(curvature: float, *points: tuple[str, Tensor]) -> None:
    r"""Every row of each ``(name, [..., d] tensor)`` pair lies strictly inside the Poincaré ball
    :math:`\|x\| < 1/\sqrt c`; else a ``ValueError`` naming the tensor and its largest
    norm. One squared-norm maximum per tensor, one host sync for all of them; NaN rows
    are not judged here."""
    named = [(name, t) for name, t in points if t.numel()]
    if not named:
        return
    with torch.no_grad():
        sq = torch.stack([t.detach().square().sum(-1).amax().to(torch.float64) for _, t in named])
        largest = sq.tolist()
    for (name, _), v in zip(named, largest, strict=True):
        if v * curvature >= 1.0:
            radius = 1.0 / math.sqrt(curvature)
            raise ValueError(
                f"{name} lies outside the Poincaré ball of curvature -{curvature:g} "
                f"(radius {radius:.6g}): largest norm {math.sqrt(v):.6g}; map it into the "
                f"ball first (e.g. project_to_ball, or a manifold='poincare' embedding)"
            )


class PoincareDistance(Distance):
    r"""Geodesic distance in the Poincaré ball of curvature :math:`-c`:

    .. math::
        d(u, v) = \frac{1}{\sqrt c}\operatorname{arcosh}\Big(1 + \frac{2c\|u - v\|^2}
        {(1 - c\|u\|^2)(1 - c\|v\|^2)}\Big)

    Inputs must lie inside the ball, :math:`\|x\| < 1/\sqrt c`: a point on or outside
    it raises a ``ValueError`` naming the argument and its largest norm (its distances
    would be finite but meaningless). Points between the rim
    :math:`(1 - \epsilon)/\sqrt c` and the boundary are projected to the rim
    (Nickel & Kiela 2017), so the output of :func:`project_to_ball` is always accepted.
    The check costs one squared-norm maximum per argument and one host sync per call.
    ``eps`` must be in ``(0, 1)``.
    """

    name = "poincare"
    higher_is_closer = False

    def __init__(self, curvature: float = 1.0, eps: float = BALL_EPS) -> None:
        self.curvature = check_positive("curvature", curvature)
        self.eps = check_ball_eps("eps", eps)

    def _check(self, x: Tensor, y: Tensor, pairwise: bool, names: tuple[str, str]) -> None:
        super()._check(x, y, pairwise, names)
        check_in_ball(self.curvature, (names[0], x), (names[1], y))

    def _conformal(self, x: Tensor) -> Tensor:
        return (1.0 - self.curvature * (x * x).sum(-1)).clamp_min(self.eps)

    def _from_sq(self, sq: Tensor, ax: Tensor, ay: Tensor) -> Tensor:
        c = self.curvature
        arg = 1.0 + 2.0 * c * sq / (ax * ay)
        return arcosh(arg) / math.sqrt(c)

    def _pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        x = _project(x, self.curvature, self.eps)
        y = _project(y, self.curvature, self.eps)
        sq = _pairwise_sq_l2(x, y)
        return self._from_sq(sq, self._conformal(x).unsqueeze(-1), self._conformal(y).unsqueeze(0))

    def _paired(self, x: Tensor, y: Tensor) -> Tensor:
        x = _project(x, self.curvature, self.eps)
        y = _project(y, self.curvature, self.eps)
        sq = ((x - y) ** 2).sum(-1)
        return self._from_sq(sq, self._conformal(x), self._conformal(y))

    def __repr__(self) -> str:
        return f"PoincareDistance(curvature={self.curvature}, eps={self.eps})"


_REGISTRY: dict[str, type[Distance]] = {
    "cosine": CosineSimilarity,
    "dot": DotProduct,
    "sqeuclidean": SquaredL2Distance,
    "squared_l2": SquaredL2Distance,
    "euclidean": L2Distance,
    "l2": L2Distance,
    "poincare": PoincareDistance,
}

DISTANCE_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_distance(spec: str | Distance = "cosine") -> Distance:
    """Return a :class:`Distance` from its name (``cosine``, ``dot``, ``sqeuclidean``
    / ``squared_l2``, ``euclidean`` / ``l2``, ``poincare``) or pass an instance through."""
    if isinstance(spec, Distance):
        return spec
    if not isinstance(spec, str) or spec not in _REGISTRY:
        raise ValueError(f"distance must be one of {sorted(_REGISTRY)}, got {spec!r}")
    return _REGISTRY[spec]()
