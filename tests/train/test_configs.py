"""Every recipe in configs/ loads and validates; the quick ones train."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contrastkit.train.config import TrainConfig, load_config
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer

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
    assert trainer.final_metrics["test/probe_accuracy"] > 0.5


WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")
WORDNET_RECIPES = ["nouns_poincare_d10", "nouns_euclidean_d200", "nouns_link_prediction_d10"]


@pytest.mark.skipif(
    not Path(WN_DIR, "data.noun").is_file(), reason="WordNet 3.0 (wordnet-base) not installed"
)
@pytest.mark.parametrize("name", WORDNET_RECIPES)
def test_noun_recipes_run_on_the_sparse_table_step(name: str, tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "configs" / f"{name}.yaml"
    config = load_config(path, [f"output.run_dir={tmp_path}", "loop.progress=false"])
    trainer = Trainer(config)
    assert trainer.sparse
    assert trainer.task.num_items == 82_115
    if config.data.test_fraction > 0:  # N&K's protocol holds out 10 % of the relations
        held_out = trainer.task.graph.split.test_pos.shape[1]  # type: ignore[union-attr]
        assert abs(held_out - 0.1 * 743_241) < 0.01 * 743_241


def test_mammal_recipe_learns_the_hierarchy_in_a_short_run(tmp_path: Path) -> None:
    # a tenth of the recipe (30 epochs, 2 of burn-in): N&K's small rate starts slowly
    # (MAP ~0.3 here, 0.94 at 300 epochs), but chance is MAP ~0.08 / mean rank ~190
    path = Path(__file__).parents[2] / "configs" / "mammals_poincare_d5.yaml"
    overrides = ["loop.epochs=30", "loop.burn_in_epochs=2", "eval.every_epochs=30"]
    config = load_config(
        path,
        [*overrides, f"output.run_dir={tmp_path}", "loop.progress=false", "output.report=false"],
    )
    trainer = train(config)
    assert trainer.sparse
    assert trainer.final_metrics["train/map"] > 0.2, trainer.final_metrics
    assert trainer.final_metrics["train/mean_rank"] < 60, trainer.final_metrics
