"""Objectives by name over one :class:`Batch` (the registry the trainer's config uses)."""

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
