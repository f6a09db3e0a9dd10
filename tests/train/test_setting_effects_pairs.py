"""``pairs.split_seed`` draws the held-out items of a pairs task: the same seed the
same stratified split (whatever ``loop.seed`` is), another seed another one with the
same per-label counts.

(scripts/config_settings.py found the setting only in fixtures.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer


def _split(tmp_path: Path, *extra: str) -> tuple[torch.Tensor, torch.Tensor]:
    config = load_config(
        None,
        [
            "task.kind=pairs",
            "pairs.source=digits",
            "encoder.kind=mlp",
            "pairs.test_fraction=0.2",
            "loop.progress=false",
            "output.report=false",
            f"output.run_dir={tmp_path / 'run'}",
            *extra,
        ],
    )
    task: Any = Trainer(config).task
    return task.test_items, task.all_labels


def test_split_seed_draws_the_held_out_items(tmp_path: Path) -> None:
    base, labels = _split(tmp_path / "a", "pairs.split_seed=0")
    same, _ = _split(tmp_path / "b", "pairs.split_seed=0", "loop.seed=5")
    other, _ = _split(tmp_path / "c", "pairs.split_seed=1")
    assert torch.equal(base, same)  # the split is the split seed's, not the run's
    assert not torch.equal(base, other)
    per_label = torch.bincount(labels[base], minlength=10)
    assert torch.equal(per_label, torch.bincount(labels[other], minlength=10))  # stratified
