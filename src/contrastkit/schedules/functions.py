"""Pure schedule functions: annealing curves and per-objective weight curves.

Annealing (used for temperatures), with progress :math:`p = \\min(t / T, 1)`:

.. math::

    \\text{linear}:\\; a + (b - a)\\,p \\qquad
    \\text{exponential}:\\; a\\,(b / a)^{p} \\qquad
    \\text{cosine}:\\; b + (a - b)\\,\\tfrac{1 + \\cos(\\pi p)}{2}

and ``step``: ``values[min(t // step_size, len(values) - 1)]``.

Weight curves (used by :class:`~contrastkit.schedules.loss_weights.LossWeightScheduler`)
are small frozen dataclasses callable on an integer step: :class:`ExponentialDecay`,
:class:`RampUp` (linear ramp then plateau) and :class:`Plateau` (switch an objective
on at a given step). They follow the loss-weight curriculum of the original design
(reconstruction decaying, contrastive ramping up, task weight rising late) and
Bengio et al., "Curriculum Learning", ICML 2009.

Example:
    >>> from contrastkit.schedules.functions import RampUp, anneal
    >>> anneal("cosine", 50, start=1.0, end=0.0, steps=100)
    0.5
    >>> RampUp(start=0.1, end=1.0, duration=10)(5)
    0.55
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from contrastkit._validation import check_choice, check_non_negative, check_positive

AnnealKind = Literal["linear", "exponential", "cosine", "step", "constant"]
ANNEAL_KINDS: tuple[str, ...] = get_args(AnnealKind)


def anneal(
    schedule: AnnealKind,
    step: int,
    *,
    start: float,
    end: float,
    steps: int,
    values: Sequence[float] = (),
    step_size: int = 1,
) -> float:
    """Value of an annealing curve at integer ``step`` (clamped to the end after ``steps``).

    ``step >= 0``; ``steps > 0``; for ``"step"``: non-empty ``values`` and
    ``step_size > 0``; for ``"exponential"``: ``start``, ``end`` > 0. ``constant``
    returns ``start``. The checks are scalar comparisons (this runs every step);
    violations raise ``ValueError`` naming the argument.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if schedule == "step":
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"step_size must be an int > 0, got {step_size!r}")
        if len(values) == 0:
            raise ValueError("values must be non-empty for schedule='step'")
        return float(values[min(step // step_size, len(values) - 1)])
    if schedule == "constant":
        return start
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be an int > 0, got {steps!r}")
    p = min(step / steps, 1.0)
    if schedule == "linear":
        return start + (end - start) * p
    if schedule == "exponential":
        if not (start > 0 and end > 0):
            raise ValueError(
                f"start and end must be > 0 for schedule='exponential', got start={start!r}, "
                f"end={end!r}"
            )
        return start * (end / start) ** p
    if schedule == "cosine":
        return end + (start - end) * (1.0 + math.cos(math.pi * p)) / 2.0
    check_choice("schedule", schedule, ANNEAL_KINDS)
    raise ValueError(f"schedule {schedule!r} has no formula")  # unreachable: check_choice raised


def _check_begin(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class ExponentialDecay:
    """Exponential decay of a weight towards ``final``.

    .. math::

        w(t) = f + (w_0 - f)\\,e^{-(t - t_0)/\\tau} \\;(t \\ge t_0), \\qquad w(t) = w_0 \\;(t < t_0)

    Defaults reproduce the original design's reconstruction weight
    :math:`e^{-t/50}`. ``initial`` and ``final`` must be >= 0, ``decay_steps`` > 0.
    """

    initial: float = 1.0
    decay_steps: float = 50.0
    final: float = 0.0
    begin: int = 0

    def __post_init__(self) -> None:
        check_non_negative("initial", self.initial)
        check_positive("decay_steps", self.decay_steps)
        check_non_negative("final", self.final)
        _check_begin("begin", self.begin)

    def __call__(self, step: int) -> float:
        if step < self.begin:
            return float(self.initial)
        decay = math.exp(-(step - self.begin) / self.decay_steps)
        return self.final + (self.initial - self.final) * decay


@dataclass(frozen=True)
class RampUp:
    """``start`` until ``begin``, linear to ``end`` over ``duration`` steps, then ``end``.

    .. math::

        w(t) = s + (e - s)\\,\\min\\!\\big(\\max(t - t_0, 0) / D,\\; 1\\big)

    A ramp-up followed by a plateau; with ``start > end`` it ramps down.
    """

    start: float = 0.0
    end: float = 1.0
    begin: int = 0
    duration: int = 10

    def __post_init__(self) -> None:
        check_non_negative("start", self.start)
        check_non_negative("end", self.end)
        _check_begin("begin", self.begin)
        if isinstance(self.duration, bool) or not isinstance(self.duration, int):
            raise TypeError(f"duration must be an int, got {self.duration!r}")
        if self.duration <= 0:
            raise ValueError(f"duration must be > 0, got {self.duration}")

    def __call__(self, step: int) -> float:
        p = min(max(step - self.begin, 0) / self.duration, 1.0)
        return self.start + (self.end - self.start) * p


@dataclass(frozen=True)
class Plateau:
    """``before`` until step ``begin``, then the constant ``value`` (switches an objective on).

    With the default ``begin=0`` it is simply a constant weight.
    """

    value: float = 1.0
    begin: int = 0
    before: float = 0.0

    def __post_init__(self) -> None:
        check_non_negative("value", self.value)
        check_non_negative("before", self.before)
        _check_begin("begin", self.begin)

    def __call__(self, step: int) -> float:
        return float(self.value) if step >= self.begin else float(self.before)


WeightSchedule = ExponentialDecay | RampUp | Plateau
