"""A warning for a negative count above the candidates an anchor can have.

Every task that draws or mines ``K`` negatives per anchor has a number ``C`` of
distinct candidates an anchor can take them from: a relation graph's other nodes
(``miner.num_negatives``, ``nodes.num_negatives``, ``continual.num_negatives``: uniform
draws then repeat nodes), or a mining pool less what mining excludes
(``pairs.num_negatives``: the slots beyond ``C`` are masked). ``K > C`` is not an error —
peers differ (gensim's Poincaré model refuses it, PyG returns fewer) and the README's
karate run relies on it — but it is rarely what was meant, so it warns, naming the
setting and both numbers; ``K = C`` does not warn.

A curriculum (``schedule.curriculum``) replaces the count with its stages' own
(``default``: 5, 10, 20; ``linear``: up to ``miner.num_negatives``), for every task:
:func:`warn_curriculum_negatives` checks the largest count among the stages the run
reaches against the task's :class:`NegativeBound` (``Task.negative_bound``), with the
same message naming the curriculum and the stage.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from contrastkit.schedules.curriculum import CurriculumScheduler


@dataclass(frozen=True)
class NegativeBound:
    """The ``candidates`` distinct negatives every anchor of a task can have, ``what``
    they are and the ``effect`` of asking for more (the warning's words)."""

    candidates: int
    what: str
    effect: str

    def warn(self, key: str, num_negatives: int, *, stacklevel: int = 3) -> None:
        """:func:`warn_excess_negatives` for the setting ``key`` against this bound
        (``stacklevel`` counts from the caller of this method)."""
        warn_excess_negatives(
            key, num_negatives, self.candidates, self.what, self.effect, stacklevel=stacklevel + 1
        )


def graph_bound(num_nodes: int) -> NegativeBound:
    """Negatives drawn among a graph's ``num_nodes`` nodes: an anchor has
    ``num_nodes - 1`` distinct ones (every node but itself)."""
    return NegativeBound(
        num_nodes - 1,
        f"negatives an anchor of this graph of {num_nodes} nodes can have (every node but itself)",
        "its negatives repeat nodes",
    )


def warn_excess_negatives(
    key: str, num_negatives: int, candidates: int, what: str, effect: str, *, stacklevel: int = 3
) -> None:
    """Warn (``UserWarning``) when the setting ``key`` asks for ``num_negatives`` and an
    anchor has only ``candidates`` distinct ones: ``"{key} is K, more than the C
    {what}: {effect}; use at most C for distinct ones"``. ``stacklevel`` counts from
    the caller of this function."""
    if num_negatives > candidates:
        warnings.warn(
            f"{key} is {num_negatives}, more than the {candidates} {what}: {effect}; "
            f"use at most {candidates} for distinct ones",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def warn_repeated_negatives(key: str, num_negatives: int, num_nodes: int) -> None:
    """:func:`warn_excess_negatives` for negatives drawn among a graph's ``num_nodes``
    nodes (:func:`graph_bound`)."""
    graph_bound(num_nodes).warn(key, num_negatives, stacklevel=4)


def warn_curriculum_negatives(
    curriculum: CurriculumScheduler | None,
    name: str,
    epochs: int,
    negative_bound: Callable[[], NegativeBound | None],
) -> None:
    """Warn when the largest negative count among the stages of the curriculum
    ``schedule.curriculum: name`` that an ``epochs``-epoch run reaches (every stage
    when plateaus may advance it: ``patience`` set) exceeds the bound of ``task``
    (:meth:`~contrastkit.train.task_base.Task.negative_bound`, asked only when there
    is a curriculum: a text task counts its candidates by a scan), keyed
    ``"schedule.curriculum 'default' stage 'Hard' num_negatives"`` (``linear``: the
    stage's count comes from ``miner.num_negatives``, which the key names too)."""
    if curriculum is None:
        return
    bound = negative_bound()
    if bound is None:
        return
    stages = curriculum.stages
    if curriculum.patience is None:  # stepped once per epoch: the stages started by then
        starts = [0, *itertools.accumulate(s.duration for s in stages)][: len(stages)]
        stages = tuple(s for s, start in zip(stages, starts, strict=True) if start < epochs)
    if not stages:
        return
    largest = max(stages, key=lambda s: s.num_negatives)  # the first of the largest
    source = " (up to miner.num_negatives)" if name == "linear" else ""
    bound.warn(
        f"schedule.curriculum {name!r} stage {largest.name!r} num_negatives{source}",
        largest.num_negatives,
        stacklevel=3,
    )
