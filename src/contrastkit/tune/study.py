"""A study: created once with its settings, then loaded by every worker.

:func:`create_study` writes the study's settings (the config with its search block,
sampler, pruner, seed, study directory, heartbeat) into the study's user attributes,
once: a second creation of the same name is refused unless its settings are the same
(then the study is continued). Workers (:func:`load_study`) read the settings back
from the storage, so that every worker of a study runs the same config whatever
host it is on, and no worker ever creates a study: many processes creating one study
at once can corrupt an RDB storage (optuna#5385).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from contrastkit.tune.monitor import check_monitor
from contrastkit.tune.space import SearchParam, check_search, grid_size, grid_space, is_grid
from contrastkit.typed_config import ConfigError, from_dict

if TYPE_CHECKING:
    import optuna

    from contrastkit.train.config import TrainConfig

SETTINGS_ATTR = "contrastkit"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class StudySettings:
    """What every worker of a study needs: ``config`` the resolved train config (with
    its ``search`` block) as a plain mapping; ``study_dir`` absolute (trial run
    directories go under it)."""

    config: dict[str, Any]
    sampler: str
    pruner: str
    seed: int
    study_dir: str
    heartbeat_s: float

    def train_config(self) -> TrainConfig:
        from contrastkit.train.config import TrainConfig

        return from_dict(TrainConfig, self.config)

    def params(self) -> list[SearchParam]:
        return check_search(self.train_config())

    def grid_size(self) -> int | None:
        """The grid's number of points (``sampler`` ``grid``), else ``None``."""
        return grid_size(self.params()) if self.sampler == "grid" else None

    def to_attr(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_attr(cls, text: Any, where: str) -> StudySettings:
        try:
            return cls(**json.loads(str(text)))
        except (TypeError, ValueError):
            raise ConfigError(f"{where} was not created by contrastkit tune") from None


def make_settings(
    config: TrainConfig,
    *,
    sampler: str,
    pruner: str,
    seed: int,
    study_dir: Path,
    heartbeat_s: float,
) -> StudySettings:
    """Settings checked before any trial: a non-empty search block, a grid sampler
    only over ``choice`` keys, the pruner and sampler names, and ``eval.monitor``
    among the metrics the run reports (:func:`~.monitor.check_monitor`)."""
    from contrastkit.typed_config import to_dict

    params = check_search(config)
    if not params:
        raise ConfigError("the config has no search block: nothing to tune (see README, Tuning)")
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {list(PRUNERS)}, got {pruner!r}")
    if sampler == "grid" and not is_grid(params):
        ranged = next(p for p in params if p.kind != "choice")
        raise ConfigError(
            f"--sampler grid needs every search key to be a choice; search.{ranged.key} "
            f"is a {ranged.kind} range"
        )
    if heartbeat_s <= 0:
        raise ConfigError(f"--heartbeat must be > 0 seconds, got {heartbeat_s}")
    check_monitor(config)
    return StudySettings(
        config=to_dict(config),
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        study_dir=str(study_dir.absolute()),
        heartbeat_s=float(heartbeat_s),
    )


def direction(config: TrainConfig) -> Literal["maximize", "minimize"]:
    """``maximize`` or ``minimize``: the monitor's mode (ranks and losses fall)."""
    return "maximize" if config.eval.monitor_mode == "max" else "minimize"


def make_sampler(settings: StudySettings, worker_index: int) -> optuna.samplers.BaseSampler:
    """The sampler of one worker: TPE and random workers of a study draw with different
    seeds (``seed + worker_index``), else parallel random start-ups would repeat each
    other; grid workers share the study's seed (the grid's order)."""
    import optuna

    if settings.sampler == "grid":
        # one seed for every worker: GridSampler shuffles its points by the seed and
        # gives trial n the n-th, so workers with other seeds would repeat points
        return optuna.samplers.GridSampler(grid_space(settings.params()), seed=settings.seed)
    seed = settings.seed + worker_index
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: a running trial counts as a poor result, so that parallel workers
    # do not all propose the same promising point
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(settings: StudySettings) -> optuna.pruners.BasePruner:
    """Median (Optuna's defaults: 5 start-up trials), Hyperband over epochs
    (``eval.every_epochs`` .. ``loop.epochs``), or none."""
    import optuna

    if settings.pruner == "median":
        return optuna.pruners.MedianPruner()
    if settings.pruner == "hyperband":
        config = settings.train_config()
        return optuna.pruners.HyperbandPruner(
            min_resource=config.eval.every_epochs, max_resource=config.loop.epochs
        )
    return optuna.pruners.NopPruner()


def worker_index_from_pid() -> int:
    """A worker index for a worker started on its own (``tune worker``): distinct per
    host and process, so that its sampler's seed differs from the other workers'."""
    import os
    import socket

    return zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 100_000 + 1


def create_study(storage: Any, name: str, settings: StudySettings) -> optuna.Study:
    """Create the study ``name`` with ``settings``, once; an existing study of that name
    is loaded when its settings are the same, else refused (naming what differs)."""
    import optuna

    config = settings.train_config()
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction(config))
    except optuna.exceptions.DuplicatedStudyError:
        study, existing = load_study(storage, name)
        if existing != settings:
            changed = [k for k in asdict(settings) if asdict(settings)[k] != asdict(existing)[k]]
            raise ConfigError(
                f"study {name!r} exists with other settings ({', '.join(changed)}); "
                "give another --study-name, or run `contrastkit tune worker` to add trials"
            ) from None
        return study
    study.set_user_attr(SETTINGS_ATTR, settings.to_attr())
    return study


def load_study(
    storage: Any, name: str, worker_index: int = 0
) -> tuple[optuna.Study, StudySettings]:
    """The study ``name`` (never created here) with its sampler and pruner."""
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = optuna.get_all_study_names(storage)
        raise ConfigError(
            f"no study {name!r} in the storage (studies: {', '.join(known) or 'none'}); "
            "create it with `contrastkit tune init`"
        ) from None
    if SETTINGS_ATTR not in study.user_attrs:
        raise ConfigError(f"study {name!r} was not created by contrastkit tune")
    settings = StudySettings.from_attr(study.user_attrs[SETTINGS_ATTR], f"study {name!r}")
    study.sampler = make_sampler(settings, worker_index)
    study.pruner = make_pruner(settings)
    return study, settings


def only_study_name(storage: Any) -> str:
    """The one study in ``storage`` (when ``--study-name`` is not given)."""
    import optuna

    names = optuna.get_all_study_names(storage)
    if len(names) != 1:
        listed = ", ".join(names) or "none"
        raise ConfigError(f"the storage holds {len(names)} studies ({listed}); give --study-name")
    return str(names[0])
