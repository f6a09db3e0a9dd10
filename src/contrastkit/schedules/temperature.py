"""Temperature annealing: linear, exponential, cosine or step curves with optional warm-up.

After an optional warm-up of :math:`W` steps, the ``S = steps`` annealed values run
from :math:`\\tau_\\text{start}` to :math:`\\tau_\\text{end}` *inclusive*:

.. math::

    \\tau(t) = \\text{anneal}(t - W;\\; \\tau_\\text{start}, \\tau_\\text{end}, S - 1)
    \\qquad (S > 1)

(see :func:`contrastkit.schedules.functions.anneal`; progress :math:`(t - W) / (S - 1)`,
clamped to 1). So with one :meth:`~TemperatureScheduler.step` per epoch and
``steps = epochs``, epoch 0 reads ``start`` and the last epoch (position ``S - 1``)
reads exactly ``end``. With ``S = 1`` the one annealed value is ``start`` and every
later position reads ``end``. During warm-up it is held at
``start``, or, when ``warmup_start`` is given, rises or falls linearly from
``warmup_start`` to ``start``. Softer (higher) temperatures early spread the
gradient over many negatives; lower ones later concentrate it on the hardest
(Wang & Liu, "Understanding the Behaviour of Contrastive Loss", CVPR 2021).

Example:
    >>> from contrastkit.schedules.temperature import TemperatureScheduler
    >>> s = TemperatureScheduler("linear", start=1.0, end=0.1, steps=10)
    >>> [round(s.value_at(t), 2) for t in range(10)]
    [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    >>> s.value, round(s.step(9), 2)
    (1.0, 0.1)
    >>> TemperatureScheduler("step", values=[0.5, 0.3, 0.1], step_size=10).value_at(25)
    0.1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args

from contrastkit._validation import check_choice, check_positive, check_positive_int
from contrastkit.schedules.base import Scheduler, check_state_keys, check_step
from contrastkit.schedules.functions import AnnealKind, anneal


class TemperatureScheduler(Scheduler[float]):
    """Anneal a temperature over ``steps`` values (one :meth:`step` per epoch or batch).

    The value read at positions ``W, ..., W + steps - 1`` goes from ``start`` to ``end``
    inclusive: built with ``steps = epochs`` and stepped at the end of each epoch, the
    first epoch trains at ``start`` and the last one at exactly ``end``.

    Args:
        schedule: ``"linear"``, ``"exponential"``, ``"cosine"``, ``"step"`` or ``"constant"``.
        start: temperature at the end of warm-up (> 0). Default 1.0.
        end: temperature read at position ``warmup_steps + steps - 1`` and after (> 0).
            Default 0.1.
        steps: number of annealed values, ``start`` and ``end`` included (> 0), ignored
            by ``step``/``constant``. ``1``: ``start``, then ``end`` from the next step.
        values: for ``"step"``: the temperatures, each held for ``step_size`` steps.
        step_size: for ``"step"``: steps per value (> 0).
        warmup_steps: steps before annealing starts (>= 0). Default 0.
        warmup_start: temperature at step 0 of a linear warm-up; ``None`` holds ``start``.

    Raises:
        ValueError: naming the argument, for an unknown ``schedule``, non-positive
            ``steps``/``step_size``/temperatures, or ``exponential`` with
            ``start``/``end`` <= 0.
    """

    def __init__(
        self,
        schedule: AnnealKind = "linear",
        *,
        start: float = 1.0,
        end: float = 0.1,
        steps: int = 100,
        values: Sequence[float] | None = None,
        step_size: int = 1,
        warmup_steps: int = 0,
        warmup_start: float | None = None,
    ) -> None:
        super().__init__()
        self.schedule: AnnealKind = check_choice("schedule", schedule, get_args(AnnealKind))
        if schedule == "step":
            if values is None or len(values) == 0:
                raise ValueError(
                    f"values must be a non-empty sequence for schedule='step', got {values!r}"
                )
            self.values = tuple(check_positive(f"values[{i}]", v) for i, v in enumerate(values))
            start, end = self.values[0], self.values[-1]
        else:
            if values is not None:
                raise ValueError(f"values is only used with schedule='step', got {values!r}")
            self.values = ()
        # start/end must be > 0 for every kind; for exponential this is also what makes
        # (end / start) ** p defined.
        self.start = check_positive("start", start)
        self.end = check_positive("end", end)
        self.steps = check_positive_int("steps", steps)
        self.step_size = check_positive_int("step_size", step_size)
        self.warmup_steps = check_positive_int("warmup_steps", warmup_steps, allow_zero=True)
        self.warmup_start = (
            None if warmup_start is None else check_positive("warmup_start", warmup_start)
        )

    @property
    def total_steps(self) -> int:
        """Warm-up plus annealing length: the value is constant from here on."""
        if self.schedule == "step":
            return self.warmup_steps + self.step_size * (len(self.values) - 1)
        if self.schedule == "constant":
            return self.warmup_steps
        return self.warmup_steps + self._span

    @property
    def _span(self) -> int:
        """Steps from ``start`` to ``end``: ``steps - 1`` values apart, at least one step."""
        return max(self.steps - 1, 1)

    def value_at(self, step: int) -> float:
        """Temperature after ``step`` calls to :meth:`step` (pure)."""
        check_step("step", step)
        if step < self.warmup_steps:
            if self.warmup_start is None:
                return self.start
            return self.warmup_start + (self.start - self.warmup_start) * step / self.warmup_steps
        return anneal(
            self.schedule,
            step - self.warmup_steps,
            start=self.start,
            end=self.end,
            steps=self._span,
            values=self.values,
            step_size=self.step_size,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"position": self._position, "schedule": self.schedule}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        check_state_keys(state_dict, ("position",), type(self).__name__)
        saved = state_dict.get("schedule", self.schedule)
        if saved != self.schedule:
            raise ValueError(
                f"state_dict was saved from a {saved!r} schedule, "
                f"this scheduler is {self.schedule!r}"
            )
        super().load_state_dict(state_dict)
