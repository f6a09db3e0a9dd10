"""The relation sampler's strategy names: canonical names, aliases, and which read the
embedding (see :mod:`~contrastkit.mining.relation_sampler` for what each draws)."""

from __future__ import annotations

from typing import Literal, get_args

StrategyName = Literal[
    "random", "degree", "hardest", "semi_hard", "weighted", "mixed", "cluster", "category", "khop"
]
AliasName = Literal["uniform", "hard", "semihard"]
Strategy = Literal[StrategyName, AliasName]  # a canonical name or an alias
STRATEGIES: tuple[StrategyName, ...] = get_args(StrategyName)
STRATEGY_ALIASES: dict[str, StrategyName] = {
    "uniform": "random",
    "hard": "hardest",
    "semihard": "semi_hard",
}
POOL_STRATEGIES: tuple[StrategyName, ...] = ("hardest", "semi_hard", "weighted", "mixed")
#: how a draw from the hard pool ranks it (``mixed`` draws ``hardest`` and ``random``)
PoolMode = Literal["hardest", "semi_hard", "weighted"]


def canonical_strategy(name: object) -> StrategyName:
    """The :data:`STRATEGIES` name of ``name`` (an alias is mapped, ``uniform -> random``).

    Raises:
        ValueError: naming ``strategy`` and the value when it is neither.
    """
    if isinstance(name, str):
        if name in STRATEGY_ALIASES:
            return STRATEGY_ALIASES[name]
        for known in STRATEGIES:
            if name == known:
                return known
    raise ValueError(
        f"strategy must be one of {list(STRATEGIES)} (aliases {STRATEGY_ALIASES}), got {name!r}"
    )


def uses_embedding(strategy: str) -> bool:
    """Whether ``strategy`` reads the embedding (needs
    :meth:`~contrastkit.mining.relation_sampler.RelationNegativeSampler.refresh`):
    the pool strategies and ``cluster``."""
    name = canonical_strategy(strategy)
    return name in POOL_STRATEGIES or name == "cluster"


def random_kind(kind: str) -> Literal["random", "degree"]:
    """``kind`` of a rejection draw
    (:meth:`~contrastkit.mining.relation_sampler.RelationNegativeSampler.random`): ``random``
    (alias ``uniform``) or ``degree``; any other strategy is a ``ValueError``."""
    name = canonical_strategy(kind)
    if name == "random":
        return "random"
    if name == "degree":
        return "degree"
    raise ValueError(f"kind must be 'random' (alias 'uniform') or 'degree', got {kind!r}")
