"""What each ``contrastkit`` sub-command does (argument parsing lives in :mod:`cli`):
``train``, ``eval``, ``report`` and ``tune`` here, ``export`` in :mod:`.cli_export`,
``mine`` in :mod:`.cli_mine`, their shared checks in :mod:`.cli_common`."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from contrastkit.cli_common import (
    _file_above,
    _run_dir,
    _trained,
    check_directory_target,
    check_file_target,
    held_warnings,
    print_metrics,
)
from contrastkit.cli_export import EXPORT_SUFFIXES, cmd_export, meta_path
from contrastkit.cli_mine import cmd_mine
from contrastkit.train import DEFAULT_RECIPE, TrainConfig, load_config
from contrastkit.typed_config import ConfigError

# the names this module held before the export, mine and shared helpers had their own
__all__ = [
    "COMMANDS",
    "EXPORT_SUFFIXES",
    "check_directory_target",
    "check_file_target",
    "cmd_eval",
    "cmd_export",
    "cmd_mine",
    "cmd_report",
    "cmd_train",
    "cmd_tune",
    "held_warnings",
    "meta_path",
    "print_metrics",
    "run_command",
]

# what np.load raises for a truncated, foreign or pickled file
_NUMPY_LOAD_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def cmd_train(args: argparse.Namespace) -> int:
    from contrastkit.train import resume_config, train

    with held_warnings():
        if args.resume:
            if args.config:
                raise ConfigError("--resume reads RUN_DIR/config.yaml; do not pass --config too")
            check_directory_target(args.resume, "--resume")
            config: TrainConfig = resume_config(Path(args.resume), args.overrides)
        else:
            # no --config: the packaged default recipe (the mammal closure), not the
            # neutral TrainConfig() defaults
            config = load_config(args.config or DEFAULT_RECIPE, args.overrides)
        # before any training: a run directory that cannot be one is a one-line error
        check_directory_target(
            config.output.run_dir, "--run-dir" if args.run_dir else "output.run_dir"
        )
    single_process_only(config)
    if config.task.kind == "fewshot":  # meta-learning runs its own loop (contrastkit.meta)
        from contrastkit.meta.run import train_fewshot

        run = train_fewshot(config, resume=bool(args.resume))
        print_metrics(run.final_metrics)
        print(f"run directory: {run.run_dir}")
        return 0
    if config.continual.enabled:  # a task stream, learned online (contrastkit.continual)
        from contrastkit.continual.run import train_continual

        learner = train_continual(config, resume=bool(args.resume))
        print_metrics(learner.final_metrics, f"continual metrics ({config.continual.metric})")
        print(f"run directory: {config.output.run_dir}")
        return 0
    if config.search:
        print(
            f"contrastkit: the config's search: block ({len(config.search)} keys) is for "
            "`contrastkit tune`; training the config's own values",
            file=sys.stderr,
        )
    from contrastkit.dist import shutdown

    try:
        trainer = train(config, resume=bool(args.resume))
    finally:
        shutdown()  # the process group train() joined under torchrun (none otherwise)
    if not trainer.is_main:  # under torchrun: rank 0 prints
        return 0
    title = f"final metrics (ties: {trainer.ties})" if trainer.ranks_relations else "final metrics"
    print_metrics(trainer.final_metrics, title)
    print(f"run directory: {trainer.run_dir}")
    return 0


def single_process_only(config: TrainConfig) -> None:
    """A ConfigError (exit 2, one line) when a few-shot or continual run is launched on
    several processes: their loops (``contrastkit.meta``, ``contrastkit.continual``) have
    no data-parallel form, and each rank would train the whole job into one run
    directory. Checked before anything is built or written."""
    if config.task.kind == "fewshot":
        what = "task.kind 'fewshot' (meta-learning)"
    elif config.continual.enabled:
        what = "continual.enabled (a task stream learned online)"
    else:
        return
    from contrastkit.dist.env import env_from_variables

    world = env_from_variables().world_size
    if world > 1:
        raise ConfigError(
            f"{what} runs in one process, not data-parallel, but WORLD_SIZE is {world} "
            "(torchrun): run it without torchrun, as `contrastkit train --config ...`"
        )


def _load_embeddings(path: str) -> torch.Tensor:
    source = Path(path)
    if source.suffix not in (".npy", ".npz"):
        raise ConfigError(f"--embeddings must be a .npy or .npz file, got {path!r}")
    if source.is_dir():
        raise ConfigError(f"--embeddings {path!r} is a directory, not a .npy/.npz file")
    if not source.is_file():
        raise FileNotFoundError(f"--embeddings {path!r} does not exist")
    try:
        if source.suffix == ".npz":
            with np.load(source, allow_pickle=False) as data:
                if "embeddings" not in data:
                    raise ConfigError(f"--embeddings {path!r} has no 'embeddings' array")
                array = data["embeddings"]
        else:
            array = np.load(source, allow_pickle=False)
    except ConfigError:
        raise
    except _NUMPY_LOAD_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"--embeddings {path!r} is not a readable {source.suffix} file "
            f"(truncated or not numpy's): {reason}"
        ) from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise ConfigError(
            f"--embeddings must hold a float [N, d] array, got {array.dtype} {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ConfigError(f"--embeddings {path!r} holds NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(array))


def cmd_eval(args: argparse.Namespace) -> int:
    from contrastkit.functional.distances import get_distance
    from contrastkit.train import DataConfig, FixedEmbedding, build_task, evaluate_task
    from contrastkit.typed_config import from_dict

    if (args.run_dir is None) == (args.embeddings is None):
        raise ConfigError("give either RUN_DIR or --embeddings FILE (with --dataset)")
    if args.run_dir is not None:
        trainer = _trained(_run_dir(args.run_dir))
        title = f"evaluation (ties: {trainer.ties})" if trainer.ranks_relations else "evaluation"
        print_metrics(trainer.evaluate(), title)
        return 0
    else:
        data = from_dict(DataConfig, {"name": args.dataset, "path": args.data_path})
        task = build_task(data)
        z = _load_embeddings(args.embeddings)
        if z.shape[0] != task.num_nodes:
            raise ConfigError(
                f"--embeddings has {z.shape[0]} rows but dataset {args.dataset!r} has "
                f"{task.num_nodes} nodes"
            )
        encoder, distance = FixedEmbedding(z), get_distance(args.distance)
    print_metrics(evaluate_task(task, encoder, distance), "evaluation")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from contrastkit.report.build import build_report

    if args.out is not None:
        above = _file_above(Path(args.out))
        if above is not None:
            raise ConfigError(f"--out {args.out!r} lies under the file {str(above)!r}")
    if args.max_points <= 0:
        raise ConfigError(f"--max-points must be > 0, got {args.max_points}")
    run_dirs = args.run_dir if isinstance(args.run_dir, list) else [args.run_dir]
    if len(run_dirs) > 1:
        from contrastkit.report.compare import compare_runs

        dirs = [_run_dir(d) for d in run_dirs]
        path = compare_runs(dirs, args.out if args.out is not None else "compare.html")
        print(f"comparison: {path}")
        return 0
    path = build_report(
        _run_dir(run_dirs[0]), args.out, projection=args.projection, max_points=args.max_points
    )
    print(f"report: {path}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "report": cmd_report,
    "export": cmd_export,
    "mine": cmd_mine,
}


def cmd_tune(args: argparse.Namespace) -> int:
    from contrastkit.tune.cli import run_tune

    return run_tune(args)


def run_command(args: argparse.Namespace) -> int:
    if args.command == "train":
        # training's own warnings are shown as they come; cmd_train holds the setup's
        result = cmd_train(args)
    elif args.command == "tune":  # trials train: their warnings as they come too
        result = cmd_tune(args)
    else:
        with held_warnings():
            result = COMMANDS[args.command](args)
    sys.stdout.flush()
    return result
