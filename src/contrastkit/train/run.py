"""A run directory: config, metrics, checkpoints, snapshots, final metrics, report.

```
run_dir/
  config.yaml          the resolved config (what --resume reads back)
  metrics.jsonl        one JSON record per training step and evaluation
  checkpoints/last.pt  everything needed to continue (atomic, weights_only)
  snapshots/           arrays for the report
  final_metrics.json   the last evaluation
  report.html, plots/  the report
```

Under data parallelism (``torchrun``) every rank trains and only rank 0 writes the
run directory (its checkpoint holds every rank's RNG state); the others read it.

Every file is written to a temporary name and renamed; a run killed in between
leaves ``.<name>.tmp-<pid>`` behind, removed when the run starts again or resumes.
Resuming a run that is already finished (its checkpoint at ``loop.epochs``, or
stopped early) says so and changes nothing.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from contrastkit.dist.collectives import barrier
from contrastkit.dist.env import init_from_env
from contrastkit.train.checkpoint import (
    CheckpointError,
    atomic_write_text,
    checkpoint_path,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from contrastkit.train.config import TrainConfig, dump_config
from contrastkit.train.progress import MetricsWriter, truncate_metrics
from contrastkit.train.trainer import Trainer

#: the folders of a run directory whose files are written atomically
ATOMIC_FOLDERS = (".", "checkpoints", "snapshots", "plots")


def save_trainer(trainer: Trainer) -> Path:
    """Write ``trainer``'s checkpoint (under DDP: every rank calls it, rank 0 writes)."""
    state = trainer.state_dict()  # a collective under DDP: every rank's RNG states
    path = checkpoint_path(trainer.run_dir)
    return save_checkpoint(path, {"trainer": state}) if trainer.is_main else path


def remove_stale_files(run_dir: Path) -> list[Path]:
    """The temporaries that killed writers left in ``run_dir`` (its checkpoints,
    snapshots, plots and top-level files), removed; never a final file."""
    removed: list[Path] = []
    for folder in ATOMIC_FOLDERS:
        removed += remove_stale_temporaries(run_dir / folder)
    return removed


def _fresh_run_dir(run_dir: Path) -> None:
    """Start a run in ``run_dir``, clearing what an earlier run left there."""
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_files(run_dir)
    for name in ("metrics.jsonl", "final_metrics.json", "report.html"):
        (run_dir / name).unlink(missing_ok=True)
    for name in ("checkpoints", "snapshots", "plots", "tensorboard"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def is_finished(trainer: Trainer) -> bool:
    """Whether ``trainer`` has nothing left to train: at ``loop.epochs`` or stopped
    early (a run stopped by its time budget is not finished: more time continues it)."""
    return trainer.epoch >= trainer.config.loop.epochs or trainer.stopped_early


def _write_final(
    trainer: Trainer, metrics: dict[str, float], *, missing_only: bool = False
) -> None:
    """``final_metrics.json`` and the report (when the config asks for one); with
    ``missing_only``, only those that do not exist yet."""
    run_dir, config = trainer.run_dir, trainer.config
    final = run_dir / "final_metrics.json"
    if not (missing_only and final.is_file()):
        atomic_write_text(final, json.dumps(metrics, indent=2) + "\n")
    if config.output.report and not (missing_only and (run_dir / "report.html").is_file()):
        from contrastkit.report.build import build_report

        build_report(run_dir)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    on_evaluate: Callable[[Trainer, dict[str, float]], None] | None = None,
) -> Trainer:
    """Run (or continue, with ``resume``) the training described by ``config``;
    ``on_evaluate(trainer, metrics)`` is called after every evaluation (an exception
    it raises, e.g. Optuna's ``TrialPruned``, ends the run there).

    With ``resume``, a finished run (:func:`is_finished`) prints one line on stderr and
    is returned as its checkpoint left it: nothing is evaluated or rewritten (a
    ``final_metrics.json`` that a kill kept from being written is written from the
    checkpoint, and so is a missing report). A run resumed says from where on stderr.
    """
    run_dir = Path(config.output.run_dir)
    # several processes (torchrun, Ray, Spark): join their group (one: nothing happens);
    # gloo, since the trainer computes on the CPU whatever the machine has
    init_from_env(config.distributed.timeout_s, backend="gloo")
    trainer = Trainer(config, run_dir)
    main = trainer.is_main
    if on_evaluate is not None:
        trainer.evaluation_hooks.append(on_evaluate)
    if resume:
        if main:
            remove_stale_files(run_dir)
        ckpt = checkpoint_path(run_dir)
        if not ckpt.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint at {str(ckpt)!r}")
        state = load_checkpoint(ckpt)
        if "trainer" not in state:
            raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no trainer state")
        trainer.load_state_dict(state["trainer"], source=ckpt)
        where = f"step {trainer.step} (epoch {trainer.epoch})"
        if is_finished(trainer):
            if main:
                print(
                    f"contrastkit: run {str(run_dir)!r} is already finished at {where}; "
                    "nothing to resume",
                    file=sys.stderr,
                )
                # a kill after the last checkpoint may have kept these from being written
                _write_final(trainer, trainer.final_metrics, missing_only=True)
            return trainer
        if main:
            print(f"contrastkit: resuming {str(run_dir)!r} from {where}", file=sys.stderr)
            truncate_metrics(run_dir / "metrics.jsonl", trainer.step)
    elif main:
        _fresh_run_dir(run_dir)
    if not main:
        metrics = trainer.fit(None, checkpoint=save_trainer)
        save_trainer(trainer)
        barrier()  # rank 0's final files are written when every rank returns
        return trainer
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    tensorboard = run_dir / "tensorboard" if config.output.tensorboard else None
    with MetricsWriter(run_dir / "metrics.jsonl", tensorboard_dir=tensorboard) as writer:
        metrics = trainer.fit(writer, checkpoint=save_trainer)
    save_trainer(trainer)
    _write_final(trainer, metrics)
    barrier()
    return trainer
