"""A continual run directory: ``contrastkit train`` with ``continual.enabled: true``.

```
run_dir/
  config.yaml          the resolved config (what --resume reads back)
  metrics.jsonl        train records (loss, per task) and one eval record per task (R row)
  checkpoints/last.pt  learner state: rows, optimiser, buffer, EWC, stream position, R
  continual.json       tasks, R matrix, baseline b, ACC / BWT / FWT / forgetting
  final_metrics.json   ACC / BWT / FWT / forgetting
  report.html, plots/  the report (with the R-matrix heatmap)
```

Files are written to temporary names and renamed (:mod:`contrastkit.train.checkpoint`).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from contrastkit.continual.learner import ContinualLearner
from contrastkit.train.checkpoint import (
    CheckpointError,
    atomic_write_text,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from contrastkit.train.config import TrainConfig, dump_config
from contrastkit.train.progress import MetricsWriter, truncate_metrics

__all__ = ["CONTINUAL_FILE", "train_continual"]

#: the R matrix and its metrics, beside final_metrics.json
CONTINUAL_FILE = "continual.json"


def _save(learner: ContinualLearner, run_dir: Path) -> None:
    save_checkpoint(checkpoint_path(run_dir), {"continual": learner.state_dict()})


def _json(values: dict[str, object]) -> str:
    # NaN (BWT of one task, FWT without a baseline) as null: strict JSON
    def clean(v: object) -> object:
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps({k: clean(v) for k, v in values.items()}, indent=2) + "\n"


def train_continual(config: TrainConfig, *, resume: bool = False) -> ContinualLearner:
    """Run (or, with ``resume``, continue from its checkpoint) the stream of ``config``."""
    run_dir = Path(config.output.run_dir)
    learner = ContinualLearner(config)
    if resume:
        ckpt = checkpoint_path(run_dir)
        if not ckpt.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint at {str(ckpt)!r}")
        state = load_checkpoint(ckpt)
        if "continual" not in state:
            raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no continual learner state")
        try:
            learner.load_state_dict(state["continual"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"checkpoint {str(ckpt)!r} does not fit this run: {exc}"
            ) from None
        print(
            f"contrastkit: resuming {str(run_dir)!r} at task {learner.task}, step {learner.step}",
            file=sys.stderr,
        )
        truncate_metrics(run_dir / "metrics.jsonl", learner.step)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.jsonl", "final_metrics.json", CONTINUAL_FILE, "report.html"):
            (run_dir / name).unlink(missing_ok=True)
        for name in ("checkpoints", "plots"):
            shutil.rmtree(run_dir / name, ignore_errors=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    with MetricsWriter(run_dir / "metrics.jsonl") as writer:
        metrics = learner.fit(writer.write, checkpoint=lambda lr: _save(lr, run_dir))
    _save(learner, run_dir)
    atomic_write_text(run_dir / CONTINUAL_FILE, _json(learner.summary()))
    atomic_write_text(run_dir / "final_metrics.json", _json(dict(metrics)))
    if config.output.report:
        from contrastkit.report.build import build_report

        build_report(run_dir)
    return learner
