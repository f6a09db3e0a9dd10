"""A relation batch's sampling: which negatives the training relations get.

One function for the autograd and the sparse table step, so both draw the same
negatives from the same RNG stream: burn-in (degree-distributed negatives), the
curriculum's negative count and difficulty cap, random or mined negatives, and
``miner.shared_negatives`` (random negatives shared by groups of relations).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.mining.relation_sampler import (
    RelationNegatives,
    RelationNegativeSampler,
    uses_embedding,
)
from contrastkit.train.distributed_mining import refresh_pool
from contrastkit.train.miner_config import MinerConfig
from contrastkit.train.task_base import SampleContext

RANDOM_KINDS = ("random", "degree")
NEEDS_POSITIVE_SCORES = ("semi_hard",)


def relation_negatives(
    u: Tensor,
    v: Tensor,
    sampler: RelationNegativeSampler,
    miner: MinerConfig,
    ctx: SampleContext,
    burn_in: bool,
) -> RelationNegatives:
    """The negatives of the relations ``(u [B], v [B])``. ``burn_in``: degree-distributed
    negatives (N&K's burn-in) when the miner asks for them. With
    ``miner.shared_negatives`` the random ones are shared by groups of relations, and a
    ``mixed`` miner's mined ones are each relation's own."""
    k = miner.num_negatives if ctx.num_negatives is None else ctx.num_negatives
    strategy = miner.strategy  # canonical (MinerConfig stores it so)
    if burn_in and miner.burn_in_degree:
        strategy = "degree"
    group = miner.shared_negatives
    if group > 0 and strategy in RANDOM_KINDS:
        kind = "degree" if strategy == "degree" else "uniform"
        neg, mask = sampler.shared(u, k, group, kind)
        return RelationNegatives(mask, shared=neg, group=group)
    pos_scores = None
    max_difficulty = ctx.max_difficulty
    if uses_embedding(strategy) or (strategy not in RANDOM_KINDS and max_difficulty is not None):
        encoder, distance = ctx.encoder, ctx.distance
        # mining reads the current embedding without dropout noise
        encoder.eval()
        with torch.no_grad():
            if uses_embedding(strategy) and sampler.needs_refresh(ctx.step, strategy):
                # under data parallelism: built on rank 0 and broadcast
                refresh_pool(sampler, encoder.embed_all, distance, ctx.step, strategy)
            if strategy in NEEDS_POSITIVE_SCORES or max_difficulty is not None:
                pos_scores = distance.score_paired(encoder(u), encoder(v))
        encoder.train()
    if group > 0:  # mixed (MinerConfig allows no other): at least one shared negative
        n_own = min(round(miner.hard_ratio * k), k - 1)
        neg, mask = sampler.shared(u, k - n_own, group)
        if n_own == 0:
            return RelationNegatives(mask, shared=neg, group=group)
        own, own_mask = sampler.mined(
            u, n_own, positive_scores=pos_scores, max_difficulty=max_difficulty
        )
        both = torch.cat([mask, own_mask], 1)
        return RelationNegatives(both, shared=neg, own=own, group=group)
    neg, mask = sampler.sample(
        u,
        k,
        strategy,
        positive_scores=pos_scores,
        hard_ratio=miner.hard_ratio,
        max_difficulty=max_difficulty,
    )
    return RelationNegatives(mask, own=neg)
