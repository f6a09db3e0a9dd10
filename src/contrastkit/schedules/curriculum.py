"""Stage-based curriculum over temperature, negatives, loss weights and difficulty.

A curriculum is a list of :class:`CurriculumStage`; the scheduler moves through them
by epochs (``step()`` once per epoch), by samples seen (``step(batch_size)``), and
optionally early when a watched validation metric plateaus (no improvement larger
than ``min_delta`` for ``patience`` observations), which gives dynamic difficulty.
Without plateau advances the stage at position :math:`t` is the first :math:`k` with

.. math::

    t < \\sum_{j \\le k} D_j \\quad (\\text{else the last stage}),

which is what the pure :meth:`CurriculumScheduler.value_at` returns. Samples beyond a
stage's duration carry into the next stage. Items are admitted by
:meth:`~CurriculumScheduler.should_include` (difficulty <= the stage threshold) or
drawn by :meth:`~CurriculumScheduler.sample` (see
:mod:`contrastkit.schedules.difficulty`). Bengio et al., "Curriculum Learning", 2009.

Example:
    >>> from contrastkit.schedules.curriculum import CurriculumScheduler
    >>> cur = CurriculumScheduler.default()
    >>> cur.temperature, cur.num_negatives
    (0.5, 5)
    >>> for _ in range(10):
    ...     _ = cur.step()
    >>> cur.stage.name, cur.temperature
    ('Medium', 0.3)
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_non_negative, check_positive_int
from contrastkit.schedules.base import Scheduler, check_state_keys, check_step
from contrastkit.schedules.difficulty import difficulty_weights, sample_by_difficulty
from contrastkit.schedules.stage import CurriculumStage, default_stages, linear_stages

CurriculumUnit = Literal["epochs", "samples"]


class CurriculumScheduler(Scheduler[CurriculumStage]):
    """Move through ``stages`` by epochs or samples, and optionally on a metric plateau.

    Args:
        stages: one or more :class:`CurriculumStage` (durations in ``unit``).
        unit: ``"epochs"`` (default) or ``"samples"``; only documents what ``step(n)`` counts.
        patience: advance when the metric passed to :meth:`step`/:meth:`observe` has not
            improved for this many observations; ``None`` (default) disables it.
        mode: ``"min"`` (default, e.g. a loss) or ``"max"`` (e.g. recall@k).
        min_delta: improvements smaller than this do not count (>= 0, default 0).
    """

    def __init__(
        self,
        stages: Sequence[CurriculumStage],
        *,
        unit: CurriculumUnit = "epochs",
        patience: int | None = None,
        mode: Literal["min", "max"] = "min",
        min_delta: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence) or len(stages) == 0:
            raise ValueError(
                f"stages must be a non-empty sequence of CurriculumStage, got {stages!r}"
            )
        for i, s in enumerate(stages):
            if not isinstance(s, CurriculumStage):
                raise TypeError(f"stages[{i}] must be a CurriculumStage, got {type(s).__name__}")
        self.stages: tuple[CurriculumStage, ...] = tuple(stages)
        self.unit: CurriculumUnit = check_choice("unit", unit, ("epochs", "samples"))
        self.patience = None if patience is None else check_positive_int("patience", patience)
        self.mode: Literal["min", "max"] = check_choice("mode", mode, ("min", "max"))
        self.min_delta = check_non_negative("min_delta", min_delta)
        self._ends = list(itertools.accumulate(s.duration for s in self.stages))
        self._stage = 0
        self._progress = 0
        self._best: float | None = None
        self._num_bad = 0

    @classmethod
    def default(cls, **kwargs: Any) -> CurriculumScheduler:
        """The original design's Easy (10 epochs) / Medium (20) / Hard (30) curriculum."""
        return cls(default_stages(), unit="epochs", **kwargs)

    @classmethod
    def linear(
        cls,
        num_stages: int,
        samples_per_stage: int,
        k_start: int,
        k_end: int,
        temp_start: float,
        temp_end: float,
        **kwargs: Any,
    ) -> CurriculumScheduler:
        """Evenly spaced stages by samples; negatives and temperature interpolated linearly."""
        stages = linear_stages(num_stages, samples_per_stage, k_start, k_end, temp_start, temp_end)
        return cls(stages, unit="samples", **kwargs)

    def value_at(self, step: int) -> CurriculumStage:
        """Stage at cumulative position ``step`` by durations alone (pure; ignores plateaus)."""
        check_step("step", step)
        return self.stages[min(bisect.bisect_right(self._ends, step), len(self.stages) - 1)]

    @property
    def value(self) -> CurriculumStage:
        return self.stages[self._stage]

    stage = value

    @property
    def stage_index(self) -> int:
        return self._stage

    @property
    def progress_in_stage(self) -> int:
        """Units consumed in the current stage."""
        return self._progress

    @property
    def is_last_stage(self) -> bool:
        return self._stage == len(self.stages) - 1

    @property
    def temperature(self) -> float:
        return self.stages[self._stage].temperature

    @property
    def num_negatives(self) -> int:
        return self.stages[self._stage].num_negatives

    @property
    def loss_weights(self) -> dict[str, float]:
        return dict(self.stages[self._stage].loss_weights)

    @property
    def difficulty_threshold(self) -> float:
        return self.stages[self._stage].difficulty_threshold

    def _advance(self) -> None:
        self._stage += 1
        self._progress = 0
        self._best, self._num_bad = None, 0

    def step(self, n: int = 1, *, metric: float | None = None) -> CurriculumStage:
        """Consume ``n`` epochs or samples (e.g. ``step(batch_size)``), then observe ``metric``."""
        super().step(n)
        self._progress += n
        while not self.is_last_stage and self._progress >= self.stages[self._stage].duration:
            carry = self._progress - self.stages[self._stage].duration
            self._advance()
            self._progress = carry
        if metric is not None:
            self.observe(metric)
        return self.stage

    def observe(self, metric: float) -> bool:
        """Record a validation metric; advance (and return True) when it has plateaued."""
        if self.patience is None:
            raise ValueError(
                "metric was given but patience is None: set patience to watch a metric"
            )
        if isinstance(metric, Tensor):
            metric = float(metric)
        m = (
            float(metric)
            if isinstance(metric, (int, float)) and not isinstance(metric, bool)
            else None
        )
        if m is None or m != m:
            raise ValueError(f"metric must be a finite number, got {metric!r}")
        better = self._best is None or (
            m < self._best - self.min_delta
            if self.mode == "min"
            else m > self._best + self.min_delta
        )
        if better:
            self._best, self._num_bad = m, 0
            return False
        self._num_bad += 1
        if self._num_bad >= self.patience and not self.is_last_stage:
            self._advance()
            return True
        return False

    def should_include(self, difficulty: float | Tensor) -> bool | Tensor:
        """``difficulty <= threshold`` of the current stage (bool, or BoolTensor for a tensor)."""
        if isinstance(difficulty, Tensor):
            return difficulty <= self.difficulty_threshold
        if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)):
            raise TypeError(f"difficulty must be a number or a tensor, got {difficulty!r}")
        return float(difficulty) <= self.difficulty_threshold

    def sampling_weights(self, difficulty: Tensor, softness: float = 0.0) -> Tensor:
        """``[N]`` weights of items under the current stage's threshold."""
        return difficulty_weights(difficulty, self.difficulty_threshold, softness)

    def sample(
        self,
        difficulty: Tensor,
        num_samples: int,
        *,
        generator: torch.Generator,
        softness: float = 0.0,
        replacement: bool = True,
    ) -> Tensor:
        """Draw ``num_samples`` item indices, weighted by difficulty under the current stage."""
        return sample_by_difficulty(
            difficulty,
            num_samples,
            self.difficulty_threshold,
            softness=softness,
            replacement=replacement,
            generator=generator,
        )

    def reset(self) -> None:
        super().reset()
        self._stage, self._progress, self._best, self._num_bad = 0, 0, None, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self._position,
            "stage": self._stage,
            "progress": self._progress,
            "best": self._best,
            "num_bad": self._num_bad,
            "num_stages": len(self.stages),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        check_state_keys(
            state_dict, ("position", "stage", "progress", "num_bad"), type(self).__name__
        )
        stage = check_step("state_dict['stage']", state_dict["stage"])
        if stage >= len(self.stages) or state_dict.get("num_stages", len(self.stages)) != len(
            self.stages
        ):
            raise ValueError(
                f"state_dict has stage {stage} of {state_dict.get('num_stages')} stages, "
                f"this curriculum has {len(self.stages)}"
            )
        super().load_state_dict(state_dict)
        self._stage = stage
        self._progress = check_step("state_dict['progress']", state_dict["progress"])
        best = state_dict.get("best")
        self._best = None if best is None else float(best)
        self._num_bad = check_step("state_dict['num_bad']", state_dict["num_bad"])
