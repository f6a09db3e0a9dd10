r"""The process group of a run, read from the environment that launchers set.

``torchrun`` (and Ray Train's ``TorchTrainer``, Spark's ``TorchDistributor``,
SLURM wrappers) describe a worker by environment variables: ``RANK`` (this worker,
``0 .. WORLD_SIZE - 1``), ``WORLD_SIZE``, ``LOCAL_RANK`` (its index on its machine:
the GPU it takes) and the rendezvous address ``MASTER_ADDR`` / ``MASTER_PORT``.
:func:`init_from_env` reads them and joins the group; with no ``WORLD_SIZE`` (or
``WORLD_SIZE=1``) it does nothing, so a single process runs exactly as before.

The backend follows where the run computes: NCCL when CUDA is available (each process
on GPU ``LOCAL_RANK``), gloo otherwise; ``backend="gloo"`` for a run that keeps its
tensors on the CPU whatever the machine has (the trainer does, so ``contrastkit train``
under ``torchrun`` joins a gloo group). Everything else in :mod:`contrastkit.dist`
asks :func:`world_size` / :func:`rank`, which answer 1 / 0 outside a group.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

#: the variables a launcher must set for a multi-process run (besides WORLD_SIZE)
REQUIRED_VARIABLES = ("RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its
    machine, the ``backend`` (``"gloo"``, ``"nccl"``, or ``None`` alone) and the
    ``device`` its tensors live on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int_variable(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = environ.get(name)
    if raw is None:
        if default is None:
            raise ValueError(f"environment variable {name} is not set (torchrun sets it)")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"environment variable {name} must be >= 0, got {value}")
    return value


def env_from_variables(
    environ: Mapping[str, str] | None = None, backend: str | None = None
) -> DistEnv:
    """The :class:`DistEnv` that ``environ`` (default ``os.environ``) describes, without
    joining anything: checked (integers, ``RANK < WORLD_SIZE``, the rendezvous set).
    ``backend``: ``"gloo"``, ``"nccl"`` or ``None`` (NCCL when CUDA is available)."""
    if backend not in (None, "gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo', 'nccl' or None, got {backend!r}")
    environ = os.environ if environ is None else environ
    world = _int_variable(environ, "WORLD_SIZE", 1)
    if world < 1:
        raise ValueError(f"environment variable WORLD_SIZE must be >= 1, got {world}")
    if world == 1:
        return DistEnv()
    missing = [name for name in REQUIRED_VARIABLES if name not in environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={world} but {', '.join(missing)} not set: launch with torchrun "
            "(or set RANK, MASTER_ADDR and MASTER_PORT for every process)"
        )
    rank = _int_variable(environ, "RANK")
    if rank >= world:
        raise ValueError(f"environment variable RANK={rank} must be < WORLD_SIZE={world}")
    local = _int_variable(environ, "LOCAL_RANK", rank)
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
    return DistEnv(rank, world, local, backend, device)


def init_from_env(timeout_s: float = 1800.0, backend: str | None = None) -> DistEnv:
    """Join the process group the environment describes (a no-op for one process, or
    when a group is already initialised: then that group's view is returned);
    ``backend`` as in :func:`env_from_variables`."""
    if dist.is_available() and dist.is_initialized():
        return current()
    env = env_from_variables(backend=backend)
    if not env.distributed:
        return env
    if env.backend == "nccl":
        torch.cuda.set_device(env.local_rank)
    dist.init_process_group(
        backend=env.backend,
        init_method="env://",
        rank=env.rank,
        world_size=env.world_size,
        timeout=timedelta(seconds=timeout_s),
    )
    return env


def current() -> DistEnv:
    """This process's view of the initialised group (a single-process env without one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistEnv()
    backend = str(dist.get_backend())
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", rank))
    device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
    return DistEnv(rank, world, local, backend, device)


def is_distributed() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def shutdown() -> None:
    """Leave the process group once every rank got here (a no-op when none is
    initialised)."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()  # no peer is still inside a collective of this group
        dist.destroy_process_group()
