"""One config trained a few steps through the sparse table step and through the
generic autograd step, for tests that compare the two paths."""

from __future__ import annotations

from pathlib import Path

import torch

from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.train.trainer import Trainer


def trainers_on_both_paths(tmp_path: Path, overrides: list[str], steps: int = 3) -> list[Trainer]:
    """``[sparse, generic]`` trainers after ``steps`` steps on relations ``0..63``."""
    trainers = []
    for mode in ("always", "never"):
        cfg = load_config(
            DEFAULT_RECIPE,
            [*overrides, f"output.run_dir={tmp_path / mode}", f"loop.sparse_step={mode}"],
        )
        trainer = Trainer(cfg)
        assert (trainer.sparse) == (mode == "always")
        for _ in range(steps):
            trainer.train_step(torch.arange(64))
        trainers.append(trainer)
    return trainers
