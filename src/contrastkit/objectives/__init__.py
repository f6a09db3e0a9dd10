"""Objectives by name over one :class:`Batch` (the registry the trainer's config uses)."""

from contrastkit.objectives import entries_contrastive as _contrastive  # noqa: F401
from contrastkit.objectives import entries_ewc as _ewc  # noqa: F401
from contrastkit.objectives import entries_graph as _graph  # noqa: F401
from contrastkit.objectives import entries_other as _other  # noqa: F401
from contrastkit.objectives import entries_preserve as _preserve  # noqa: F401
from contrastkit.objectives.batch import Batch, RelationIds
from contrastkit.objectives.registry import (
    REGISTRY,
    Objective,
    ObjectiveContext,
    ObjectiveSpec,
    build_objectives,
    parse_objectives,
    register,
)

__all__ = [
    "REGISTRY",
    "Batch",
    "Objective",
    "ObjectiveContext",
    "ObjectiveSpec",
    "RelationIds",
    "build_objectives",
    "parse_objectives",
    "register",
]
