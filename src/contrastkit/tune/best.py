"""``contrastkit tune best``: the best trial's full config, as a config to train.

The config is the one the trial trained (its ``config`` user attribute: every key
resolved, the trial's seed ``seed + number`` included), with a run directory of its
own (``<study_dir>/best`` unless given: the trial's is left alone) and the progress
bar and report the study's config asked for (trials run without them). Training it
with ``contrastkit train --config`` reproduces the trial's value in deterministic
mode (``loop.deterministic``, the default).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from contrastkit.tune.study import StudySettings
from contrastkit.typed_config import ConfigError, from_dict, load_yaml

if TYPE_CHECKING:
    import optuna


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The best completed trial; a :class:`ConfigError` when none completed."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        counts = len(study.get_trials(deepcopy=False))
        raise ConfigError(f"study {study.study_name!r} has no completed trial ({counts} trials)")
    return study.best_trial


def best_config_text(
    study: optuna.Study, settings: StudySettings, run_dir: str | Path | None = None
) -> str:
    """YAML of the best trial's config, trained in ``run_dir`` (default
    ``<study_dir>/best``), with a header naming the study, trial and value."""
    from contrastkit.train.config import TrainConfig, dump_config

    trial = best_trial(study)
    text = trial.user_attrs.get("config")
    if not isinstance(text, str):
        raise ConfigError(f"trial {trial.number} of {study.study_name!r} holds no config")
    config = from_dict(TrainConfig, load_yaml(text))
    base = settings.train_config()
    default_dir = Path(settings.study_dir) / "best"
    config.output.run_dir = str(run_dir if run_dir is not None else default_dir)
    config.output.report = base.output.report
    config.loop.progress = base.loop.progress
    monitor = config.eval.monitor
    header = (
        f"# the best trial of study {study.study_name!r}: trial {trial.number}, "
        f"{monitor} = {trial.value!r}\n"
        f"# params: {dict(trial.params)}\n"
        f"# its run: {trial.user_attrs.get('run_dir', '?')}\n"
    )
    return header + dump_config(config)
