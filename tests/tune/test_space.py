"""The search block: its forms, its checks against the config, and what a trial draws."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.tune.space import (
    check_search,
    grid_size,
    grid_space,
    is_grid,
    parse_search,
    set_key,
    suggest,
    with_values,
)
from contrastkit.typed_config import ConfigError
from tests.tune.conftest import TINY

SPACE = {
    "optim.lr": {"float": [1e-4, 1e-1], "log": True},
    "objective.temperature": {"choice": [0.02, 0.05, 0.1]},
    "miner.num_negatives": {"int": [5, 50]},
    "objectives.spectral.weight": {"float": [0, 1]},
    "burn_in.lr_scale": {"float": [0.1, 0.5], "step": 0.1},
    "miner.pool_size": {"int": [20, 100], "step": 20},
}


def _config(search: dict, *extra: str):  # type: ignore[no-untyped-def]
    base = load_config(DEFAULT_RECIPE, [*TINY, *extra])
    base.search = search
    return check_search(base), base


def test_each_form_is_optunas_distribution() -> None:
    params = {p.key: p for p in parse_search(SPACE)}
    assert params["optim.lr"].distribution() == FloatDistribution(1e-4, 1e-1, log=True)
    assert params["objective.temperature"].distribution() == CategoricalDistribution(
        (0.02, 0.05, 0.1)
    )
    assert params["miner.num_negatives"].distribution() == IntDistribution(5, 50)
    assert params["burn_in.lr_scale"].distribution() == FloatDistribution(0.1, 0.5, step=0.1)
    assert params["miner.pool_size"].distribution() == IntDistribution(20, 100, step=20)


def test_the_issue_example_checks_against_the_config() -> None:
    params, _ = _config(SPACE)
    assert [p.key for p in params] == list(SPACE)


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"optim.lrr": {"float": [0.1, 1]}}, "unknown key optim.lrr (did you mean optim.lr?)"),
        ({"optimm.lr": {"float": [0.1, 1]}}, "unknown key optimm (did you mean optim?)"),
        ({"optim.lr": {"float": [0, 1]}}, "search.optim.lr: the value 0.0 is not allowed"),
        ({"miner.num_negatives": {"float": [1.5, 4]}}, "must be an integer, got 1.5"),
        ({"optim.lr": {"float": [1, 0.1]}}, "search.optim.lr float needs low < high"),
        ({"optim.lr": {"float": [0.1]}}, "must be [low, high]"),
        ({"optim.lr": {"float": [0.0, 1.0], "log": True}}, "log: true needs low > 0"),
        ({"optim.lr": {"float": [0.1, 1.0], "log": True, "step": 0.1}}, "log or step"),
        ({"optim.lr": {"float": [0.1, 1.0], "step": -1}}, "step must be > 0"),
        ({"optim.lr": {"flaot": [0.1, 1.0]}}, "unknown option 'flaot' (did you mean float?)"),
        ({"optim.lr": {"float": [0.1, 1], "int": [1, 2]}}, "exactly one of float, int, choice"),
        ({"miner.num_negatives": {"int": [1.0, 4]}}, "'int' bounds must be integers, got 1.0"),
        ({"optim.lr": {"float": [0.1, float("inf")]}}, "bounds must be finite"),
        ({"optim.lr": {"choice": []}}, "non-empty list"),
        ({"optim.lr": {"choice": [0.1, 0.1]}}, "lists a value twice"),
        ({"optim.lr": {"choice": [0.1], "log": True}}, "choice takes no log"),
        ({"optim.lr": {"choice": [[0.1]]}}, "choices must be numbers"),
        ({"objective.temperature": {"choice": [0.1, -1.0]}}, "the value -1.0 is not allowed"),
        ({"optim.name": {"choice": ["adam", "adamm"]}}, "must be one of"),
        ({"loop.seed": {"int": [0, 9]}}, "search.loop.seed is set by `contrastkit tune`"),
        ({"output.run_dir": {"choice": ["a"]}}, "cannot be searched"),
        ({"optim.lr": 0.1}, "must be a mapping like {float: [low, high]}"),
        ({"optim..lr": {"float": [0.1, 1]}}, "has an empty part"),
        ({"loop.epochs.x": {"int": [1, 2]}}, "loop.epochs is 6, not a section"),
    ],
)
def test_bad_entries_are_config_errors_naming_key_and_value(search: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(search)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_a_typo_in_a_config_file_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  miner.num_negativs: {int: [5, 50]}\n")
    with pytest.raises(ConfigError, match=r"did you mean miner.num_negatives\?"):
        load_config(path)


def test_an_objective_written_as_a_bare_weight_takes_a_weight_key() -> None:
    data = {"objectives": {"infonce": 1.0}}
    set_key(data, "objectives.infonce.weight", 0.25)
    set_key(data, "objectives.spectral.weight", 0.5)
    assert data == {"objectives": {"infonce": {"weight": 0.25}, "spectral": {"weight": 0.5}}}
    _, base = _config({"objectives.infonce.weight": {"float": [0.1, 1]}})
    config = with_values(base, {"objectives.infonce.weight": 0.3})
    assert config.objective_weights() == {"infonce": 0.3}
    assert base.objective_weights() == {"infonce": 1.0}  # the base is left alone
    assert config.search == {}


def test_grid_helpers() -> None:
    params, _ = _config(
        {"optim.lr": {"choice": [0.01, 0.1, 1.0]}, "miner.num_negatives": {"choice": [2, 4]}}
    )
    assert is_grid(params)
    assert grid_size(params) == 6
    assert grid_space(params) == {"optim.lr": [0.01, 0.1, 1.0], "miner.num_negatives": [2, 4]}
    ranged, _ = _config({"optim.lr": {"float": [0.01, 1]}})
    assert not is_grid(ranged)


def test_drawn_values_lie_in_their_ranges_and_build_configs() -> None:
    params, base = _config(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, params)
        config = with_values(base, values)
        assert 1e-4 <= config.optim.lr <= 1e-1
        assert config.objective.temperature in (0.02, 0.05, 0.1)
        assert isinstance(config.miner.num_negatives, int)
        assert 5 <= config.miner.num_negatives <= 50
        assert config.objective_specs()["spectral"].weight == values["objectives.spectral.weight"]
        assert round(config.burn_in.lr_scale * 10, 6) in (1, 2, 3, 4, 5)
        assert config.miner.pool_size % 20 == 0
        study.tell(trial, 0.0)
