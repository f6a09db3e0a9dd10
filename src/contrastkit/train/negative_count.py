"""A warning for a negative count above the candidates an anchor can have.

Every task that draws or mines ``K`` negatives per anchor has a number ``C`` of
distinct candidates an anchor can take them from: a relation graph's other nodes
(``miner.num_negatives``, ``nodes.num_negatives``, ``continual.num_negatives``: uniform
draws then repeat nodes), or a mining pool less what mining excludes
(``pairs.num_negatives``: the slots beyond ``C`` are masked). ``K > C`` is not an error —
peers differ (gensim's Poincaré model refuses it, PyG returns fewer) and the README's
karate run relies on it — but it is rarely what was meant, so it warns, naming the
setting and both numbers; ``K = C`` does not warn.
"""

from __future__ import annotations

import warnings


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
    nodes: an anchor has ``num_nodes - 1`` distinct ones (every node but itself)."""
    warn_excess_negatives(
        key,
        num_negatives,
        num_nodes - 1,
        f"negatives an anchor of this graph of {num_nodes} nodes can have (every node but itself)",
        "its negatives repeat nodes",
        stacklevel=4,
    )
