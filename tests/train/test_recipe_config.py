"""Neutral defaults, the packaged default recipe, the opt-in recipe sections and the
old flat keys as aliases."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contrastkit.cli import main
from contrastkit.train.config import DEFAULT_RECIPE, TrainConfig, load_config
from contrastkit.train.recipe_config import migrate_legacy_keys
from contrastkit.typed_config import ConfigError


def test_the_defaults_are_neutral() -> None:
    cfg = TrainConfig()
    assert (cfg.data.name, cfg.encoder.manifold, cfg.objective.distance) == (
        "karate",
        "euclidean",
        "cosine",
    )
    assert (cfg.optim.name, cfg.miner.strategy, cfg.burn_in.epochs) == ("adam", "random", 0)
    assert cfg.sparse.step == "auto" and not cfg.hierarchy.exclude_implied


def test_the_default_recipe_is_the_mammal_recipe() -> None:
    cfg = load_config(DEFAULT_RECIPE)
    assert (cfg.data.name, cfg.encoder.dim, cfg.encoder.manifold) == ("mammals", 5, "poincare")
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.lr_schedule) == ("rsgd", 30.0, "cosine")
    assert (cfg.miner.strategy, cfg.miner.num_negatives) == ("mixed", 50)
    assert (cfg.burn_in.epochs, cfg.burn_in.lr_scale, cfg.loop.epochs) == (20, 0.1, 100)


def test_old_flat_keys_load_into_their_sections() -> None:
    cfg = load_config(
        None,
        [
            "loop.burn_in_epochs=3",
            "loop.burn_in_lr_scale=0.5",
            "loop.sparse_step=never",
            "loop.ball_eps=1e-3",
            "optim.max_row_step=0.1",
        ],
    )
    assert (cfg.burn_in.epochs, cfg.burn_in.lr_scale) == (3, 0.5)
    assert (cfg.sparse.step, cfg.sparse.ball_eps, cfg.sparse.max_row_step) == ("never", 1e-3, 0.1)
    cfg = load_config(None, ["data.exclude_implied=true", "data.name=mammals"])
    assert cfg.hierarchy.exclude_implied


def test_an_override_of_an_old_name_wins_over_the_file(tmp_path: Path) -> None:
    # the recipe file sets burn_in.epochs: 20
    assert load_config(DEFAULT_RECIPE, ["loop.burn_in_epochs=0"]).burn_in.epochs == 0
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump({"loop": {"burn_in_epochs": 2}, "burn_in": {"epochs": 3}}))
    with pytest.raises(ConfigError, match=r"loop\.burn_in_epochs .*burn_in\.epochs"):
        load_config(path)


def test_an_old_run_directorys_root_default_is_dropped() -> None:
    old = {"data": {"name": "wordnet_nouns", "root": "mammal.n.01"}, "loop": {"burn_in_epochs": 0}}
    assert "root" not in migrate_legacy_keys(old)["data"]  # it was never read then
    new = {"data": {"name": "wordnet_nouns", "root": "mammal.n.01"}}
    assert migrate_legacy_keys(new)["data"]["root"] == "mammal.n.01"


def test_train_without_a_config_runs_the_default_recipe(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = main(["train", "--run-dir", str(run), "--no-progress", "--no-report", "--epochs", "1"])
    assert code == 0
    written = yaml.safe_load((run / "config.yaml").read_text())
    assert written["data"]["name"] == "mammals" and written["encoder"]["manifold"] == "poincare"
    assert written["burn_in"]["epochs"] == 20
