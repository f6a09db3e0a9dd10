"""Run a function on ``W`` gloo processes (file rendezvous, one thread each) and
collect what each rank returns."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(
    rank: int,
    world: int,
    init: str,
    out: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    backend: str,
) -> None:
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        result = fn(rank, world, *args)
        torch.save(result, Path(out) / f"rank{rank}.pt")
        del result
        gc.collect()  # DDP reducers of the run go before the group they use
        dist.barrier()  # no peer is inside a collective when the group goes
    finally:
        dist.destroy_process_group()


def run_ranks(
    fn: Callable[..., Any],
    tmp_path: Path,
    *args: Any,
    world: int = 2,
    backend: str = "gloo",
    start_method: str = "spawn",
) -> list[Any]:
    """``fn(rank, world, *args)`` on ``world`` processes in a fresh ``backend`` group;
    the list of what each returned (saved with ``torch.save``), in rank order.

    ``start_method="fork"`` (gloo only: CUDA cannot be forked) starts the ranks as
    copies of this process, with what it has imported: a rank then skips the imports
    a spawned one repeats (sentence-transformers alone takes seconds), as PyTorch's
    own distributed tests run in both a fork and a spawn variant. The ranks inherit
    this process's module state, so fork before this process builds anything of its
    own; the worker sets one thread before any work (an inherited OpenMP pool is not
    fork-safe)."""
    if start_method == "fork" and backend != "gloo":
        raise ValueError(f"start_method 'fork' needs the gloo backend, got {backend!r}")
    init = tmp_path / f"rendezvous-{os.getpid()}-{len(list(tmp_path.iterdir()))}"
    out = tmp_path / f"out-{init.name}"
    out.mkdir()
    spawn_args = (world, str(init), str(out), fn, args, backend)
    mp.start_processes(_worker, args=spawn_args, nprocs=world, join=True, start_method=start_method)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world)]
