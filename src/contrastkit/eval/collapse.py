r"""Refuse to score a degenerate embedding: collapsed to a point, to the origin, onto
the Poincaré ball's rim, or diverged to NaN/Inf.

A ranking metric cannot tell "every relation ranked first" from "every distance
ties": when all rows of ``z [N, d]`` are equal, the Nickel & Kiela ranking with ties
counted in the relation's favour (gensim's convention, the default) reports mean
rank 1 and MAP 1 — a perfect score for an embedding that learned nothing. A huge
learning rate does exactly that to a Poincaré table (the update overflows, the
projection onto the ball maps every row to the origin) without one non-finite step.
:func:`check_not_collapsed` runs once per evaluation (``O(N d)``, vectorised) and
raises :class:`CollapsedEmbeddingError` naming what collapsed, with the numbers:

* **a point** — the spread :math:`\max_i \|z_i - \bar z\|` is at most
  ``rtol * max_i ||z_i|| + atol`` (every row equal up to rounding);
* **the origin** — every row norm is at most ``atol``;
* **directions** (``directions=True``, for cosine) — the same spread test on the
  unit-normalised rows (every row a positive multiple of one vector);
* **the rim** (``ball_radius`` given, Poincaré) — at least ``rim_share`` of the rows
  sit on one sphere (within a relative ``1e-5`` of the largest norm) that lies within
  1 % of the ball's boundary: the projection onto the ball has absorbed them all. A
  trained hierarchy keeps most rows off that sphere (the mammal closure's default
  recipe: 63 %, Nickel & Kiela's settings: 0.3 %);
* **NaN/Inf** — any non-finite entry (the embedding diverged; nothing can be ranked).

Example:
    >>> check_not_collapsed(torch.randn(5, 3))  # passes silently
    >>> try:
    ...     check_not_collapsed(torch.zeros(5, 3), "table")
    ... except CollapsedEmbeddingError as exc:
    ...     print(str(exc).split(":")[0])
    table collapsed to the origin
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_non_negative

__all__ = ["CollapsedEmbeddingError", "check_not_collapsed"]

#: rows within this relative distance of the largest norm share its sphere
RIM_RTOL = 1e-5
#: that sphere is "the rim" when it lies within this share of the ball's radius
RIM_MARGIN = 1e-2


class CollapsedEmbeddingError(ValueError):
    """An embedding is degenerate (collapsed or diverged): its scores would mislead."""


@torch.no_grad()
def check_not_collapsed(
    z: Tensor,
    name: str = "embedding",
    *,
    ball_radius: float | None = None,
    directions: bool = False,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    rim_share: float = 0.99,
) -> None:
    """Raise :class:`CollapsedEmbeddingError` when ``z`` is degenerate (see the module).

    Args:
        z: ``[N, d]`` embedding (any float dtype; measured in float64).
        name: what ``z`` is, for the message; default ``"embedding"``.
        ball_radius: radius of the Poincaré ball :math:`1/\\sqrt c`; ``None``
            (default) skips the rim test (not a ball).
        directions: also test the unit-normalised rows (cosine similarity); default
            False.
        rtol, atol: a spread at most ``rtol * max norm + atol`` is a point; a max
            norm at most ``atol`` is the origin. Defaults ``1e-5`` and ``1e-6``.
        rim_share: share of rows on the rim sphere that counts as collapsed; default
            ``0.99``.

    Fewer than two rows cannot collapse; such ``z`` pass.
    """
    x = check_float_tensor(name, z, ndim=2)
    check_non_negative("rtol", rtol)
    check_non_negative("atol", atol)
    if not 0.0 < rim_share <= 1.0:
        raise ValueError(f"rim_share must be in (0, 1], got {rim_share}")
    n = int(x.shape[0])
    finite = torch.isfinite(x).all(1)
    bad = n - int(finite.sum())
    if bad:
        raise CollapsedEmbeddingError(
            f"{name} diverged: {bad} of {n} rows hold NaN/Inf; it cannot be scored "
            "(lower optim.lr or set optim.grad_clip)"
        )
    if n < 2 or x.shape[1] == 0:
        return
    x = x.double()
    norms = x.norm(dim=1)
    top = float(norms.max())
    hint = "every distance ties, so a ranking would score it perfect; lower optim.lr"
    if top <= atol:
        raise CollapsedEmbeddingError(
            f"{name} collapsed to the origin: all {n} rows have norm <= {atol:g} "
            f"(largest {top:.3g}); {hint}"
        )
    spread = _spread(x)
    if spread <= rtol * top + atol:
        raise CollapsedEmbeddingError(
            f"{name} collapsed to a point: all {n} rows lie within {spread:.3g} of their "
            f"mean (largest norm {top:.3g}, tolerance {rtol:g} relative + {atol:g}); {hint}"
        )
    if directions:
        unit = x / norms.clamp_min(atol).unsqueeze(1)
        turn = _spread(unit)
        if turn <= rtol + atol:
            raise CollapsedEmbeddingError(
                f"{name} collapsed to one direction: all {n} unit-normalised rows lie "
                f"within {turn:.3g} of their mean; every cosine similarity ties; lower optim.lr"
            )
    if ball_radius is not None and top >= (1.0 - RIM_MARGIN) * ball_radius:
        on_rim = int((norms >= top * (1.0 - RIM_RTOL)).sum())
        if on_rim >= rim_share * n:
            raise CollapsedEmbeddingError(
                f"{name} collapsed onto the rim of the Poincaré ball: {on_rim} of {n} rows "
                f"have norm {top:.6g} (radius {ball_radius:.6g}); the projection onto the "
                "ball absorbed every step, the hierarchy is lost; lower optim.lr"
            )


def _spread(x: Tensor) -> float:
    r""":math:`\max_i \|x_i - \bar x\|` of ``x [N, d]``."""
    return float((x - x.mean(0, keepdim=True)).norm(dim=1).max())
