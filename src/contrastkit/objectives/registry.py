"""Objectives by name: a registry over :mod:`contrastkit.losses` / ``functional``.

Each entry pairs a typed parameter dataclass with a builder that turns the
parameters and an :class:`ObjectiveContext` into an :class:`Objective` — an
``nn.Module`` mapping a :class:`~contrastkit.objectives.batch.Batch` to a scalar.
Learnable parts (a temperature, a decoder, a discriminator, a classifier head) are
the module's parameters, so they reach the optimiser and the checkpoint with it.

In a config, ``objectives`` maps names to a weight or to a mapping of ``weight``
and the entry's parameters::

    objectives:
      infonce: {weight: 1.0, temperature: 0.05, learnable_temperature: true}
      triplet: {weight: 0.5, margin: 0.2, adaptive_margin: true}
      norm: 0.01                       # the short form: a weight

Adding an objective is one :func:`register` call in an entry module that
:mod:`contrastkit.objectives` imports (the package's ``__init__`` loads every entry,
so the registry is full whenever it is reachable).
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastkit.functional.distances import Distance
from contrastkit.objectives.batch import Batch
from contrastkit.typed_config import config_fail, from_dict, to_dict


class Objective(nn.Module, ABC):
    """``forward(batch) -> scalar``. ``needs`` names what the batch must carry beyond
    the pairs: ``"corruption"`` (``z_corrupt``), ``"labels"``, ``"features"``."""

    needs: ClassVar[frozenset[str]] = frozenset()
    owns_temperature: bool = False  # a temperature of its own (fixed or learnable)

    @abstractmethod
    def forward(self, batch: Batch) -> Tensor:
        """The objective's scalar loss on ``batch`` (``z`` filled)."""


@dataclass
class ObjectiveContext:
    """What a builder may read: the geometry, the sizes, run-wide defaults."""

    distance: Distance
    dim: int
    num_items: int
    feature_dim: int | None = None
    num_classes: int = 0
    edge_weighted: bool = False  # the task's graph has edge weights (Batch.edge_weight)
    margin: float = 0.2  # objective.margin: the default of margin-based objectives
    norm_target: float = 1.0  # objective.norm_target
    temperature: float = 1.0  # the run's temperature (initial value of a learnable one)
    generator: torch.Generator = field(default_factory=torch.Generator)
    encoder: nn.Module | None = None  # read (never called) by parameter penalties (EWC)
    gather: str = "local"  # distributed.gather: in-batch candidates across ranks


Builder = Callable[[Any, ObjectiveContext], Objective]


@dataclass(frozen=True)
class ObjectiveEntry:
    params: type
    build: Builder
    summary: str


REGISTRY: dict[str, ObjectiveEntry] = {}


def register(name: str, params: type, summary: str) -> Callable[[Builder], Builder]:
    """Register ``build(params, ctx) -> Objective`` under ``name``."""

    def decorate(build: Builder) -> Builder:
        if name in REGISTRY:
            raise ValueError(f"objective {name!r} is registered twice")
        REGISTRY[name] = ObjectiveEntry(params, build, summary)
        return build

    return decorate


@dataclass
class ObjectiveSpec:
    """One configured objective: its name, weight and validated parameters."""

    name: str
    weight: float
    params: Any

    def to_config(self) -> float | dict[str, Any]:
        """The config form: the weight alone when every parameter is the default."""
        given = to_dict(self.params)
        defaults = to_dict(REGISTRY[self.name].params())
        changed = {k: v for k, v in given.items() if defaults.get(k) != v}
        return {"weight": self.weight, **changed} if changed else self.weight


def parse_objectives(raw: Mapping[str, Any]) -> dict[str, ObjectiveSpec]:
    """Validate ``objectives:``; ``ConfigError`` names ``objectives.<name>[.<key>]``."""
    if not isinstance(raw, Mapping) or not raw:
        config_fail("objectives", "must name at least one objective")
    specs: dict[str, ObjectiveSpec] = {}
    for name, value in raw.items():
        key = f"objectives.{name}"
        if name not in REGISTRY:
            close = difflib.get_close_matches(str(name), list(REGISTRY), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            config_fail(key, f"is not an objective{hint}; known: {sorted(REGISTRY)}")
        entry = REGISTRY[name]
        if isinstance(value, Mapping):
            settings = dict(value)
            weight = settings.pop("weight", 1.0)
        else:
            settings, weight = {}, value
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            config_fail(f"{key}.weight" if settings else key, f"must be a number, got {weight!r}")
        if weight < 0:
            config_fail(key, f"weight must be >= 0, got {weight}")
        params: Any = from_dict(entry.params, settings, prefix=f"{key}.")
        specs[name] = ObjectiveSpec(name, float(weight), params)
    return specs


def build_objectives(specs: Mapping[str, ObjectiveSpec], ctx: ObjectiveContext) -> nn.ModuleDict:
    """The objectives with a weight > 0, built in config order."""
    return nn.ModuleDict(
        {
            name: REGISTRY[name].build(spec.params, ctx)
            for name, spec in specs.items()
            if spec.weight > 0
        }
    )
