"""Loss-weight schedules keyed by objective name (any number of objectives).

Each objective :math:`i` has its own curve :math:`\\lambda_i(t)`; the scheduler
returns ``{name: λ_i(t)}`` for the current epoch or step and feeds it to
:meth:`contrastkit.losses.combine.LossCombiner.set_priorities`. Two constructors
cover the original design:

* :meth:`LossWeightScheduler.linear_warmup` — linear interpolation from initial to
  target weights over a warm-up, then the targets:
  :math:`\\lambda_i(t) = \\lambda_i^0 + (\\lambda_i^* - \\lambda_i^0)\\min(t/W, 1)`.
* :meth:`LossWeightScheduler.staged` — reconstruction decaying
  (:math:`e^{-t/50}`), contrastive ramping 0.1 → 1 over 10 epochs then flat, task
  held at 0.1 until epoch 50 and ramped to 1 over the next 50.

Objectives without a curve get ``default`` (1.0, as in the original design); with
``default=None`` asking for an unknown name raises.

Example:
    >>> from contrastkit.schedules.loss_weights import LossWeightScheduler
    >>> s = LossWeightScheduler.linear_warmup({"infonce": 0.1, "recon": 1.0},
    ...                                       {"infonce": 1.0, "recon": 0.1}, warmup_steps=10)
    >>> s.step(5)
    {'infonce': 0.55, 'recon': 0.55}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contrastkit._validation import check_non_negative, check_positive_int
from contrastkit.schedules.base import Scheduler, check_state_keys, check_step
from contrastkit.schedules.functions import ExponentialDecay, Plateau, RampUp

WeightCurve = Callable[[int], float]


def check_weights(name: str, weights: Mapping[str, float]) -> dict[str, float]:
    """A non-empty mapping ``str -> finite float >= 0``; raises naming ``name``."""
    if not isinstance(weights, Mapping):
        raise TypeError(
            f"{name} must be a mapping of objective name to weight, got {type(weights).__name__}"
        )
    if len(weights) == 0:
        raise ValueError(f"{name} must name at least one objective, got an empty mapping")
    out: dict[str, float] = {}
    for key, w in weights.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be objective names (str), got {key!r}")
        out[key] = check_non_negative(f"{name}[{key!r}]", w)
    return out


class LossWeightScheduler(Scheduler[dict[str, float]]):
    """Per-objective weight curves evaluated at an integer step.

    Args:
        schedules: ``{name: curve}`` where a curve is a float (constant weight), one of
            :class:`~contrastkit.schedules.functions.ExponentialDecay`, :class:`RampUp`,
            :class:`Plateau`, or any callable ``int -> float >= 0``.
        default: weight of objectives without a curve (>= 0, default 1.0); ``None``
            makes :meth:`weight` raise for unknown names.

    Raises:
        ValueError: naming ``schedules`` for an empty mapping or a negative constant,
            and naming the objective when a callable returns a negative weight.
    """

    def __init__(
        self, schedules: Mapping[str, float | WeightCurve], *, default: float | None = 1.0
    ) -> None:
        super().__init__()
        if not isinstance(schedules, Mapping) or len(schedules) == 0:
            raise ValueError(
                f"schedules must be a non-empty mapping of name to curve, got {schedules!r}"
            )
        self.curves: dict[str, WeightCurve] = {}
        for name, curve in schedules.items():
            if isinstance(curve, (int, float)) and not isinstance(curve, bool):
                self.curves[name] = Plateau(check_non_negative(f"schedules[{name!r}]", curve))
            elif callable(curve):
                self.curves[name] = curve
            else:
                raise TypeError(
                    f"schedules[{name!r}] must be a number or a callable, got {curve!r}"
                )
        self.default = None if default is None else check_non_negative("default", default)

    @classmethod
    def linear_warmup(
        cls, initial: Mapping[str, float], target: Mapping[str, float], warmup_steps: int
    ) -> LossWeightScheduler:
        """Interpolate each weight linearly from ``initial`` to ``target`` over ``warmup_steps``."""
        init = check_weights("initial", initial)
        tgt = check_weights("target", target)
        if set(init) != set(tgt):
            raise ValueError(
                f"target must name the same objectives as initial: {sorted(init)} vs {sorted(tgt)}"
            )
        check_positive_int("warmup_steps", warmup_steps)
        return cls({k: RampUp(start=init[k], end=tgt[k], duration=warmup_steps) for k in init})

    @classmethod
    def staged(cls, *, task_start: int = 50) -> LossWeightScheduler:
        """The original design's example: reconstruction decays, contrastive ramps up, task late.

        ``reconstruction``: :math:`e^{-t/50}`; ``contrastive``: 0.1 → 1.0 over 10
        epochs then 1.0; ``task``: 0.1 until ``task_start`` then 0.1 → 1.0 over 50
        epochs. Other objectives weigh 1.0.
        """
        return cls(
            {
                "reconstruction": ExponentialDecay(initial=1.0, decay_steps=50.0),
                "contrastive": RampUp(start=0.1, end=1.0, begin=0, duration=10),
                "task": RampUp(start=0.1, end=1.0, begin=task_start, duration=50),
            }
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Objectives with an explicit curve."""
        return tuple(self.curves)

    def weight(self, name: str, step: int | None = None) -> float:
        """Weight of one objective at ``step`` (default: the current position)."""
        t = self._position if step is None else check_step("step", step)
        curve = self.curves.get(name)
        if curve is None:
            if self.default is None:
                raise ValueError(
                    f"name {name!r} has no weight schedule; known: {list(self.curves)}"
                )
            return self.default
        return check_non_negative(f"weight of {name!r} at step {t}", float(curve(t)))

    def value_at(self, step: int) -> dict[str, float]:
        """``{name: weight}`` for every objective with a curve, at ``step`` (pure)."""
        check_step("step", step)
        return {name: self.weight(name, step) for name in self.curves}

    def state_dict(self) -> dict[str, Any]:
        return {"position": self._position, "names": list(self.curves)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        check_state_keys(state_dict, ("position",), type(self).__name__)
        saved = list(state_dict.get("names", self.curves))
        if saved != list(self.curves):
            raise ValueError(
                f"state_dict names {saved} do not match this scheduler's {list(self.curves)}"
            )
        super().load_state_dict(state_dict)
