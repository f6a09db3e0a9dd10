"""One trial: the study's config with the trial's values, trained in this process.

Trial ``n`` trains with ``loop.seed = seed + n`` in ``<study_dir>/trial_<n>``; its
user attributes hold that run directory, the full resolved config (YAML: what
``contrastkit tune best`` writes out) and the worker (``host:pid``). The monitored
metric (``eval.monitor``) is reported to Optuna at every evaluation, at its epoch, and
the trial stops there when the pruner says so; the trial's value is the final
evaluation's. A metric the run never reports is an error at the first evaluation (a
pruner fed nothing never fires, optuna-integration#183): it stops the worker. A run
that diverges (too many NaN steps) or collapses is a FAILED trial with the reason
in its ``failure`` attribute, and the study goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from contrastkit.tune.space import suggest, with_values
from contrastkit.tune.storage import worker_tag
from contrastkit.tune.study import StudySettings
from contrastkit.typed_config import ConfigError

if TYPE_CHECKING:
    import optuna

    from contrastkit.train.config import TrainConfig
    from contrastkit.train.trainer import Trainer


def trial_dir(settings: StudySettings, number: int) -> Path:
    return Path(settings.study_dir) / f"trial_{number:04d}"


def trial_config(settings: StudySettings, values: dict[str, Any], number: int) -> TrainConfig:
    """The config trial ``number`` trains: the study's with ``values``, its own seed and
    run directory, no progress bar and no report (``tune best`` restores both)."""
    fixed = {
        "loop.seed": settings.seed + number,
        "output.run_dir": str(trial_dir(settings, number)),
        "loop.progress": False,
        "output.report": False,
    }
    return with_values(settings.train_config(), values, fixed)


class GridPointTaken(RuntimeError):
    """A grid trial past the grid's end: its point has been (or is being) run already."""


class Objective:
    """Optuna's objective of a contrastkit study (``study.optimize(Objective(...))``)."""

    def __init__(self, settings: StudySettings) -> None:
        self.settings = settings
        self.params = settings.params()
        self.grid_size = settings.grid_size()

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from contrastkit.eval.collapse import CollapsedEmbeddingError
        from contrastkit.train.callbacks import NonFiniteError
        from contrastkit.train.config import dump_config
        from contrastkit.train.run import train

        trial.set_user_attr("worker", worker_tag())
        if self.grid_size is not None and trial.number >= self.grid_size and not _fixed(trial):
            # GridSampler gives trial n < size the point n; later trials (after a
            # retried one, or a worker racing past the end) would repeat a point
            trial.study.stop()
            trial.set_user_attr("failure", "grid exhausted: every point is taken")
            raise GridPointTaken(f"trial {trial.number}: every grid point is taken")
        config = trial_config(self.settings, suggest(trial, self.params), trial.number)
        trial.set_user_attr("run_dir", config.output.run_dir)
        trial.set_user_attr("config", dump_config(config))
        monitor = config.eval.monitor

        def report(trainer: Trainer, metrics: dict[str, float]) -> None:
            if monitor not in metrics:
                raise ConfigError(
                    f"eval.monitor {monitor!r} is not among the metrics trial {trial.number} "
                    f"reports ({', '.join(sorted(metrics))}); the pruner would never see it"
                )
            value = float(metrics[monitor])
            trial.report(value, trainer.epoch)
            if trial.should_prune():
                trial.set_user_attr("pruned_at_epoch", trainer.epoch)
                raise optuna.TrialPruned(f"{monitor}={value:.6g} at epoch {trainer.epoch}")

        try:
            trainer = train(config, on_evaluate=report)
        except (NonFiniteError, CollapsedEmbeddingError) as exc:
            trial.set_user_attr("failure", str(exc).splitlines()[0])
            raise
        trial.set_user_attr("final_metrics", dict(trainer.final_metrics))
        return float(trainer.final_metrics[monitor])


def _fixed(trial: optuna.Trial) -> bool:
    """Whether ``trial`` came with its values (enqueued, or a retry of a killed one)."""
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    return "fixed_params" in frozen.system_attrs


def trial_failures() -> tuple[type[Exception], ...]:
    """The exceptions that fail one trial and let the worker go on."""
    from contrastkit.eval.collapse import CollapsedEmbeddingError
    from contrastkit.train.callbacks import NonFiniteError

    return (NonFiniteError, CollapsedEmbeddingError, GridPointTaken)
