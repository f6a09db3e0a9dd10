"""The loss sections of the train config: the objectives' hyper-parameters
(``objective``), their temperature / curriculum / weight schedules (``schedule``) and how
their losses are combined (``combiner``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from contrastkit.typed_config import config_fail


@dataclass
class ObjectiveConfig:
    """Per-objective hyper-parameters; which objectives run is ``TrainConfig.objectives``."""

    distance: Literal["cosine", "dot", "sqeuclidean", "euclidean", "poincare"] = "cosine"
    temperature: float = 0.1
    margin: float = 0.2
    norm_target: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            config_fail("objective.temperature", f"must be > 0, got {self.temperature}")
        if self.margin < 0:
            config_fail("objective.margin", f"must be >= 0, got {self.margin}")
        if self.norm_target < 0:
            config_fail("objective.norm_target", f"must be >= 0, got {self.norm_target}")


@dataclass
class ScheduleConfig:
    """Temperature annealing and the optional curriculum over negative difficulty."""

    temperature: Literal["constant", "linear", "exponential", "cosine"] = "constant"
    temperature_end: float = 1.0
    curriculum: Literal["none", "default", "linear"] = "none"
    curriculum_stages: int = 3
    # > 0: also advance when eval.monitor has not improved for this many evaluations
    curriculum_patience: int = 0
    # loss weights over epochs: "constant" (objectives' weights) or "warmup" (linear from
    # loss_weights_initial to the objectives' weights over loss_weights_warmup epochs)
    loss_weights: Literal["constant", "warmup"] = "constant"
    loss_weights_initial: dict[str, float] = field(default_factory=dict)
    loss_weights_warmup: int = 10

    def __post_init__(self) -> None:
        if self.temperature_end <= 0:
            config_fail("schedule.temperature_end", f"must be > 0, got {self.temperature_end}")
        if self.curriculum_stages <= 0:
            config_fail("schedule.curriculum_stages", f"must be > 0, got {self.curriculum_stages}")
        if self.curriculum_patience < 0:
            config_fail(
                "schedule.curriculum_patience",
                f"must be >= 0 (0: off), got {self.curriculum_patience}",
            )
        if self.loss_weights_warmup <= 0:
            config_fail(
                "schedule.loss_weights_warmup",
                f"must be > 0 epochs, got {self.loss_weights_warmup}",
            )
        for name, weight in self.loss_weights_initial.items():
            if weight < 0:
                config_fail(f"schedule.loss_weights_initial.{name}", f"must be >= 0, got {weight}")


@dataclass
class CombinerConfig:
    # pcgrad: fixed weights, with conflicting per-objective gradients projected (Yu et al.)
    method: Literal["fixed", "magnitude", "uncertainty", "gradnorm", "pcgrad"] = "fixed"
    momentum: float = 0.9  # magnitude: EMA factor of the loss magnitudes
    init_log_var: float = 0.0  # uncertainty: initial log-variance of every objective
    alpha: float = 1.5  # gradnorm: restoring force (Chen et al. 2018: 0.12-3)
    lr: float = 0.025  # gradnorm: learning rate of its weights (its own Adam)
    min_weight: float = 1e-3  # gradnorm: floor of a weight (a warning when one sits there)

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            config_fail("combiner.momentum", f"must be in [0, 1), got {self.momentum}")
        if self.alpha < 0:
            config_fail("combiner.alpha", f"must be >= 0, got {self.alpha}")
        if self.lr <= 0:
            config_fail("combiner.lr", f"must be > 0, got {self.lr}")
        if self.min_weight <= 0:
            config_fail("combiner.min_weight", f"must be > 0, got {self.min_weight}")
