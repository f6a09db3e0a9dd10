"""Common base of every step-indexed scheduler: a pure ``value_at(step)`` plus a counter.

A scheduler is a pure function of an integer position (an optimisation step, an
epoch or a number of samples seen) wrapped around one piece of mutable state, the
current position. Keeping the function pure means a resumed run, a plot of the
schedule and a unit test all read the same numbers; keeping the state to one
integer makes :meth:`Scheduler.state_dict` trivially restorable.

Example:
    >>> from contrastkit.schedules.temperature import TemperatureScheduler
    >>> s = TemperatureScheduler("linear", start=1.0, end=0.1, steps=11)
    >>> s.value_at(5), s.step(5)
    (0.55, 0.55)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

V = TypeVar("V")


def check_step(name: str, value: object) -> int:
    """A non-negative Python ``int`` position (``bool`` rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_state_keys(state: Mapping[str, Any], keys: tuple[str, ...], owner: str) -> None:
    """Raise a ``ValueError`` naming ``state_dict`` when a saved state lacks a key."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state).__name__}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"state_dict for {owner} is missing keys {missing}")


class Scheduler(ABC, Generic[V]):
    """Base class: ``value_at`` is pure, ``step`` advances the position.

    Subclasses implement :meth:`value_at`; :attr:`value` reads it at the current
    position. The position starts at ``0`` and is the only state saved by
    :meth:`state_dict` (subclasses with more state extend both methods).
    """

    def __init__(self) -> None:
        self._position = 0

    @abstractmethod
    def value_at(self, step: int) -> V:
        """The scheduled value at position ``step`` (pure, no side effects)."""

    @property
    def position(self) -> int:
        """How many units (steps, epochs or samples) have been consumed so far."""
        return self._position

    @property
    def value(self) -> V:
        """The value at the current position."""
        return self.value_at(self._position)

    def step(self, n: int = 1) -> V:
        """Advance the position by ``n`` (default 1) and return the new value."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__} {n!r}")
        if n <= 0:
            raise ValueError(f"n must be > 0, got {n}")
        self._position += n
        return self.value

    def reset(self) -> None:
        """Return to position 0."""
        self._position = 0

    def state_dict(self) -> dict[str, Any]:
        """Plain ints only, so it loads with ``torch.load(weights_only=True)``."""
        return {"position": self._position}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        check_state_keys(state_dict, ("position",), type(self).__name__)
        self._position = check_step("state_dict['position']", state_dict["position"])
