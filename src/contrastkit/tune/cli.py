"""``contrastkit tune [run|init|worker|best|report]``: the command line of a study.

* ``tune --config X --trials N`` (``run``): create the study (or continue it, when one
  of that name exists with the same settings), run N trials in this process, or over
  ``--workers W`` worker processes, then write ``<study_dir>/study_report.html``;
* ``tune init``: only create the study (before workers on many hosts start);
* ``tune worker --storage URL --study-name S --trials N``: run N trials of an existing
  study (what each host runs; ``--workers`` starts these);
* ``tune best --out best.yaml``: the best trial's config, to ``contrastkit train``;
* ``tune report``: the study's HTML report.

The study directory is ``--dir``, else the config's ``output.run_dir``; the study's
name is ``--study-name``, else the config file's stem; the storage ``--storage``,
else ``<study_dir>/study.db`` (SQLite) for one worker and ``study.journal`` for more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from contrastkit.typed_config import ConfigError

ACTIONS = ("run", "init", "worker", "best", "report")
#: flags that set a study's settings: given only where a study is created
STUDY_FLAGS = ("sampler", "pruner", "seed", "heartbeat")


def add_tune_parser(sub: argparse._SubParsersAction, finite_float: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="hyper-parameter search over a config's search: block (Optuna)",
        description="Search the config's `search:` block with Optuna: each trial trains "
        "in-process, reports eval.monitor at every evaluation and is pruned there when the "
        "pruner says so. Actions: run (default), init, worker, best, report.",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=ACTIONS,
        help="run (default): create or continue the study and run --trials; init: only "
        "create it; worker: run --trials of an existing study; best: write the best "
        "trial's config to --out; report: write the study's HTML report",
    )
    p.add_argument("--config", help="YAML train config with a search: block")
    p.add_argument("--trials", type=int, help="trials to run (over all --workers)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--storage",
        help="sqlite:///FILE.db (one worker), journal:FILE.journal (workers on one host), "
        "postgresql://USER@HOST/DB (many hosts); default in the study directory",
    )
    p.add_argument("--study-name", help="default: the config file's name without .yaml")
    p.add_argument("--dir", help="study directory (default: the config's output.run_dir)")
    p.add_argument("--sampler", choices=["tpe", "random", "grid"], help="default tpe")
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], help="default median")
    p.add_argument("--timeout", type=finite_float, help="stop starting trials after S seconds")
    p.add_argument("--seed", type=int, help="sampler seed; trial n trains with seed + n")
    p.add_argument(
        "--heartbeat",
        type=finite_float,
        help="PostgreSQL: seconds between a trial's heartbeats (default 60); a trial "
        "silent for twice that is failed and retried by the next worker to start",
    )
    p.add_argument("--worker-index", type=int, help="worker: offsets its sampler's seed")
    p.add_argument("--out", help="best: the YAML to write; report: the HTML file")
    p.add_argument("--run-dir", help="best: output.run_dir of the config written")


def _check_args(args: argparse.Namespace) -> None:
    from contrastkit.train.config import MAX_SEED

    action = args.action
    if action not in ("run", "init"):
        given = [f"--{f}" for f in STUDY_FLAGS if getattr(args, f) is not None]
        if given:
            raise ConfigError(
                f"{', '.join(given)}: set when the study is created (tune run/init), "
                f"not by tune {action}"
            )
    if action in ("run", "init") and not args.config:
        raise ConfigError(f"tune {action} needs --config (a train config with a search: block)")
    if action in ("run", "worker"):
        if args.trials is None:
            raise ConfigError(f"tune {action} needs --trials N")
        if args.trials <= 0:
            raise ConfigError(f"--trials must be > 0, got {args.trials}")
    if args.workers <= 0:
        raise ConfigError(f"--workers must be > 0, got {args.workers}")
    if args.workers > 1 and action not in ("run", "init"):
        raise ConfigError(f"--workers starts workers for tune run; tune {action} is one process")
    if args.timeout is not None and args.timeout <= 0:
        raise ConfigError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.seed is not None and not 0 <= args.seed < MAX_SEED:
        raise ConfigError(f"--seed must be in [0, 2**31), got {args.seed}")
    if action == "best" and not args.out:
        raise ConfigError("tune best needs --out FILE.yaml")


class _Place:
    """Where the study is: its directory, storage and name, from the flags."""

    def __init__(self, args: argparse.Namespace) -> None:
        from contrastkit.train.config import load_config
        from contrastkit.tune.storage import (
            check_workers,
            default_storage,
            existing_default_storage,
            parse_storage,
        )

        self.config = load_config(args.config) if args.config else None
        if args.dir:
            self.study_dir: Path | None = Path(args.dir)
        elif self.config is not None:
            self.study_dir = Path(self.config.output.run_dir)
        else:
            self.study_dir = None
        if args.storage:
            self.spec = parse_storage(args.storage)
        elif self.study_dir is None:
            raise ConfigError(f"tune {args.action} needs --storage, --config or --dir")
        elif args.action in ("run", "init"):
            self.spec = default_storage(self.study_dir, args.workers)
        else:
            self.spec = existing_default_storage(self.study_dir)
        check_workers(self.spec, args.workers)
        self.name: str | None = args.study_name or (Path(args.config).stem if args.config else None)

    def study_name(self, storage: Any) -> str:
        from contrastkit.tune.study import only_study_name

        return self.name if self.name is not None else only_study_name(storage)


def _create(args: argparse.Namespace, place: _Place) -> tuple[Any, str]:
    """Create (or continue) the study of ``--config``; returns (storage, name)."""
    from contrastkit.tune.storage import DEFAULT_HEARTBEAT_S, open_storage
    from contrastkit.tune.study import create_study, make_settings

    if place.config is None or place.study_dir is None or place.name is None:
        raise RuntimeError("creating a study needs --config (its study directory and name)")
    settings = make_settings(
        place.config,
        sampler=args.sampler or "tpe",
        pruner=args.pruner or "median",
        seed=0 if args.seed is None else args.seed,
        study_dir=place.study_dir,
        heartbeat_s=DEFAULT_HEARTBEAT_S if args.heartbeat is None else args.heartbeat,
    )
    storage = open_storage(place.spec, settings.heartbeat_s)
    create_study(storage, place.name, settings)
    return storage, place.name


def _grid_cap(study: Any, grid: int | None, trials: int) -> int:
    if grid is None:
        return trials
    left = max(0, grid - len(study.get_trials(deepcopy=False)))
    if left < trials:
        print(
            f"contrastkit: the grid has {grid} points and the study {left} left: "
            f"running {left} trials, not {trials}",
            file=sys.stderr,
        )
    return min(trials, left)


def _summary(study: Any, settings: Any) -> None:
    from collections import Counter

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"study {study.study_name!r}: {len(trials)} trials ({states or 'none'})")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        monitor = settings.train_config().eval.monitor
        print(f"best trial {best.number}: {monitor} = {best.value:.6g}  {best.params}")
        print(f"best run directory: {best.user_attrs.get('run_dir', '?')}")


def _run(args: argparse.Namespace, place: _Place) -> int:
    from contrastkit.tune.report import build_study_report
    from contrastkit.tune.study import load_study
    from contrastkit.tune.worker import launch_workers, run_worker, share_trials

    storage, name = _create(args, place)
    study, settings = load_study(storage, name)
    trials = _grid_cap(study, settings.grid_size(), args.trials)
    status = 0
    if trials and args.workers == 1:
        study = run_worker(place.spec, name, trials=trials, timeout=args.timeout)
    elif trials:
        codes = launch_workers(place.spec, name, share_trials(trials, args.workers), args.timeout)
        failed = [i for i, code in enumerate(codes) if code != 0]
        if failed:
            print(f"contrastkit: worker(s) {failed} exited with {codes}", file=sys.stderr)
            status = 1
        study, settings = load_study(storage, name)
    _summary(study, settings)
    report = build_study_report(study, settings, Path(settings.study_dir) / "study_report.html")
    print(f"study report: {report}")
    print(f"storage: {place.spec.describe()}  study: {name}")
    return status


def run_tune(args: argparse.Namespace) -> int:
    """``contrastkit tune``; bad input raises :class:`ConfigError` (exit 2)."""
    from contrastkit.tune.best import best_config_text, best_trial
    from contrastkit.tune.report import build_study_report
    from contrastkit.tune.storage import open_storage
    from contrastkit.tune.study import load_study, worker_index_from_pid
    from contrastkit.tune.worker import run_worker

    _check_args(args)
    place = _Place(args)
    if args.action == "run":
        return _run(args, place)
    if args.action == "init":
        _, name = _create(args, place)
        print(f"study {name!r} ready in {place.spec.describe()}")
        return 0
    storage = open_storage(place.spec)
    name = place.study_name(storage)
    if args.action == "worker":
        index = args.worker_index if args.worker_index is not None else worker_index_from_pid()
        study = run_worker(
            place.spec, name, trials=args.trials, timeout=args.timeout, worker_index=index
        )
        _summary(study, load_study(storage, name)[1])
        return 0
    study, settings = load_study(storage, name)
    if args.action == "best":
        from contrastkit.train.checkpoint import atomic_write_text

        text = best_config_text(study, settings, args.run_dir)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
        trial = best_trial(study)
        print(f"best trial {trial.number} ({trial.value!r}) written to {out}")
        return 0
    out = Path(args.out) if args.out else Path(settings.study_dir) / "study_report.html"
    print(f"study report: {build_study_report(study, settings, out)}")
    return 0
