"""``eval`` and ``output`` settings act as they claim through the trainer:
``early_stopping_patience`` stops a run after that many evaluations without
improvement (0 never), ``every_epochs`` and ``at_start`` say when the run evaluates,
``checkpoint_every`` when it checkpoints (steps), ``report`` whether it writes one.

(scripts/config_settings.py found no test of these effects through a run.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config

# SGD at a rate too small to change any ranking: train/map never improves on its first
# value, so early stopping sees an evaluation without improvement every epoch
FROZEN = ("optim.name=sgd", "optim.lr=1e-12", "eval.every_epochs=1", "loop.epochs=8")


@pytest.mark.parametrize(("patience", "epochs_run"), [(0, 8), (2, 3), (4, 5)])
def test_early_stopping_patience_stops_after_that_many_flat_evaluations(
    tmp_path: Path, patience: int, epochs_run: int
) -> None:
    trainer = Trainer(
        karate_mlp_config(tmp_path, *FROZEN, f"eval.early_stopping_patience={patience}")
    )
    trainer.fit()
    # the first evaluation sets the best; each later one is a flat one
    assert trainer.epoch == epochs_run
    assert trainer.stopped_early == (patience > 0)


def _eval_steps(tmp_path: Path, *extra: str) -> tuple[list[int], int]:
    trainer = train(karate_mlp_config(tmp_path, "loop.epochs=4", *extra))
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if r["kind"] == "eval"], trainer.batches_per_epoch


@pytest.mark.parametrize(
    ("every", "at_start", "epochs"),
    [(1, False, [1, 2, 3, 4]), (3, False, [3, 4]), (2, True, [0, 2, 4])],
)
def test_every_epochs_and_at_start_say_when_the_run_evaluates(
    tmp_path: Path, every: int, at_start: bool, epochs: list[int]
) -> None:
    steps, per_epoch = _eval_steps(
        tmp_path, f"eval.every_epochs={every}", f"eval.at_start={str(at_start).lower()}"
    )
    assert steps == [e * per_epoch for e in epochs]  # the last epoch always evaluates


def test_checkpoint_every_counts_steps(tmp_path: Path) -> None:
    trainer = Trainer(karate_mlp_config(tmp_path, "loop.epochs=3", "output.checkpoint_every=4"))
    saved: list[int] = []
    trainer.fit(checkpoint=lambda t: saved.append(t.step))
    assert trainer.step == 9  # 3 epochs of 3 batches
    assert saved == [4, 8]


def test_report_writes_the_report_only_when_asked(tmp_path: Path) -> None:
    train(karate_mlp_config(tmp_path / "off", "loop.epochs=1", "output.report=false"))
    assert not (tmp_path / "off" / "run" / "report.html").exists()
    train(karate_mlp_config(tmp_path / "on", "loop.epochs=1", "output.report=true"))
    assert (tmp_path / "on" / "run" / "report.html").stat().st_size > 0
