"""Typed dataclass configs from plain dicts (YAML, JSON, CLI overrides), validated once.

:func:`from_dict` builds a (nested) dataclass from a mapping and checks every value
against the field's annotation — ``int``, ``float``, ``bool``, ``str``, ``Literal``,
``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and nested dataclasses.
Errors are :class:`ConfigError` (a ``ValueError``) whose message names the full key
(``optim.lr``) and the bad value; unknown keys get a "did you mean" suggestion.

Numbers follow YAML 1.2's core schema wherever config text is read (:func:`load_yaml`,
overrides): ``1e-5``, ``1E5``, ``+1.5``, ``.5``, ``-.5e-3`` are floats (PyYAML's YAML 1.1
reads the first two as strings), ``017`` is 17 and ``0o17``/``0x1F`` are octal/hex
integers; YAML 1.1's ``1_000`` and ``1:30`` are strings, as are dates. A float setting
refuses ``.inf``/``.nan`` (no setting wants them) and an integer setting refuses a float
(``loop.epochs: 1e3`` is an error, not 1000).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Opt:
    ...     lr: float = 0.1
    >>> from_dict(Opt, {"lr": 0.5}).lr
    0.5
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import operator
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
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), ASCII digits
_INT_12 = r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
_FLOAT_12 = r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
_NON_FINITE_12 = r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
_FLOAT_LITERAL = re.compile(_FLOAT_12)
_NON_FINITE_LITERAL = re.compile(_NON_FINITE_12 + r"|[-+]?(?:inf|infinity|nan)", re.IGNORECASE)


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


def config_fail(key: str, message: str) -> NoReturn:
    """Raise :class:`ConfigError` as ``"<key> <message>"`` (the config classes' checks)."""
    raise ConfigError(f"{key} {message}")


class _Number(float):
    """A float read from config text that remembers how it was written (``1e3``,
    ``.inf``), so that an error shows the value as the user wrote it; :func:`from_dict`
    hands only plain floats to the config classes."""

    text: str

    def __new__(cls, value: float, text: str = "") -> _Number:
        obj = super().__new__(cls, value)
        obj.text = text or float.__repr__(obj)
        return obj

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (float, (float(self),))


def _plain(value: Any) -> Any:
    """``value`` with every :class:`_Number` inside it a plain ``float``."""
    if isinstance(value, _Number):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if tp is Any:
        return _plain(value)
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
        # a float is refused even when whole: loop.epochs: 1e3 is a typo or a unit slip
        if isinstance(value, (bool, float, str)):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        try:
            return operator.index(value)  # int, numpy integers
        except TypeError:
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if tp is float:
        return _coerce_float(value, key)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
    return value


def _coerce_float(value: Any, key: str) -> float:
    if isinstance(value, str):
        text = value.strip()
        if _FLOAT_LITERAL.fullmatch(text):
            # a number written as text (JSON, a YAML 1.1 reader's 1e-5): still a number
            value = _Number(float(text), text)
        elif _NON_FINITE_LITERAL.fullmatch(text):
            value = _Number(float(text.replace(".", "")), text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(
            f"{key} must be a finite number, got {value!r} (no setting takes .inf or .nan)"
        )
    return number


def _build(cls: type[C], data: Mapping[str, Any], prefix: str) -> C:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(f"unknown key {prefix}{key}{hint}")
    for name, f in fields.items():
        missing = dataclasses.MISSING
        if name not in data and f.default is missing and f.default_factory is missing:
            raise ConfigError(f"{prefix}{name} is required")
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


def _construct_int(loader: Any, node: Any) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # YAML 1.2: 017 is seventeen (YAML 1.1 read it as octal)


def _construct_float(loader: Any, node: Any) -> float:
    text = str(loader.construct_scalar(node))
    return _Number(float(text.replace(".", "") if "n" in text.lower() else text), text)


@functools.cache
def _yaml_classes() -> tuple[type, type]:
    """A PyYAML loader and dumper whose numbers are YAML 1.2 core schema's (see the
    module docstring); booleans and nulls stay PyYAML's. The loader refuses a mapping
    that repeats a key (PyYAML keeps the last one silently)."""
    import yaml

    tags = {f"tag:yaml.org,2002:{t}": t for t in ("int", "float", "timestamp", "value")}

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    mark = key_node.start_mark
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice in one mapping (keep one)",
                        mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    class Dumper(yaml.SafeDumper):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [r for r in resolvers if r[0] not in tags]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    # the dumper keeps YAML 1.1's resolvers too: a string either reader would take for
    # something else ("1e3", "017", "2024-01-01") is written quoted
    for cls in (Loader, Dumper):
        cls.add_implicit_resolver(
            "tag:yaml.org,2002:int", re.compile(f"^(?:{_INT_12})$"), list("-+0123456789")
        )
        cls.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(f"^(?:{_FLOAT_12}|{_NON_FINITE_12})$"),
            list("-+0123456789."),
        )
    Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    return Loader, Dumper


def load_yaml(text: str) -> Any:
    """Parse YAML ``text`` with YAML 1.2's numbers (``1e-5`` is a float; see the module
    docstring). Raises ``yaml.YAMLError`` (:func:`yaml_problem` words it in one line)."""
    import yaml

    return yaml.load(text, Loader=_yaml_classes()[0])  # a SafeLoader subclass: safe


def dump_yaml(data: Any) -> str:
    """YAML text of plain data that :func:`load_yaml` reads back unchanged (a string
    that would read as a number, like ``"1e3"``, is quoted)."""
    import yaml

    return str(yaml.dump(_plain(data), Dumper=_yaml_classes()[1], sort_keys=False))


def yaml_problem(exc: Exception) -> str:
    """One line saying what is wrong in a ``yaml.YAMLError`` and where."""
    problem = getattr(exc, "problem", None)
    if not problem:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return lines[0] if lines else type(exc).__name__
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{context + ': ' if context else ''}{problem}{where}"


def override_key(text: str) -> list[str]:
    """The key path of an override ``a.b.c=value``; a missing ``=`` or an empty key or
    key segment (``a..b``, ``.b``, ``a.``) is a :class:`ConfigError`."""
    if "=" not in text:
        raise ConfigError(f"override must look like key.sub=value, got {text!r}")
    key = text.split("=", 1)[0].strip()
    if not key:
        raise ConfigError(f"override has an empty key: {text!r}")
    path = [part.strip() for part in key.split(".")]
    if not all(path):
        raise ConfigError(f"override key {key!r} has an empty part (in {text!r})")
    return path


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse a CLI override ``a.b.c=value``; the value is read as YAML (numbers as YAML
    1.2 reads them, booleans, lists) when PyYAML is available, else kept as a string."""
    path = override_key(text)
    raw = text.split("=", 1)[1]
    try:
        import yaml  # noqa: F401
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        return path, raw
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except Exception as exc:  # yaml.YAMLError, without importing it at module load
        raise ConfigError(
            f"override {'.'.join(path)} has an unreadable value {raw!r}: {yaml_problem(exc)}"
        ) from None
    return path, value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.sub=value`` overrides applied. A key through
    a value that is not a mapping (``loop.epochs.x=1`` where ``loop.epochs`` is 3) is a
    :class:`ConfigError` naming it; a missing or empty (null) section is created."""
    out: dict[str, Any] = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
                node[part] = child
            elif not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(
                    f"override {'.'.join(path)}: {where} is {child!r}, not a mapping "
                    f"(set {where}={{...}} to replace it)"
                )
            node = child
        node[path[-1]] = value
    return out


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
