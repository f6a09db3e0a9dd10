"""What the trainer does differently on several processes (``torchrun``).

:class:`DataParallel` is created by the :class:`~contrastkit.train.trainer.Trainer`
when a process group of more than one rank is running
(:func:`contrastkit.dist.init_from_env`), and is ``None`` otherwise — a single process
runs exactly as before. It owns:

* the sampler (:class:`~contrastkit.train.distributed_sampler.DistributedBatchSampler`):
  ``loop.batch_size`` is the global batch, each rank takes its share;
* the step under DDP (:mod:`~contrastkit.train.distributed_step`);
* per-rank seeds (:func:`~contrastkit.dist.seeding.rank_seed`) for what each rank
  draws on its own (negatives, dropout, corruption), after everything that must be
  equal everywhere (the model, the splits) was built from the run seed;
* the logged numbers averaged over ranks (the loss the guard checks, the metrics
  records), so they equal the single-process ones of the combined batch;
* the per-rank RNG states in the checkpoint rank 0 writes, so that every rank
  resumes bit-identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from contrastkit.dist.collectives import (
    all_gather_object,
    all_reduce_mean,
    all_reduce_sum_,
    broadcast_object,
)
from contrastkit.dist.env import current
from contrastkit.dist.seeding import rank_seed
from contrastkit.train.checkpoint import CheckpointError
from contrastkit.train.config import TrainConfig
from contrastkit.train.distributed_sampler import DistributedBatchSampler
from contrastkit.train.distributed_step import DistributedAutogradStep, DistributedSparseStep
from contrastkit.train.step import AutogradStep, SparseStep
from contrastkit.typed_config import ConfigError

#: record fields that add up over ranks rather than average
SUMMED_FIELDS = ("examples_per_s",)


class DataParallel:
    """The data-parallel parts of one rank's trainer (see the module docstring)."""

    def __init__(self, config: TrainConfig, num_examples: int) -> None:
        env = current()
        self.rank, self.world_size = env.rank, env.world_size
        self.config = config
        self.sampler = DistributedBatchSampler(
            num_examples,
            config.loop.batch_size,
            env.world_size,
            env.rank,
            config.loop.seed,
            drop_last=config.distributed.drop_last,
        )
        self.step: DistributedAutogradStep | DistributedSparseStep | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap_step(
        self, step: AutogradStep | SparseStep
    ) -> DistributedAutogradStep | DistributedSparseStep:
        wrapped: DistributedAutogradStep | DistributedSparseStep
        if isinstance(step, SparseStep):
            wrapped = DistributedSparseStep(step)
        else:
            try:
                wrapped = DistributedAutogradStep(
                    step, self.config.distributed.find_unused_parameters
                )
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        self.step = wrapped
        return wrapped

    def seed(self, generator: torch.Generator, corruption: torch.Generator | None) -> None:
        """This rank's streams: the run's generator and torch's global RNG from
        ``rank_seed(loop.seed)``, DGI's corruption from ``rank_seed(loop.seed + 4)``."""
        seed = self.config.loop.seed
        s = rank_seed(seed, self.rank)
        torch.manual_seed(s)
        generator.manual_seed(s)
        if corruption is not None:
            corruption.manual_seed(rank_seed(seed + 4, self.rank))

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (a decision read off a clock, which ranks
        would otherwise take at different steps)."""
        return bool(broadcast_object(flag))

    def mean_loss(self, loss: Tensor) -> Tensor:
        """The step's loss averaged over ranks (a NaN anywhere is a NaN everywhere, so
        every rank's guard decides alike). The autograd step averages its loss in the
        all-reduce of its parameters outside DDP: that mean is returned as it is."""
        reduced = getattr(self.step, "reduced_loss", None)
        if reduced is not None and reduced[0] is loss:
            return reduced[1]
        total = loss.detach().to(torch.float64).reshape(1).clone()
        return all_reduce_sum_(total)[0] / self.world_size

    def reduce_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A metrics record with every number averaged over ranks (throughputs summed)."""
        numbers = {
            k: float(v)
            for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        mean = all_reduce_mean(numbers)
        out = dict(record)
        for k, v in mean.items():
            value = v * self.world_size if k in SUMMED_FIELDS else v
            out[k] = round(value) if isinstance(record[k], int) else value
        return out

    def reduce_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """The training-loss averages of an evaluation (each rank's own batches)
        averaged over ranks; the evaluation itself is rank 0's, broadcast."""
        return all_reduce_mean(metrics)

    def rank_states(self, generator: torch.Generator, task_state: Any) -> list[Any]:
        """Every rank's RNG states and task state, in rank order (a collective)."""
        own = {
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "task": task_state,
        }
        return all_gather_object(own)

    def own_state(self, state: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
        """This rank's entry of a checkpoint's ``dist`` states (``None`` when the
        checkpoint was written by a single process: every rank then starts from its
        own seed at that position)."""
        ranks = state.get("dist")
        if ranks is None:
            return None
        if len(ranks) != self.world_size:
            raise CheckpointError(
                f"checkpoint {where} was written by {len(ranks)} processes; this run has "
                f"{self.world_size} (resume with --nproc_per_node={len(ranks)})"
            )
        entry: Mapping[str, Any] = ranks[self.rank]
        return entry
