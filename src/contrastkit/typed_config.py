"""Typed dataclass configs from plain dicts (YAML, JSON, CLI overrides), validated once.

:func:`from_dict` builds a (nested) dataclass from a mapping and checks every value
against the field's annotation — ``int``, ``float``, ``bool``, ``str``, ``Literal``,
``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and nested dataclasses.
Errors are :class:`ConfigError` (a ``ValueError``) whose message names the full key
(``optim.lr``) and the bad value; unknown keys get a "did you mean" suggestion.

Example:
    >>> @dataclass
    ... class Opt:
    ...     lr: float = 0.1
    >>> from_dict(Opt, {"lr": 0.5}).lr
    0.5
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import (
    Any,
    Literal,
    NoReturn,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

C = TypeVar("C")
_FLOAT_LITERAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


def config_fail(key: str, message: str) -> NoReturn:
    """Raise :class:`ConfigError` as ``"<key> <message>"`` (the config classes' checks)."""
    raise ConfigError(f"{key} {message}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {type(value).__name__} {value!r}")
        return _build(tp, value, key + ".")
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {type(value).__name__} {value!r}")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_LITERAL.fullmatch(value.strip()):
            # PyYAML (YAML 1.1) reads 1e-5 (no dot) as a string: still a number
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
    return value


def _build(cls: type[C], data: Mapping[str, Any], prefix: str) -> C:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(f"unknown key {prefix}{key}{hint}")
    kwargs = {name: _coerce(hints[name], data[name], prefix + name) for name in data}
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None
    return obj


def from_dict(cls: type[C], data: Mapping[str, Any] | None, prefix: str = "") -> C:
    """Build and validate ``cls`` (a dataclass) from a nested mapping; error messages
    name keys after ``prefix`` (``"miner."`` for a section built on its own)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config must be a mapping at the top level, got {type(data).__name__}")
    return _build(cls, data, prefix)


def to_dict(obj: Any) -> Any:
    """Plain nested dict/list form of a dataclass config (for YAML/JSON)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse a CLI override ``a.b.c=value``; the value is read as YAML (numbers,
    booleans, lists) when PyYAML is available, else kept as a string."""
    if "=" not in text:
        raise ConfigError(f"override must look like key.sub=value, got {text!r}")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override has an empty key: {text!r}")
    try:
        import yaml

        value = yaml.safe_load(raw) if raw.strip() else ""
    except ImportError:
        value = raw
    except Exception as exc:  # yaml.YAMLError, without importing it at module load
        raise ConfigError(f"override {key} has an unreadable value {raw!r}: {exc}") from None
    return path, value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.sub=value`` overrides applied."""
    out: dict[str, Any] = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return out


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
