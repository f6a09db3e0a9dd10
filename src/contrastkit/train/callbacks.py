"""Training-loop guards: non-finite steps, early stopping, overfitting detection.

Each is a small state machine with ``state_dict``/``load_state_dict`` so that a
resumed run continues with the same counters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_non_negative, check_positive_int


class NonFiniteError(RuntimeError):
    """Raised after too many consecutive non-finite training steps."""


class NonFiniteGuard:
    """Skip steps whose loss or gradients are NaN/Inf; stop after ``max_consecutive``.

    ``check`` returns ``True`` when the step may be taken. A skipped step counts in
    :attr:`skipped` and :attr:`consecutive`; a finite one resets :attr:`consecutive`.

    Skipped steps that never come ``max_consecutive`` in a row would go unnoticed:
    :meth:`warning` returns a message once, when ``warn_count`` steps have been skipped
    in all or, after ``warn_after`` steps, more than ``warn_share`` of them (defaults
    10, 100 and 1 %).
    """

    def __init__(
        self,
        max_consecutive: int = 10,
        *,
        warn_share: float = 0.01,
        warn_after: int = 100,
        warn_count: int = 10,
    ) -> None:
        self.max_consecutive = check_positive_int("max_consecutive", max_consecutive)
        self.warn_share = check_non_negative("warn_share", warn_share)
        self.warn_after = check_positive_int("warn_after", warn_after, allow_zero=True)
        self.warn_count = check_positive_int("warn_count", warn_count)
        self.skipped = 0
        self.consecutive = 0
        self.warned = False

    def check(
        self,
        loss: Tensor,
        parameters: Iterable[Tensor] | None = None,
        gradients: Iterable[Tensor] = (),
    ) -> bool:
        """``gradients``: gradient tensors held outside ``.grad`` (the sparse step's)."""
        finite = bool(torch.isfinite(loss.detach()).all())
        for held in gradients if finite else ():
            # a sum is finite iff every entry is (NaN and +-inf propagate), at a third
            # of the cost of isfinite(...).all() on the sparse step's [B, 1 + K, d]
            if not bool(torch.isfinite(held.sum())):
                finite = False
                break
        if finite and parameters is not None:
            for p in parameters:
                g = p.grad
                if g is None:
                    continue
                values = g.coalesce().values() if g.is_sparse else g
                if not bool(torch.isfinite(values).all()):
                    finite = False
                    break
        if finite:
            self.consecutive = 0
            return True
        self.skipped += 1
        self.consecutive += 1
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteError(
                f"training stopped: {self.consecutive} consecutive non-finite steps "
                f"(last loss={float(loss.detach().float().mean())}); lower optim.lr or set "
                "optim.grad_clip"
            )
        return False

    def warning(self, steps: int) -> str | None:
        """The one-time warning when the skipped steps pass the thresholds after
        ``steps`` steps in all (the skipped ones included), else ``None``."""
        if self.warned or self.skipped == 0:
            return None
        share = self.skipped / max(steps, 1)
        if self.skipped < self.warn_count and (steps < self.warn_after or share <= self.warn_share):
            return None
        self.warned = True
        return (
            f"{self.skipped} of {steps} training steps ({100 * share:.3g} %) were skipped "
            "because their loss or gradients were NaN/Inf; lower optim.lr or set "
            "optim.grad_clip"
        )

    def state_dict(self) -> dict[str, int]:
        return {
            "skipped": self.skipped,
            "consecutive": self.consecutive,
            "warned": int(self.warned),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.skipped = int(state["skipped"])
        self.consecutive = int(state["consecutive"])
        self.warned = bool(state.get("warned", 0))  # checkpoints from before the warning


class EarlyStopping:
    """Stop when the monitored metric has not improved by more than ``min_delta``
    for ``patience`` consecutive evaluations (``patience=0`` never stops)."""

    def __init__(
        self, patience: int, mode: Literal["max", "min"] = "max", min_delta: float = 0.0
    ) -> None:
        self.patience = check_positive_int("patience", patience, allow_zero=True)
        self.mode = check_choice("mode", mode, ("max", "min"))
        self.min_delta = check_non_negative("min_delta", min_delta)
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.improved = False

    def update(self, value: float, step: int | None = None) -> bool:
        """Record an evaluation; ``True`` means stop now."""
        v = float(value)
        if math.isnan(v):
            better = False
        elif self.best is None:
            better = True
        elif self.mode == "max":
            better = v > self.best + self.min_delta
        else:
            better = v < self.best - self.min_delta
        self.improved = better
        if better:
            self.best, self.best_step, self.bad_evals = v, step, 0
        else:
            self.bad_evals += 1
        return self.patience > 0 and self.bad_evals >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state["best"]
        self.best_step = state["best_step"]
        self.bad_evals = int(state["bad_evals"])


class OverfitTracker:
    """Flag overfitting: over the last ``window + 1`` evaluations the validation loss
    rose at every evaluation while the training loss fell at every evaluation."""

    def __init__(self, window: int = 3) -> None:
        self.window = check_positive_int("window", window)
        self.train: list[float] = []
        self.val: list[float] = []
        self.flagged = False

    def update(self, train_loss: float, val_loss: float) -> bool:
        self.train = [*self.train, float(train_loss)][-(self.window + 1) :]
        self.val = [*self.val, float(val_loss)][-(self.window + 1) :]
        if len(self.val) <= self.window:
            return False
        val_rising = all(b > a for a, b in zip(self.val, self.val[1:], strict=False))
        train_falling = all(b < a for a, b in zip(self.train, self.train[1:], strict=False))
        now = val_rising and train_falling
        self.flagged = self.flagged or now
        return now

    def state_dict(self) -> dict[str, Any]:
        return {"train": list(self.train), "val": list(self.val), "flagged": self.flagged}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.train = [float(v) for v in state["train"]]
        self.val = [float(v) for v in state["val"]]
        self.flagged = bool(state["flagged"])
