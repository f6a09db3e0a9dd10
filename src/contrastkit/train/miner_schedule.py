"""The miner of a run over its epochs: the settings in force (``miner``, then each of
``miner_stages`` from its epoch on) and the :class:`RelationNegativeSampler` built for
them. A new stage gets a new sampler (its pool size, refresh interval and exclusions)
drawing from the run's one generator; its hard pool is mined at its first hard draw.

Every stage's ``num_negatives`` is checked against the graph once it is known: an
anchor has at most ``N - 1`` distinct negatives (every node but itself), so a larger
count repeats nodes (uniform draws are independent, a pool's missing slots are refilled
uniformly): :func:`~contrastkit.train.negative_count.warn_repeated_negatives` warns,
naming the setting and both numbers."""

from __future__ import annotations

import torch

from contrastkit.mining.relation_sampler import RelationNegativeSampler
from contrastkit.train.config import TrainConfig
from contrastkit.train.miner_config import MinerConfig, resolve_miner_stages, stage_at
from contrastkit.train.negative_count import warn_repeated_negatives
from contrastkit.train.task import GraphTask


class MinerSchedule:
    """``miner`` and ``sampler`` for the epoch last passed to :meth:`enter`."""

    def __init__(self, config: TrainConfig, task: GraphTask, generator: torch.Generator) -> None:
        self.task = task
        self.generator = generator
        self.stages = resolve_miner_stages(config.miner, config.miner_stages)
        check_num_negatives(self.stages, task.num_nodes)
        self.index = 0
        self.miner: MinerConfig = config.miner
        self.sampler = self._sampler_for(self.miner)

    def enter(self, epoch: int) -> None:
        """Take the stage in force at ``epoch`` if it is not the current one."""
        index = stage_at(self.stages, epoch)
        if index != self.index:
            self.index = index
            self.miner = self.stages[index][1]
            self.sampler = self._sampler_for(self.miner)

    def _sampler_for(self, miner: MinerConfig) -> RelationNegativeSampler:
        return RelationNegativeSampler(
            self.task.related,
            generator=self.generator,
            pool_size=miner.pool_size,
            refresh_every=miner.refresh_every,
            pool_excludes=(
                self.task.lineage()
                if miner.pool_excludes_descendants and self.task.hierarchical
                else None
            ),
            pool_deeper_only=miner.pool_deeper_only,
            weighted_alpha=miner.weighted_alpha,
            num_clusters=miner.num_clusters,
            labels=self.task.graph.y if miner.strategy == "category" else None,
            khop_min=miner.khop_min,
            khop_max=miner.khop_max,
            pool_backend=miner.pool_backend,
            memory_budget=miner.memory_budget,
        )


def check_num_negatives(stages: list[tuple[int, MinerConfig]], num_nodes: int) -> None:
    """:func:`warn_repeated_negatives` for every stage's ``num_negatives``
    (``miner.num_negatives``, then ``miner_stages[i].set.num_negatives``)."""
    for i, (_, miner) in enumerate(stages):
        key = "miner.num_negatives" if i == 0 else f"miner_stages[{i - 1}].set.num_negatives"
        warn_repeated_negatives(key, miner.num_negatives, num_nodes)
