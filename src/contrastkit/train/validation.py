"""The fixed held-out batch the validation loss is computed on."""

from __future__ import annotations

import torch

from contrastkit.mining.relation_sampler import RelationNegativeSampler
from contrastkit.objectives.batch import Batch
from contrastkit.train.config import TrainConfig
from contrastkit.train.task import GraphTask

MAX_RELATIONS = 4096


def validation_layout(task: GraphTask, config: TrainConfig, temperature: float) -> Batch | None:
    """Up to 4,096 held-out relations with uniform negatives drawn once from their own
    seed, so that the validation loss is comparable between evaluations; ``None``
    without a link-prediction split."""
    split = task.split
    if split is None:
        return None
    take = split.test_pos[:, :MAX_RELATIONS]
    gen = torch.Generator().manual_seed(config.loop.seed + 1)
    sampler = RelationNegativeSampler(task.known, generator=gen)
    neg, mask = sampler.sample(take[0], config.miner.num_negatives, "uniform")
    return Batch.from_ids(take[0], take[1], neg, mask, temperature)
