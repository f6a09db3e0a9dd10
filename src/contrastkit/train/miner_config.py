"""Negative sampling settings (``miner``) and their stages over epochs (``miner_stages``).

A run can change how it draws negatives part-way: PyTorch-BigGraph-style uniform
negatives shared by groups of relations while the embedding is rough (cheap, and
random nouns are informative then), hard negatives mined from the embedding once
random ones are too easy. Each :class:`MinerStage` names the epoch it starts at and
only the settings that change; the others carry over from the stage before::

    miner:
      strategy: random
      shared_negatives: 32
    miner_stages:
      - from_epoch: 41
        set: {strategy: mixed, shared_negatives: 0, num_negatives: 10, pool_size: 50}

:func:`resolve_miner_stages` turns that into ``[(0, miner), (41, miner')]``, each a
validated :class:`MinerConfig`; :func:`stage_at` picks the one in force at an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.mining.relation_strategies import (
    STRATEGIES,
    STRATEGY_ALIASES,
    Strategy,
    canonical_strategy,
)
from contrastkit.typed_config import ConfigError, config_fail, from_dict, to_dict


@dataclass
class MinerConfig:
    """Negatives per relation, drawn by
    :class:`~contrastkit.mining.relation_sampler.RelationNegativeSampler` (its module
    docstring gives each strategy's rule). ``random`` rejects true edges (N&K);
    ``hardest``/``semi_hard``/``weighted`` mine the current embedding, refreshed every
    ``refresh_every`` steps; ``mixed`` takes ``hard_ratio`` hardest and the rest random;
    ``cluster``/``category`` spread over k-means clusters / node categories; ``khop``
    draws nodes ``khop_min..khop_max`` hops away. The old names ``uniform``, ``hard``
    and ``semihard`` are accepted and stored as ``random``, ``hardest``, ``semi_hard``."""

    strategy: Strategy = "random"
    num_negatives: int = 10
    hard_ratio: float = 0.5
    pool_size: int = 100  # hard candidates kept per node between refreshes
    refresh_every: int = 100
    burn_in_degree: bool = True  # burn-in negatives drawn from the degree distribution
    # hierarchies: keep each node's descendants out of its hard pool too (they are its
    # closest nodes, and their own relations pull them towards it)
    pool_excludes_descendants: bool = False
    # keep nodes nearer the origin than the anchor out of its hard pool: in a Poincaré
    # hierarchy those close to it are likely ancestors, unseen ones included (a link
    # prediction split's held-out relations), so only deeper nodes are mined
    pool_deeper_only: bool = False
    # > 0: groups of this many consecutive relations share their uniform negatives
    # (PyTorch-BigGraph's batching; true relations of each anchor are masked, not
    # redrawn), a mixed miner's hard ones stay per relation; 0: every relation draws
    # its own (Nickel & Kiela)
    shared_negatives: int = 0
    weighted_alpha: float = 1.0  # weighted: P(n) ∝ exp(alpha s(u, n)) over the pool
    num_clusters: int = 8  # cluster: k-means clusters (at most the node count)
    khop_min: int = 2  # khop: nearest hop distance drawn (>= 2: hop 1 is related)
    khop_max: int = 3  # khop: farthest hop distance drawn
    # how a refresh scans for the hard pool: exact tiles in memory, the same tiles
    # over a temporary memory-mapped copy of the embedding, or an exact FAISS index
    pool_backend: Literal["exact", "memmap", "faiss"] = "exact"
    memory_budget: int = DEFAULT_MEMORY_BUDGET  # bytes for the pool scan's tiles

    def __post_init__(self) -> None:
        try:
            self.strategy = canonical_strategy(self.strategy)
        except ValueError:
            config_fail(
                "miner.strategy",
                f"must be one of {list(STRATEGIES)} (or an alias {list(STRATEGY_ALIASES)}), "
                f"got {self.strategy!r}",
            )
        if self.shared_negatives < 0:
            config_fail("miner.shared_negatives", f"must be >= 0, got {self.shared_negatives}")
        if self.shared_negatives > 0 and self.strategy not in ("random", "mixed"):
            config_fail(
                "miner.shared_negatives",
                f"needs miner.strategy 'random' (alias 'uniform') or 'mixed' (the random "
                f"negatives are shared, mined ones stay each relation's own), "
                f"got {self.strategy!r}",
            )
        if self.num_negatives <= 0:
            config_fail("miner.num_negatives", f"must be > 0, got {self.num_negatives}")
        if not 0.0 <= self.hard_ratio <= 1.0:
            config_fail("miner.hard_ratio", f"must be in [0, 1], got {self.hard_ratio}")
        if self.pool_size <= 0:
            config_fail("miner.pool_size", f"must be > 0, got {self.pool_size}")
        if self.refresh_every <= 0:
            config_fail("miner.refresh_every", f"must be > 0 steps, got {self.refresh_every}")
        if not 0.0 <= self.weighted_alpha < float("inf"):
            config_fail(
                "miner.weighted_alpha", f"must be finite and >= 0, got {self.weighted_alpha}"
            )
        if self.num_clusters <= 0:
            config_fail("miner.num_clusters", f"must be > 0, got {self.num_clusters}")
        if self.khop_min < 2:
            config_fail(
                "miner.khop_min", f"must be >= 2 (hop-1 nodes are related), got {self.khop_min}"
            )
        if self.khop_max < self.khop_min:
            config_fail(
                "miner.khop_max", f"must be >= miner.khop_min={self.khop_min}, got {self.khop_max}"
            )
        if self.pool_backend not in ("exact", "memmap", "faiss"):
            config_fail(
                "miner.pool_backend",
                f"must be one of ['exact', 'memmap', 'faiss'], got {self.pool_backend!r}",
            )
        if self.memory_budget <= 0:
            config_fail("miner.memory_budget", f"must be > 0 bytes, got {self.memory_budget}")


@dataclass
class MinerStage:
    """From epoch ``from_epoch`` (0-based, the first epoch it applies to) on, the miner
    settings in ``set`` (keys of :class:`MinerConfig`) replace the ones before."""

    from_epoch: int
    set: dict[str, Any] = field(default_factory=dict)


def resolve_miner_stages(
    base: MinerConfig, stages: list[MinerStage]
) -> list[tuple[int, MinerConfig]]:
    """``[(first_epoch, settings), ...]``, starting with ``(0, base)``: each stage's
    settings are the previous ones with its ``set`` applied, validated as ``miner`` is.

    Raises:
        ConfigError: naming ``miner_stages[i]...`` for an epoch not after the previous
        stage's, an empty ``set``, an unknown key or an invalid value.
    """
    resolved = [(0, base)]
    for i, stage in enumerate(stages):
        key = f"miner_stages[{i}]"
        previous_epoch, previous = resolved[-1]
        if stage.from_epoch <= previous_epoch:
            config_fail(
                f"{key}.from_epoch",
                f"must be > {previous_epoch} (stages start in order, after epoch 0), "
                f"got {stage.from_epoch}",
            )
        if not stage.set:
            config_fail(f"{key}.set", "is empty: name the miner settings that change")
        merged = {**to_dict(previous), **stage.set}
        try:
            settings = from_dict(MinerConfig, merged, prefix=f"{key}.set.")
        except ConfigError as exc:
            message = str(exc)
            raise ConfigError(message if key in message else f"{key}: {message}") from None
        resolved.append((stage.from_epoch, settings))
    return resolved


def stage_at(stages: list[tuple[int, MinerConfig]], epoch: int) -> int:
    """Index into :func:`resolve_miner_stages`' list of the stage in force at ``epoch``."""
    index = 0
    for i, (first_epoch, _) in enumerate(stages):
        if first_epoch <= epoch:
            index = i
    return index
