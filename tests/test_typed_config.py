from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from contrastkit.typed_config import (
    ConfigError,
    apply_overrides,
    from_dict,
    parse_override,
    to_dict,
)


@dataclass
class Optim:
    name: Literal["sgd", "adam"] = "adam"
    lr: float = 0.01
    betas: tuple[float, ...] = (0.9, 0.999)


@dataclass
class Root:
    epochs: int = 3
    optim: Optim = field(default_factory=Optim)
    weights: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")


def test_nested_build_and_coercion() -> None:
    cfg = from_dict(Root, {"epochs": 5, "optim": {"lr": 1, "name": "sgd"}, "weights": {"a": 2}})
    assert cfg.epochs == 5 and cfg.optim.name == "sgd"
    assert isinstance(cfg.optim.lr, float) and cfg.optim.lr == 1.0
    assert cfg.weights == {"a": 2.0}
    assert cfg.seed is None


def test_round_trip_through_dict() -> None:
    cfg = from_dict(Root, {"optim": {"betas": [0.8, 0.9]}, "seed": 3})
    assert from_dict(Root, to_dict(cfg)) == cfg


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown key optim\.lrr \(did you mean optim\.lr\?\)"):
        from_dict(Root, {"optim": {"lrr": 0.1}})


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"epochs": "ten"}, r"epochs must be an integer, got 'ten'"),
        ({"epochs": True}, r"epochs must be an integer"),
        ({"optim": {"name": "rmsprop"}}, r"optim\.name must be one of \['sgd', 'adam'\]"),
        ({"optim": {"lr": "fast"}}, r"optim\.lr must be a number"),
        ({"verbose": "yes"}, r"verbose must be true or false"),
        ({"weights": {"a": "x"}}, r"weights\.a must be a number"),
        ({"optim": 3}, r"optim must be a mapping"),
        ({"epochs": 0}, r"epochs must be > 0"),
    ],
)
def test_bad_values_name_the_key(data: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        from_dict(Root, data)


def test_overrides() -> None:
    base = {"optim": {"lr": 0.1}}
    out = apply_overrides(base, ["optim.lr=0.5", "epochs=7", "weights.infonce=1"])
    assert out == {"optim": {"lr": 0.5}, "epochs": 7, "weights": {"infonce": 1}}
    assert base == {"optim": {"lr": 0.1}}  # input not mutated
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    with pytest.raises(ConfigError, match=r"key\.sub=value"):
        parse_override("noequals")


def test_scientific_notation_is_a_number() -> None:
    from contrastkit.train.config import DEFAULT_RECIPE, load_config

    for text in ("1e-5", "1E-5", "-2.5e3", "3e+2"):
        assert (
            load_config(DEFAULT_RECIPE, [f"optim.lr={text}".replace("-2.5e3", "2.5e3")]).optim.lr
            > 0
        )
    assert load_config(DEFAULT_RECIPE, ["optim.lr=1e-5"]).optim.lr == 1e-5
    with pytest.raises(ConfigError, match=r"optim\.lr must be a number"):
        load_config(DEFAULT_RECIPE, ["optim.lr=fast"])
