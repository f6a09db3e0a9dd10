"""The ``search:`` block of a train config: which keys a study varies, over what.

Each entry maps a dotted config key to one distribution::

    search:
      optim.lr: {float: [1e-4, 1e-1], log: true}     # log-uniform
      burn_in.lr_scale: {float: [0.05, 0.5], step: 0.05}
      miner.num_negatives: {int: [5, 50]}            # integers low..high, both included
      objective.temperature: {choice: [0.02, 0.05, 0.1]}
      objectives.spectral.weight: {float: [0, 1]}    # an objective's weight or parameter

``float``/``int``/``choice`` are Optuna's ``FloatDistribution``, ``IntDistribution``
and ``CategoricalDistribution``. A key is any key of the config (``loop.seed`` and
``output.run_dir`` excepted: ``contrastkit tune`` sets them per trial); an objective
written as a bare weight (``infonce: 1.0``) is read as ``{weight: 1.0}`` when a key
goes through it. Every key is checked against the config by building the config at
each end of its range (each choice): an unknown key is named with a "did you mean",
a bound the key does not take (``optim.lr: {float: [0, 1]}``, the rate must be > 0) is
a :class:`~contrastkit.typed_config.ConfigError` naming the key and the value.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from contrastkit.typed_config import ConfigError, from_dict, to_dict

if TYPE_CHECKING:
    import optuna

#: the spellings of one search entry
KINDS = ("float", "int", "choice")
OPTIONS = (*KINDS, "log", "step")
#: keys a study sets itself for every trial
RESERVED = ("loop.seed", "output.run_dir", "search")

Scalar = None | bool | int | float | str


class Searchable(Protocol):
    """A config with a ``search:`` block (a train config). The train config checks its
    block with this module, so this module names no config class: a config is rebuilt
    as its own class (``type(config)``) and no import runs back to the train config."""

    search: dict[str, Any]


S = TypeVar("S", bound=Searchable)


@dataclass(frozen=True)
class SearchParam:
    """One searched key: ``kind`` ``"float"``/``"int"`` over ``[low, high]`` (both
    included; ``log``: log-uniform; ``step``: a grid from ``low``), or ``"choice"``
    among ``choices``."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] = ()

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """Optuna's distribution of this key."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "choice":
            return CategoricalDistribution(self.choices)
        if self.kind == "int":
            step = 1 if self.step is None else int(self.step)
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=step)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def ends(self) -> list[Any]:
        """The values whose configs are checked: both bounds, or every choice."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"search.{key} {message}")


def _number(key: str, value: Any, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "an integer" if integer else "a number"
        raise _fail(key, f"bounds must be {kind}, got {value!r}")
    if integer and not isinstance(value, int):
        raise _fail(key, f"'int' bounds must be integers, got {value!r}")
    if not math.isfinite(float(value)):
        raise _fail(key, f"bounds must be finite, got {value!r}")
    return float(value)


def _parse_range(key: str, kind: str, spec: Mapping[str, Any]) -> SearchParam:
    bounds = spec[kind]
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise _fail(key, f"{kind} must be [low, high], got {bounds!r}")
    integer = kind == "int"
    low, high = (_number(key, b, integer) for b in bounds)
    if not low < high:
        raise _fail(key, f"{kind} needs low < high, got [{bounds[0]!r}, {bounds[1]!r}]")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise _fail(key, f"log must be true or false, got {log!r}")
    if log and low <= 0:
        raise _fail(key, f"log: true needs low > 0, got {bounds[0]!r}")
    step = spec.get("step")
    if step is not None:
        step = _number(key, step, integer)
        if step <= 0:
            raise _fail(key, f"step must be > 0, got {spec['step']!r}")
        if log:
            raise _fail(key, "takes log or step, not both (Optuna samples either)")
    return SearchParam(key, kind, low=low, high=high, log=log, step=step)


def _parse_choice(key: str, spec: Mapping[str, Any]) -> SearchParam:
    if set(spec) - {"choice"}:
        extra = sorted(set(spec) - {"choice"})
        raise _fail(key, f"choice takes no {', '.join(extra)}")
    choices = spec["choice"]
    if not isinstance(choices, (list, tuple)) or not choices:
        raise _fail(key, f"choice must be a non-empty list, got {choices!r}")
    for value in choices:
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise _fail(key, f"choices must be numbers, strings, booleans or null, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(key, f"choices must be finite, got {value!r}")
    plain = tuple(float(v) if isinstance(v, float) else v for v in choices)
    if len(set(map(repr, plain))) != len(plain):
        raise _fail(key, f"choice lists a value twice: {list(choices)!r}")
    return SearchParam(key, "choice", choices=plain)


def _parse_one(key: Any, spec: Any) -> SearchParam:
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"search keys must be dotted config keys, got {key!r}")
    parts = key.split(".")
    if not all(p.strip() for p in parts):
        raise ConfigError(f"search key {key!r} has an empty part")
    if key in RESERVED or parts[0] == "search":
        raise _fail(key, "is set by `contrastkit tune` for every trial; it cannot be searched")
    if not isinstance(spec, Mapping):
        raise _fail(key, f"must be a mapping like {{float: [low, high]}}, got {spec!r}")
    for option in spec:
        if option not in OPTIONS:
            close = difflib.get_close_matches(str(option), OPTIONS, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise _fail(key, f"has an unknown option {option!r}{hint}; known: {', '.join(OPTIONS)}")
    kinds = [k for k in KINDS if k in spec]
    if len(kinds) != 1:
        raise _fail(key, f"must give exactly one of float, int, choice, got {sorted(spec)}")
    if kinds[0] == "choice":
        return _parse_choice(key, spec)
    return _parse_range(key, kinds[0], spec)


def parse_search(search: Mapping[str, Any]) -> list[SearchParam]:
    """The entries of a ``search:`` block, checked for form (not against a config:
    :func:`check_search`)."""
    if not isinstance(search, Mapping):
        raise ConfigError(f"search must be a mapping of key -> distribution, got {search!r}")
    return [_parse_one(key, spec) for key, spec in search.items()]


def set_key(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` in the nested mapping ``data`` (in place), creating
    missing sections; an objective given as a bare weight becomes ``{weight: w}``
    when the key goes through it (``objectives.infonce.weight``)."""
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
        elif depth == 1 and parts[0] == "objectives" and not isinstance(child, Mapping):
            child = {"weight": child}  # infonce: 1.0 is {weight: 1.0}
        elif not isinstance(child, Mapping):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"search.{key}: {where} is {child!r}, not a section")
        node[part] = child = dict(child)
        node = child
    node[parts[-1]] = value


def with_values(config: S, values: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> S:
    """``config`` with the searched ``values`` (and the ``fixed`` keys) set, rebuilt and
    validated; the result has no search block."""
    data = to_dict(config)
    data["search"] = {}
    for key, value in {**values, **(fixed or {})}.items():
        set_key(data, key, value)
    return from_dict(type(config), data)  # its own class (Searchable says why)


def check_search(config: Searchable) -> list[SearchParam]:
    """The search block of ``config``, each key checked against the config itself: the
    config is built with every bound (every choice) of every key; an unknown key or a
    value the key does not take is a :class:`ConfigError` naming the key and value."""
    params = parse_search(config.search)
    for param in params:
        for value in param.ends():
            try:
                with_values(config, {param.key: value})
            except ConfigError as exc:
                message = str(exc)
                if message.startswith("unknown key"):
                    raise ConfigError(f"search.{param.key}: {message}") from None
                raise ConfigError(
                    f"search.{param.key}: the value {value!r} is not allowed: {message}"
                ) from None
    return params


def is_grid(params: list[SearchParam]) -> bool:
    """Whether every key is a ``choice`` (the space a grid sampler enumerates)."""
    return bool(params) and all(p.kind == "choice" for p in params)


def grid_space(params: list[SearchParam]) -> dict[str, list[Any]]:
    """Optuna ``GridSampler``'s search space: key -> its choices."""
    return {p.key: list(p.choices) for p in params}


def grid_size(params: list[SearchParam]) -> int:
    """The number of points of the grid (the product of the choice counts)."""
    return math.prod(len(p.choices) for p in params)


def suggest(trial: optuna.Trial, params: list[SearchParam]) -> dict[str, Any]:
    """The values ``trial`` draws for ``params`` (key -> value)."""
    values: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            values[p.key] = trial.suggest_categorical(p.key, list(p.choices))
        elif p.kind == "int":
            step = 1 if p.step is None else int(p.step)
            values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), step=step, log=p.log)
        else:
            values[p.key] = trial.suggest_float(p.key, p.low, p.high, step=p.step, log=p.log)
    return values
