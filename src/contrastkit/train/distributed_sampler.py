"""Which examples each rank trains on: ``DistributedSampler`` for global batches.

Every rank draws the epoch's order from the run seed and the epoch alone
(:meth:`DistributedBatchSampler.set_epoch`, as ``torch.utils.data.
DistributedSampler``), so all ranks agree on it without communicating. Global batch
``t`` is positions ``[t b, (t + 1) b)`` of the order (``b = loop.batch_size``), and
rank ``r`` of ``W`` takes its ``r``-th contiguous share of ``b / W`` examples: the
ranks' batches concatenated in rank order are the global batch, which is what a
single process trains on, so a run on ``W`` processes takes the same steps.

Every rank must hold the same number of examples (collectives need equal shapes):
an epoch's incomplete last global batch is dropped (``drop_last``) or filled up with
the first examples of the order (``DistributedSampler``'s padding).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit.typed_config import ConfigError


class DistributedBatchSampler:
    """Rank ``rank`` of ``world_size``'s examples of each global batch of ``batch_size``
    over ``num_examples`` examples, in an order drawn from ``(seed, epoch)``."""

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        world_size: int,
        rank: int,
        seed: int,
        drop_last: bool = False,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if batch_size % world_size:
            raise ConfigError(
                f"loop.batch_size {batch_size} must be a multiple of the number of "
                f"processes ({world_size}): each takes an equal share of every batch"
            )
        if drop_last and num_examples < batch_size:
            raise ConfigError(
                f"loop.batch_size {batch_size} is larger than the {num_examples} examples "
                "of an epoch and distributed.drop_last drops that batch: nothing to train"
            )
        self.num_examples, self.batch_size = num_examples, batch_size
        self.world_size, self.rank = world_size, rank
        self.seed, self.drop_last = seed, drop_last
        self.share = batch_size // world_size
        self.epoch = 0

    @property
    def batches_per_epoch(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def permutation(self) -> Tensor:
        """The epoch's order of all examples ``[num_examples]`` (equal on every rank)."""
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.num_examples, generator=gen)

    def global_batch(self, perm: Tensor, t: int) -> Tensor:
        """Global batch ``t`` of the order ``perm``: ``[batch_size]`` example ids (the
        last one filled up from the start of ``perm`` when short)."""
        b = self.batch_size
        ids = perm[t * b : (t + 1) * b]
        if ids.numel() < b:
            fill = perm.repeat(-(-b // perm.numel()))  # the order again, as often as needed
            ids = torch.cat([ids, fill[: b - ids.numel()]])
        return ids

    def batch(self, perm: Tensor, t: int) -> Tensor:
        """This rank's ``[batch_size / world_size]`` examples of global batch ``t``."""
        ids = self.global_batch(perm, t)
        return ids[self.rank * self.share : (self.rank + 1) * self.share]
