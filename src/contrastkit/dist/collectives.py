"""Small collectives the trainer needs beside the gradient all-reduce: a barrier,
broadcasting a Python object from rank 0, averaging logged metrics, gathering
per-rank objects and tensors of unequal length, work done on rank 0 alone and its
result broadcast. Every function is the identity (or a
no-op) for a single process, so callers need not ask whether they run distributed.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from contrastkit.dist.env import current, is_distributed

T = TypeVar("T")


def barrier() -> None:
    """Wait until every rank gets here (rank 0's writes are then visible to all)."""
    if is_distributed():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (pickled: small objects only)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` alone)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_tensor(t: Tensor, src: int = 0) -> Tensor:
    """Rank ``src``'s ``t`` on every rank (same shape and dtype everywhere), in place."""
    if is_distributed():
        device = current().device
        moved = t.to(device)
        dist.broadcast(moved, src=src)
        if moved is not t:
            t.copy_(moved.to(t.device))
    return t


def all_reduce_mean(values: Mapping[str, float]) -> dict[str, float]:
    """Each metric averaged over the ranks (one all-reduce of a float64 vector); the
    ranks must pass the same keys. Used before logging, so the record equals the
    single-process one over the combined batch (equal per-rank batches)."""
    keys = sorted(values)
    if not is_distributed() or not keys:
        return {k: float(values[k]) for k in keys}
    vec = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    vec = vec.to(current().device)
    dist.all_reduce(vec)
    vec = vec.cpu() / dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, vec.tolist(), strict=True)}


def all_reduce_sum_(t: Tensor) -> Tensor:
    """``t`` summed over the ranks, in place."""
    if is_distributed():
        device = current().device
        moved = t.to(device)
        dist.all_reduce(moved)
        if moved is not t:
            t.copy_(moved.to(t.device))
    return t


def all_gather_rows(t: Tensor) -> tuple[Tensor, Tensor]:
    """Every rank's ``t [n_r, ...]`` concatenated in rank order, ``[sum n_r, ...]``,
    and the counts ``n_r [W]``. Lengths may differ: the rows are padded to the longest
    for the all-gather and trimmed after (two collectives)."""
    if not is_distributed():
        return t, torch.tensor([t.shape[0]])
    device = current().device
    world = dist.get_world_size()
    n = torch.tensor([t.shape[0]], device=device)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n)
    sizes = torch.cat(counts).cpu()
    longest = int(sizes.max())
    padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=device)
    padded[: t.shape[0]] = t.to(device)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    rows = torch.cat([p[: int(c)] for p, c in zip(parts, sizes.tolist(), strict=True)])
    return rows.to(t.device), sizes


def build_on_rank_zero(build: Callable[[], Tensor]) -> Tensor:
    """``build()`` run on rank 0 only and broadcast to every rank (a mining pool, an
    index's vectors: computed once instead of ``W`` times). Two collectives: the
    shape and dtype, then the tensor."""
    if not is_distributed():
        return build()
    built = build() if dist.get_rank() == 0 else None
    spec = broadcast_object(None if built is None else (tuple(built.shape), built.dtype))
    shape, dtype = spec
    out = built.contiguous() if built is not None else torch.empty(shape, dtype=dtype)
    return broadcast_tensor(out)


def broadcast_tensors(
    tensors: Mapping[str, Tensor | None], src: int = 0
) -> dict[str, Tensor | None]:
    """Rank ``src``'s ``{name: tensor or None}`` on every rank (what other ranks pass is
    ignored): one object collective for the shapes and dtypes, one broadcast per tensor."""
    if not is_distributed():
        return dict(tensors)
    mine = dist.get_rank() == src
    spec = broadcast_object(
        {k: None if v is None else (tuple(v.shape), v.dtype) for k, v in tensors.items()}
        if mine
        else None,
        src=src,
    )
    out: dict[str, Tensor | None] = {}
    for name, shape_dtype in spec.items():
        if shape_dtype is None:
            out[name] = None
            continue
        given = tensors.get(name) if mine else None
        shape, dtype = shape_dtype
        t = given.contiguous() if given is not None else torch.empty(shape, dtype=dtype)
        out[name] = broadcast_tensor(t, src=src)
    return out


def computed_on_rank_zero(compute: Callable[[], T]) -> T:
    """``compute()`` run on rank 0 alone, its (picklable, small) result broadcast to
    every rank: work whose result is equal on every rank (an evaluation of the
    replicated model) done once instead of ``W`` times, the other ranks waiting in the
    broadcast. An exception on rank 0 is raised on every rank (the same exception where
    it pickles, else a ``RuntimeError`` naming it), so no rank waits forever."""
    if not is_distributed():
        return compute()
    if dist.get_rank() != 0:
        ok, payload = broadcast_object(None)
        if not ok:
            raise payload
        return payload
    try:
        result = compute()
    except Exception as exc:
        try:
            pickle.dumps(exc)
            sent: BaseException = exc
        except Exception:
            sent = RuntimeError(f"rank 0 failed: {type(exc).__name__}: {exc}")
        broadcast_object((False, sent))
        raise
    broadcast_object((True, result))
    return result
