"""One curriculum stage and the two stage presets of the original design.

A stage fixes, for its duration, the InfoNCE temperature :math:`\\tau`, the number of
mined negatives :math:`K`, the loss weights :math:`\\lambda_i` and the difficulty
threshold :math:`\\theta` under which items are admitted.

Presets:

* :func:`default_stages` — Easy (10 epochs, τ 0.5, K 5, θ 0.3), Medium (20, 0.3, 10,
  0.5), Hard (30, 0.1, 20, 0.7), weights infonce 1.0 and local / spectral /
  reconstruction 0.5 / 0.1 / 0.5 → 0.3 / 0.05 / 0.3 → 0.1 / 0.01 / 0.1.
* :func:`linear_stages` — ``num_stages`` stages of ``samples_per_stage`` samples,
  :math:`K_i` and :math:`\\tau_i` interpolated linearly between the end points,
  :math:`\\theta_i = (i + 1) / n`.

Example:
    >>> from contrastkit.schedules.stage import linear_stages
    >>> [s.num_negatives for s in linear_stages(3, 1000, 5, 20, 1.0, 0.1)]
    [5, 12, 20]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contrastkit._validation import check_non_negative, check_positive, check_positive_int


@dataclass(frozen=True)
class CurriculumStage:
    """Settings held for one stage.

    Args:
        name: a label for logs.
        duration: length in the scheduler's unit (epochs or samples, > 0).
        temperature: contrastive temperature (> 0).
        num_negatives: negatives per anchor (> 0).
        loss_weights: ``{objective: weight >= 0}``; may be empty (weights unchanged).
        difficulty_threshold: items with difficulty <= this are admitted. Default 1.0.
    """

    name: str
    duration: int
    temperature: float
    num_negatives: int
    loss_weights: Mapping[str, float] = field(default_factory=dict)
    difficulty_threshold: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {self.name!r}")
        check_positive_int("duration", self.duration)
        check_positive("temperature", self.temperature)
        check_positive_int("num_negatives", self.num_negatives)
        if not isinstance(self.loss_weights, Mapping):
            raise TypeError(
                f"loss_weights must be a mapping, got {type(self.loss_weights).__name__}"
            )
        for key, w in self.loss_weights.items():
            check_non_negative(f"loss_weights[{key!r}]", w)
        t = self.difficulty_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t != t:
            raise ValueError(f"difficulty_threshold must be a number, got {t!r}")
        # Frozen, so the mapping is copied once to keep later edits by the caller out.
        object.__setattr__(
            self, "loss_weights", {k: float(v) for k, v in self.loss_weights.items()}
        )


def default_stages() -> list[CurriculumStage]:
    """Easy / Medium / Hard, 10 / 20 / 30 epochs (the original design's default curriculum)."""

    def weights(local: float, spectral: float, reconstruction: float) -> dict[str, float]:
        return {
            "infonce": 1.0,
            "local": local,
            "spectral": spectral,
            "feature_reconstruction": reconstruction,
        }

    return [
        CurriculumStage("Easy", 10, 0.5, 5, weights(0.5, 0.1, 0.5), 0.3),
        CurriculumStage("Medium", 20, 0.3, 10, weights(0.3, 0.05, 0.3), 0.5),
        CurriculumStage("Hard", 30, 0.1, 20, weights(0.1, 0.01, 0.1), 0.7),
    ]


def linear_stages(
    num_stages: int,
    samples_per_stage: int,
    k_start: int,
    k_end: int,
    temp_start: float,
    temp_end: float,
) -> list[CurriculumStage]:
    """Stages named ``stage_0 ...`` with linearly interpolated negatives and temperature.

    Negatives are rounded to the nearest integer; one stage uses the start values.
    """
    check_positive_int("num_stages", num_stages)
    check_positive_int("samples_per_stage", samples_per_stage)
    check_positive_int("k_start", k_start)
    check_positive_int("k_end", k_end)
    check_positive("temp_start", temp_start)
    check_positive("temp_end", temp_end)
    stages = []
    for i in range(num_stages):
        p = i / (num_stages - 1) if num_stages > 1 else 0.0
        stages.append(
            CurriculumStage(
                name=f"stage_{i}",
                duration=samples_per_stage,
                temperature=temp_start + (temp_end - temp_start) * p,
                num_negatives=round(k_start + (k_end - k_start) * p),
                difficulty_threshold=(i + 1) / num_stages,
            )
        )
    return stages
