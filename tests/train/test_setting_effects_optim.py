"""``optim.warmup_steps``, ``optim.lr_schedule`` and ``optim.grad_clip`` act through the
trainer as they claim: the learning rate of every step is the brute-force warm-up then
decay formula, and a clipped SGD step moves the parameters by exactly ``lr * grad_clip``.

(scripts/config_settings.py found no test of these through a training run.)"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

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
    return float(torch.cat([(p.detach() - b).flatten() for p, b in zip(params, before)]).norm())


def test_grad_clip_bounds_the_step_to_lr_times_the_clip(tmp_path: Path) -> None:
    free = _sgd_step_size(tmp_path / "free")
    clip = 1e-3
    clipped = _sgd_step_size(tmp_path / "clip", f"optim.grad_clip={clip}")
    assert free > 10 * LR * clip  # the gradient's norm is far above the clip
    # SGD: the step is lr * the gradient, whose total norm torch's clip set to `clip`
    assert clipped == pytest.approx(LR * clip, rel=1e-2)  # float32 rounding of the change
    loose = _sgd_step_size(tmp_path / "loose", f"optim.grad_clip={1e6}")
    assert loose == pytest.approx(free, rel=1e-6)  # a clip above the norm changes nothing
