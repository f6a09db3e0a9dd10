"""Data-parallel training on ``torch.distributed``.

* :mod:`~contrastkit.dist.env` — join the process group the launcher describes
  (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``; gloo on
  CPU, NCCL on CUDA); nothing happens for a single process.
* :mod:`~contrastkit.dist.rank_zero` — files, prints and progress from rank 0 only.
* :mod:`~contrastkit.dist.collectives` — barrier, broadcast, metric averaging.
* :mod:`~contrastkit.dist.seeding` — a reproducible seed per rank.
* :mod:`~contrastkit.dist.gather` — an all-gather that carries gradients (and constant
  tensors riding along in the same collective).
* :mod:`~contrastkit.dist.in_batch` — in-batch candidates across ranks (gather modes).
* :mod:`~contrastkit.dist.sparse_rows` — summing touched table rows across ranks.
"""

from contrastkit.dist.collectives import (
    all_gather_object,
    all_gather_rows,
    all_reduce_mean,
    barrier,
    broadcast_object,
    broadcast_tensor,
    build_on_rank_zero,
    computed_on_rank_zero,
)
from contrastkit.dist.env import (
    DistEnv,
    current,
    env_from_variables,
    init_from_env,
    is_distributed,
    rank,
    shutdown,
    world_size,
)
from contrastkit.dist.gather import (
    AllGatherWithGrad,
    all_gather_no_grad,
    all_gather_riding,
    all_gather_with_grad,
)
from contrastkit.dist.in_batch import GATHER_MODES, GatherMode, InBatchView, gather_in_batch
from contrastkit.dist.rank_zero import is_main, print_main, rank_zero_only
from contrastkit.dist.seeding import rank_seed, seed_rank
from contrastkit.dist.sparse_rows import all_reduce_rows

__all__ = [
    "GATHER_MODES",
    "AllGatherWithGrad",
    "DistEnv",
    "GatherMode",
    "InBatchView",
    "all_gather_no_grad",
    "all_gather_object",
    "all_gather_riding",
    "all_gather_rows",
    "all_gather_with_grad",
    "all_reduce_mean",
    "all_reduce_rows",
    "barrier",
    "broadcast_object",
    "broadcast_tensor",
    "build_on_rank_zero",
    "computed_on_rank_zero",
    "current",
    "env_from_variables",
    "gather_in_batch",
    "init_from_env",
    "is_distributed",
    "is_main",
    "print_main",
    "rank",
    "rank_seed",
    "rank_zero_only",
    "seed_rank",
    "shutdown",
    "world_size",
]
