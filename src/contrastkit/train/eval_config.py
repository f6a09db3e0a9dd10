"""The ``eval`` and ``output`` sections of the train config: evaluations, the monitored
metric (its old names are aliases), and the run directory's checkpoints and report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contrastkit.typed_config import config_fail

# metric names before they said what they are measured on (configs written then load)
METRIC_ALIASES = {
    "map": "train/map",
    "mean_rank": "train/mean_rank",
    "link_map": "test/link_map",
    "link_mean_rank": "test/link_mean_rank",
    "auc": "test/auc",
    "ap": "test/ap",
    "probe_accuracy": "test/probe_accuracy",
    "alignment": "train/alignment",
    "uniformity": "embedding/uniformity",
}


RELATIONS_MONITOR = "train/map"


@dataclass
class EvalConfig:
    every_epochs: int = 10
    early_stopping_patience: int = 0  # evaluations without improvement; 0 disables
    # the metric early stopping and plateau curricula watch (the old names are aliases);
    # one the run's task does not report is a ConfigError (:func:`monitor_candidates`).
    # train/map is the relations default (and the packaged recipe's): a pairs or nodes
    # run left with it watches its own kind's default (:func:`default_monitor`) instead
    monitor: str = RELATIONS_MONITOR
    # how a ranking counts a negative tied with a relation: "optimistic" (gensim's, the
    # default), "average" (mid-rank) or "pessimistic"; logged with every evaluation
    ties: Literal["optimistic", "average", "pessimistic"] = "optimistic"
    # also evaluate before the first step (logged as step 0: the "before" numbers)
    at_start: bool = False

    def __post_init__(self) -> None:
        if self.every_epochs <= 0:
            config_fail("eval.every_epochs", f"must be > 0, got {self.every_epochs}")
        if self.early_stopping_patience < 0:
            config_fail(
                "eval.early_stopping_patience",
                f"must be >= 0 (0: off), got {self.early_stopping_patience}",
            )
        if not self.monitor.strip():
            config_fail("eval.monitor", "must name a metric, got ''")
        self.monitor = METRIC_ALIASES.get(self.monitor, self.monitor)

    @property
    def monitor_mode(self) -> Literal["max", "min"]:
        """Ranks and losses improve downwards; every other metric upwards."""
        return "min" if "rank" in self.monitor or "loss" in self.monitor else "max"


@dataclass
class OutputConfig:
    run_dir: str = "runs/default"
    checkpoint_every: int = 500  # steps; a checkpoint is also written at the end
    report: bool = True
    tensorboard: bool = False  # also log scalars to run_dir/tensorboard (needs tensorboard)

    def __post_init__(self) -> None:
        if not self.run_dir.strip():
            config_fail("output.run_dir", "must name a directory, got ''")
        if "\0" in self.run_dir:
            config_fail("output.run_dir", f"must not contain a NUL character, got {self.run_dir!r}")
        if self.checkpoint_every <= 0:
            config_fail(
                "output.checkpoint_every", f"must be > 0 steps, got {self.checkpoint_every}"
            )
