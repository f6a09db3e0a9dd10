"""A step's sampling: which negatives the training relations of a batch get.

Shared by the generic step (:meth:`Trainer.train_step
<contrastkit.train.trainer.Trainer.train_step>`) and the sparse table step
(:func:`~contrastkit.train.table_train_step.sparse_train_step`), so both draw the
same negatives from the same RNG stream: burn-in (degree-distributed negatives), the
curriculum's negative count and difficulty cap, uniform or mined negatives, and
``miner.shared_negatives`` (uniform negatives shared by groups of relations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from contrastkit.train.negatives import RelationNegatives, Strategy

if TYPE_CHECKING:
    from contrastkit.train.trainer import Trainer


def relations_and_negatives(
    trainer: Trainer, idx: Tensor
) -> tuple[Tensor, Tensor, RelationNegatives]:
    """Anchors ``u [B]``, positives ``v [B]`` and the negatives of the training
    relations ``idx [B]``: the sampling of a step (burn-in, curriculum, mining),
    shared by the generic and the sparse table step. With ``miner.shared_negatives``
    the uniform ones are shared by groups of relations, and a ``mixed`` miner's
    mined ones are each relation's own."""
    miner = trainer.miner
    u, v = trainer.task.train_edges[0, idx], trainer.task.train_edges[1, idx]
    k = trainer.schedules.num_negatives(miner.num_negatives)
    strategy: Strategy = miner.strategy
    if trainer.epoch < trainer.config.loop.burn_in_epochs and miner.burn_in_degree:
        strategy = "degree"
    group = miner.shared_negatives
    if group > 0 and strategy in ("uniform", "degree"):
        neg, mask = trainer.sampler.shared(u, k, group, strategy)
        return u, v, RelationNegatives(mask, shared=neg, group=group)
    pos_scores = None
    max_difficulty = trainer.schedules.max_difficulty()
    if strategy not in ("uniform", "degree"):
        # mining reads the current embedding without dropout noise
        trainer.encoder.eval()
        with torch.no_grad():
            if trainer.sampler.needs_refresh(trainer.step):
                trainer.sampler.refresh(trainer.encoder.embed_all(), trainer.distance, trainer.step)
            if strategy == "semihard" or max_difficulty is not None:
                pos_scores = trainer.distance.score_paired(trainer.encoder(u), trainer.encoder(v))
        trainer.encoder.train()
    if group > 0:  # mixed (MinerConfig allows no other): at least one shared negative
        n_own = min(round(miner.hard_ratio * k), k - 1)
        neg, mask = trainer.sampler.shared(u, k - n_own, group)
        if n_own == 0:
            return u, v, RelationNegatives(mask, shared=neg, group=group)
        own, own_mask = trainer.sampler.mined(
            u, n_own, positive_scores=pos_scores, max_difficulty=max_difficulty
        )
        both = torch.cat([mask, own_mask], 1)
        return u, v, RelationNegatives(both, shared=neg, own=own, group=group)
    neg, mask = trainer.sampler.sample(
        u,
        k,
        strategy,
        positive_scores=pos_scores,
        hard_ratio=miner.hard_ratio,
        max_difficulty=max_difficulty,
    )
    return u, v, RelationNegatives(mask, own=neg)
