"""The monitored metric of a study, checked before its first trial.

A pruner fed a name the run never reports never fires (optuna-integration#183), so
``eval.monitor`` is checked against what an evaluation of the config's run actually
reports: its trainer is built and the untrained embedding evaluated once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contrastkit.typed_config import ConfigError

if TYPE_CHECKING:
    from contrastkit.train.config import TrainConfig


def reported_metrics(config: TrainConfig) -> set[str] | None:
    """The names an evaluation of ``config``'s run reports, found by building its
    trainer and evaluating the untrained embedding once (``None`` when that embedding
    is refused as collapsed: then only the config's own check stands)."""
    import tempfile

    from contrastkit.eval.collapse import CollapsedEmbeddingError
    from contrastkit.train.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, tmp)
        try:
            names = set(trainer.evaluate())
        except CollapsedEmbeddingError:
            return None
    # what Trainer._evaluate adds to the task's metrics
    losses = ["train_loss"] + (["val_loss"] if trainer.val_batch is not None else [])
    names |= {"skipped_nonfinite_steps", *losses}
    names |= {f"{loss}/{name}" for loss in losses for name in config.objectives}
    return names


def check_monitor(config: TrainConfig) -> None:
    """``eval.monitor`` must be among the metrics the run reports (before any trial:
    a pruner fed nothing never fires); a :class:`ConfigError` with a "did you mean"."""
    import difflib

    names = reported_metrics(config)
    monitor = config.eval.monitor
    if names is None or monitor in names:
        return
    close = difflib.get_close_matches(monitor, sorted(names), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ConfigError(
        f"eval.monitor {monitor!r} is not among the metrics this run reports{hint}; "
        f"it reports: {', '.join(sorted(names))}"
    )
