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
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from contrastkit.train.checkpoint import (
    CheckpointError,
    atomic_write_text,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from contrastkit.train.config import TrainConfig, dump_config
from contrastkit.train.progress import MetricsWriter, truncate_metrics
from contrastkit.train.trainer import Trainer


def save_trainer(trainer: Trainer) -> Path:
    return save_checkpoint(checkpoint_path(trainer.run_dir), {"trainer": trainer.state_dict()})


def _fresh_run_dir(run_dir: Path) -> None:
    """Start a run in ``run_dir``, clearing what an earlier run left there."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.jsonl", "final_metrics.json", "report.html"):
        (run_dir / name).unlink(missing_ok=True)
    for name in ("checkpoints", "snapshots", "plots", "tensorboard"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def train(config: TrainConfig, *, resume: bool = False) -> Trainer:
    """Run (or continue, with ``resume``) the training described by ``config``."""
    run_dir = Path(config.output.run_dir)
    trainer = Trainer(config, run_dir)
    if resume:
        ckpt = checkpoint_path(run_dir)
        if not ckpt.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint at {str(ckpt)!r}")
        state = load_checkpoint(ckpt)
        if "trainer" not in state:
            raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no trainer state")
        trainer.load_state_dict(state["trainer"])
        truncate_metrics(run_dir / "metrics.jsonl", trainer.step)
    else:
        _fresh_run_dir(run_dir)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    tensorboard = run_dir / "tensorboard" if config.output.tensorboard else None
    with MetricsWriter(run_dir / "metrics.jsonl", tensorboard_dir=tensorboard) as writer:
        metrics = trainer.fit(writer, checkpoint=save_trainer)
    save_trainer(trainer)
    atomic_write_text(run_dir / "final_metrics.json", json.dumps(metrics, indent=2) + "\n")
    if config.output.report:
        from contrastkit.report.build import build_report

        build_report(run_dir)
    return trainer
