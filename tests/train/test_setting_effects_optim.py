"""``optim.warmup_steps``, ``optim.lr_schedule``, ``optim.grad_clip``,
``burn_in.lr_scale`` and ``sparse.max_row_step`` act through the trainer as they claim:
the learning rate of every step is the brute-force burn-in, warm-up then decay formula,
a clipped SGD step moves the parameters by exactly ``lr * grad_clip``, and the sparse
table step moves no row further than ``max_row_step``.

(scripts/config_settings.py found no test of these through a training run.)"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config

LR = 0.01


def _lrs(trainer: Trainer) -> list[float]:
    """The learning rate each step of the run trains with."""
    used = []
    for _ in range(trainer.config.loop.epochs * trainer.batches_per_epoch):
        used.append(float(trainer.schedules.optimizer.param_groups[0]["lr"]))
        trainer.train_step(torch.arange(64))
        trainer.step += 1
    return used


def _reference(schedule: str, warmup: int, total: int) -> list[float]:
    """Linear warm-up over ``warmup`` steps, then ``schedule`` over the rest."""
    out = []
    for s in range(total):
        if s < warmup:
            out.append(LR * (s + 1) / warmup)
            continue
        p = (s - warmup) / max(total - warmup, 1)
        decay = {"constant": 1.0, "linear": 1.0 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p))}
        out.append(LR * decay[schedule])
    return out


@pytest.mark.parametrize(
    ("schedule", "warmup"), [("constant", 0), ("constant", 4), ("linear", 2), ("cosine", 3)]
)
def test_the_lr_of_every_step_is_the_warmup_then_schedule_formula(
    tmp_path: Path, schedule: str, warmup: int
) -> None:
    config = karate_mlp_config(
        tmp_path, "loop.epochs=3", f"optim.warmup_steps={warmup}", f"optim.lr_schedule={schedule}"
    )
    trainer = Trainer(config)
    total = 3 * trainer.batches_per_epoch
    assert total >= 9  # room for the warm-up and the decay
    used = _lrs(trainer)
    assert used == pytest.approx(_reference(schedule, warmup, total), rel=1e-9)
    if schedule != "constant" or warmup:
        assert len(set(used)) > 2  # the setting changed the rate (the default keeps it)


def _sgd_step_size(tmp_path: Path, *extra: str) -> float:
    """The norm of one SGD step's parameter change (the same batch and negatives)."""
    trainer = Trainer(karate_mlp_config(tmp_path, "optim.name=sgd", f"optim.lr={LR}", *extra))
    params = trainer.step_fn.parameters
    before = [p.detach().clone() for p in params]
    trainer.train_step(torch.arange(64))
    return float(
        torch.cat([(p.detach() - b).flatten() for p, b in zip(params, before, strict=True)]).norm()
    )


def test_grad_clip_bounds_the_step_to_lr_times_the_clip(tmp_path: Path) -> None:
    free = _sgd_step_size(tmp_path / "free")
    clip = 1e-3
    clipped = _sgd_step_size(tmp_path / "clip", f"optim.grad_clip={clip}")
    assert free > 10 * LR * clip  # the gradient's norm is far above the clip
    # SGD: the step is lr * the gradient, whose total norm torch's clip set to `clip`
    assert clipped == pytest.approx(LR * clip, rel=1e-2)  # float32 rounding of the change
    loose = _sgd_step_size(tmp_path / "loose", f"optim.grad_clip={1e6}")
    assert loose == pytest.approx(free, rel=1e-6)  # a clip above the norm changes nothing


def test_burn_in_lr_scale_scales_the_burn_in_epochs_lr(tmp_path: Path) -> None:
    config = karate_mlp_config(
        tmp_path,
        "loop.epochs=2",
        "optim.lr_schedule=constant",  # the recipe's is cosine
        "burn_in.epochs=1",
        "burn_in.lr_scale=0.1",
    )
    trainer = Trainer(config)
    per_epoch = trainer.batches_per_epoch
    assert _lrs(trainer) == pytest.approx([LR * 0.1] * per_epoch + [LR] * per_epoch, rel=1e-9)


def _largest_row_move(tmp_path: Path, cap: float) -> float:
    """The longest row update of one sparse table step over every karate relation."""
    config = load_config(
        None,
        [
            "objective.distance=sqeuclidean",
            "optim.name=sgd",
            "optim.lr=1.0",
            "sparse.step=always",
            f"sparse.max_row_step={cap}",
            "output.report=false",
            "loop.progress=false",
            f"output.run_dir={tmp_path / 'run'}",
        ],
    )
    trainer = Trainer(config)
    assert trainer.sparse
    encoder: Any = trainer.encoder
    weight = encoder.table.weight
    before = weight.detach().clone()
    trainer.train_step(torch.arange(trainer.task.num_examples()))
    return float((weight.detach() - before).norm(dim=1).max())


def test_max_row_step_caps_each_rows_update(tmp_path: Path) -> None:
    free = _largest_row_move(tmp_path / "free", 0.0)
    cap = free / 3
    assert _largest_row_move(tmp_path / "cap", cap) == pytest.approx(cap, rel=1e-4)
