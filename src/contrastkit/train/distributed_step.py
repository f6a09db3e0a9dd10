"""The training steps under data parallelism.

:class:`DistributedAutogradStep` runs the encoder through
``DistributedDataParallel`` (DDP): its forward is the step's encoding (the batch, and
the corrupted batch for Deep Graph Infomax, in one call), so DDP's bucketed gradient
all-reduce overlaps the backward; the trained parameters outside the encoder (a
learnable temperature, a classifier head, adaptive loss weights) are averaged in one
flat all-reduce after it. Gradient caching replays its chunks under ``no_sync()``
except the last: one gradient synchronisation per optimiser step. Under PCGrad the
forward runs under ``no_sync()`` too: each objective's flat gradient is averaged over
ranks (one all-reduce of the ``[K, P]`` matrix) and the projection is applied to the
averages, so a run equals the single-process PCGrad on the combined batch.

:class:`DistributedSparseStep` is the fused table step with the touched rows of every
rank summed (:func:`~contrastkit.dist.sparse_rows.all_reduce_rows`): each rank applies
the same rows, so the tables stay equal without a dense all-reduce.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from contrastkit.dist.collectives import all_gather_rows, all_reduce_sum_
from contrastkit.dist.env import world_size
from contrastkit.dist.sparse_rows import all_reduce_rows
from contrastkit.objectives.batch import Batch
from contrastkit.train.encoders import NodeEncoder
from contrastkit.train.step import AutogradStep, SparseStep, StepOutput


class EncoderCall(nn.Module):
    """DDP's module: ``forward(batch)`` -> ``(z, z_corrupt or None)``; ``forward(items)``
    (a tensor of ids) -> embeddings. One forward per backward, as DDP needs."""

    def __init__(self, encoder: NodeEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, inputs: Batch | Tensor, corruption: torch.Generator | None = None) -> Any:
        if isinstance(inputs, Tensor):
            return self.encoder(inputs)
        z = self.encoder.encode(inputs)
        zc = None if corruption is None else self.encoder.encode_corrupted(inputs, corruption)
        return z, zc


def sparse_parameter_names(module: nn.Module) -> set[str]:
    """Names of the parameters whose gradients are sparse (an embedding table with
    ``sparse=True``): DDP's buckets hold dense gradients only."""
    return {
        f"{prefix}.{name}" if prefix else name
        for prefix, sub in module.named_modules()
        if getattr(sub, "sparse", False) is True
        for name, _ in sub.named_parameters(recurse=False)
    }


def wrap_encoder(
    encoder: NodeEncoder, find_unused_parameters: bool
) -> DistributedDataParallel | None:
    """``encoder`` under DDP where it lives (every rank starts from rank 0's
    parameters: DDP broadcasts them); ``None`` when it has no dense parameter to train
    (fixed embeddings, or a sparse table alone: averaged by hand instead)."""
    # on the device it lives on (the trainer's: the CPU; a GPU under NCCL when moved)
    device = next(iter(encoder.parameters()), torch.empty(0)).device
    ids = [device.index] if device.type == "cuda" else None
    module = EncoderCall(encoder)
    sparse = sparse_parameter_names(module)
    if not any(p.requires_grad for n, p in module.named_parameters() if n not in sparse):
        return None
    # non-persistent buffers are inputs every rank holds (features, the graph's edges):
    # DDP would broadcast them from rank 0 before every forward; trained statistics
    # (BatchNorm's running mean and variance) are persistent and still broadcast
    inputs = [
        f"{prefix}.{name}" if prefix else name
        for prefix, sub in module.named_modules()
        for name in sub._non_persistent_buffers_set
    ]
    ignored = inputs + sorted(sparse)
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, ignored)
    return DistributedDataParallel(
        module,
        device_ids=ids,
        find_unused_parameters=find_unused_parameters,
    )


def _average_sparse_(p: Tensor) -> None:
    """``p.grad`` (sparse ``[N, d]``) replaced by the mean over ranks: every rank's
    touched row indices and values all-gathered (a sparse all-reduce), summed."""
    g = p.grad
    if g is None:  # the caller passes only parameters that received a gradient
        raise RuntimeError("_average_sparse_ needs a parameter with a gradient")
    g = g.coalesce()
    rows, _ = all_gather_rows(g.indices().t())
    values, _ = all_gather_rows(g.values())
    total = torch.sparse_coo_tensor(rows.t(), values / world_size(), g.shape)
    p.grad = total.coalesce()


def average_gradients_(params: list[Tensor], loss: Tensor | None = None) -> Tensor | None:
    """The ``.grad`` of ``params`` averaged over ranks: dense ones in one flat
    all-reduce, sparse ones by their rows (parameters without a gradient are left
    alone; they are the same on every rank).

    ``loss``: a scalar riding along in the same all-reduce (a step's loss, which every
    rank's guard must judge alike): its mean over ranks is returned (float64, as
    :meth:`~contrastkit.train.data_parallel.DataParallel.mean_loss`), ``None``
    without one. With a loss the flat buffer is float64 (a float32 gradient's mean is
    then rounded once, from the exact float64 sum)."""
    if world_size() == 1:
        return None if loss is None else loss.detach().to(torch.float64).reshape(())
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            _average_sparse_(p)
    grads = [p.grad for p in params if p.grad is not None and not p.grad.is_sparse]
    if not grads and loss is None:
        return None
    parts = [g.reshape(-1) for g in grads]
    if loss is not None:
        parts = [t.to(torch.float64) for t in parts]
        parts.append(loss.detach().to(torch.float64).reshape(1))
    flat = torch.cat(parts)
    dist.all_reduce(flat)
    flat.div_(world_size())
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
    return None if loss is None else flat[-1]


def mean_over_ranks_(t: Tensor) -> Tensor:
    """``t`` replaced by its mean over ranks, in place (one all-reduce)."""
    return all_reduce_sum_(t).div_(world_size())


class DistributedAutogradStep(AutogradStep):
    """:class:`~contrastkit.train.step.AutogradStep` with the encoder under DDP."""

    ddp: DistributedDataParallel | None

    def __init__(self, step: AutogradStep, find_unused_parameters: bool = False) -> None:
        self.__dict__.update(step.__dict__)
        if self.pcgrad is not None:
            # every objective's gradient averaged over ranks, then projected: the
            # projection of the combined batch's gradients, the same on every rank
            self.pcgrad.reduce = mean_over_ranks_
        self.ddp = wrap_encoder(step.encoder, find_unused_parameters)
        in_ddp: set[int] = set()
        if self.ddp is not None:
            ignored = set(self.ddp.parameters_to_ignore)
            in_ddp = {id(p) for n, p in self.ddp.module.named_parameters() if n not in ignored}
        # trained outside the encoder: averaged by hand after the backward
        self.extra = [p for p in self.parameters if id(p) not in in_ddp]
        # (the step's loss, its mean over ranks): what DataParallel.mean_loss returns
        # for that loss without a collective of its own
        self.reduced_loss: tuple[Tensor, Tensor] | None = None

    def encode(self, batch: Batch) -> Batch:
        if self.ddp is None:
            return super().encode(batch)
        with self._autocast():
            z, zc = self.ddp(batch, self.corruption if self.corrupt else None)
        return batch.with_z(z, zc)

    def encode_items(self, items: Tensor) -> Tensor:
        if self.ddp is None:
            return super().encode_items(items)
        with self._autocast():
            z: Tensor = self.ddp(items)
        return z if z.dtype == torch.float64 else z.float()

    def replay_context(self, last: bool) -> AbstractContextManager[Any]:
        return nullcontext() if last or self.ddp is None else self.ddp.no_sync()

    def compute(self, batch: Batch, keep_z: bool = False) -> StepOutput:
        if self.pcgrad is not None:
            # PCGrad takes each objective's gradient with autograd.grad and averages
            # them itself (PCGrad.reduce): DDP's bucketed all-reduce of the summed
            # gradient would be the wrong quantity, so its forward runs unsynced
            with nullcontext() if self.ddp is None else self.ddp.no_sync():
                out = super().compute(batch, keep_z)
            total = out.combined.total
            mean = average_gradients_([], total)  # the loss alone: one all-reduce
            self.reduced_loss = None if mean is None else (total, mean)
            return out
        out = super().compute(batch, keep_z)
        # the parameters outside DDP and the loss in one all-reduce: a collective on gloo
        # costs a rendezvous of the ranks whatever its few bytes
        total = out.combined.total
        mean = average_gradients_(self.extra, total)
        self.reduced_loss = None if mean is None else (total, mean)
        return out


class DistributedSparseStep(SparseStep):
    """:class:`~contrastkit.train.step.SparseStep` whose rows are summed over ranks."""

    def __init__(self, step: SparseStep) -> None:
        self.__dict__.update(step.__dict__)

    def compute(self, batch: Batch, keep_z: bool = False) -> StepOutput:
        out = super().compute(batch, keep_z)
        out.rows = all_reduce_rows(out.rows, int(self.table_step.weight.shape[0]))
        # the guard checks the gradients every rank applies (equal on every rank)
        out.gradients = tuple(g for _, g in out.rows)
        return out
