"""Every recipe in configs/ loads and validates; the quick ones train."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrastkit.train.config import TrainConfig, load_config
from contrastkit.train.run import train

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_there_are_recipes() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_recipe_is_valid(path: Path) -> None:
    assert isinstance(load_config(path), TrainConfig)


def test_karate_gnn_curriculum_recipe_trains(tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "configs" / "karate_gnn_curriculum.yaml"
    config = load_config(
        path, [f"output.run_dir={tmp_path}", "loop.progress=false", "output.report=false"]
    )
    trainer = train(config)
    assert trainer.schedules.curriculum is not None
    assert trainer.schedules.curriculum.stage_index == 2  # 60 epochs: past Easy and Medium
    assert trainer.final_metrics["probe_accuracy"] > 0.5
