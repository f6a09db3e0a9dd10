"""One training step behind one interface: a batch in, the losses and gradients out,
then the update.

:class:`AutogradStep` encodes the batch, evaluates every objective, combines them
and back-propagates (one ``backward``, per-objective gradients for PCGrad, or
gradient caching in chunks); :meth:`apply` is the optimiser's step.
:class:`SparseStep` is the fused table step of :mod:`~contrastkit.train.table_step`:
InfoNCE over a free embedding table, gradients with respect to the gathered rows
only, applied to the touched rows. The trainer drives both the same way::

    out = step.compute(batch, keep_z)
    if guard.check(out.combined.total, step.parameters, out.gradients):
        clip; step.apply(lr); schedules.after_optimizer_step(step.uses_optimizer)

so the guard, the loss bookkeeping, clipping and logging happen once, in the trainer.
Neither step knows the trainer: they get the encoder, the objectives, the combiner
and the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit.losses.pcgrad import PCGrad
from contrastkit.losses.temperature import Temperature
from contrastkit.losses.weighting import CombinedLoss
from contrastkit.objectives.batch import Batch
from contrastkit.optim.row_adagrad import RowAdagrad
from contrastkit.train.encoders import NodeEncoder
from contrastkit.train.grad_cache import grad_cache_step
from contrastkit.train.table_step import SparseTableStep

Combine = Callable[[Mapping[str, Tensor]], CombinedLoss]


@dataclass
class StepOutput:
    """What a step computed: the combined loss with its components, the batch (with
    ``z`` filled when asked to keep it) and gradients held outside ``.grad``."""

    combined: CombinedLoss
    batch: Batch
    gradients: tuple[Tensor, ...] = ()
    rows: list[tuple[Tensor, Tensor]] = field(default_factory=list)


class AutogradStep:
    """Encoder forward, objectives, combiner, backward; ``apply`` steps the optimiser."""

    uses_optimizer = True

    def __init__(
        self,
        encoder: NodeEncoder,
        objectives: nn.ModuleDict,
        combine: Combine,
        optimizer: torch.optim.Optimizer,
        *,
        pcgrad: PCGrad | None = None,
        grad_cache_chunks: int = 1,
        grad_cache_chunk_size: int = 0,
        autocast: bool = False,
        corruption_seed: int = 0,
    ) -> None:
        self.encoder = encoder
        self.objectives = objectives
        self.combine = combine
        self.optimizer = optimizer
        self.pcgrad = pcgrad
        self.chunks = grad_cache_chunks
        self.chunk_size = grad_cache_chunk_size
        self.autocast = autocast
        self.corrupt = any("corruption" in o.needs for o in objectives.values())  # type: ignore[operator]
        self.corruption = torch.Generator().manual_seed(corruption_seed)

    @property
    def parameters(self) -> list[Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def _autocast(self) -> Any:
        """bf16 autocast on CPU for feature encoders (``loop.autocast``); a no-op otherwise."""
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast)

    def losses(self, batch: Batch) -> tuple[CombinedLoss, dict[str, Tensor]]:
        """Every objective on ``batch`` (``z`` filled) and their combination."""
        # bf16 from autocast goes back to float32; a float64 table stays float64
        z = batch.z if batch.z.dtype == torch.float64 else batch.z.float()
        zc = batch.z_corrupt
        if zc is not None and zc.dtype != z.dtype:
            zc = zc.to(z.dtype)
        batch = batch.with_z(z, zc)
        losses = {name: obj(batch) for name, obj in self.objectives.items()}
        return self.combine(losses), losses

    def encode(self, batch: Batch) -> Batch:
        with self._autocast():
            z = self.encoder.encode(batch)
            zc = self.encoder.encode_corrupted(batch, self.corruption) if self.corrupt else None
        return batch.with_z(z, zc)

    def compute(self, batch: Batch, keep_z: bool = False) -> StepOutput:
        self.encoder.train()
        self.optimizer.zero_grad(set_to_none=True)
        if self.chunks <= 1 and self.chunk_size <= 0:
            encoded = self.encode(batch)
            combined, losses = self.losses(encoded)
            if self.pcgrad is None:
                combined.total.backward()
            else:
                # PCGrad (Yu et al. 2020): per-objective gradients of the weighted losses,
                # conflicting components projected away, the sum written to .grad
                self.pcgrad.pc_backward(
                    {n: losses[n] * combined.components[n].weight for n in losses}
                )
            return StepOutput(combined, encoded.with_z(encoded.z.detach()))
        # gradient caching: the loss still sees every item of the batch, so in-batch and
        # mined negatives are unchanged; the encoder runs in chunks of items
        captured: list[CombinedLoss] = []

        def loss_fn(z: Tensor) -> Tensor:
            captured.append(self.losses(batch.with_z(z))[0])
            return captured[-1].total

        encode = self.encode_items
        items = batch.items
        size = self.chunk_size if self.chunk_size > 0 else -(-items.numel() // self.chunks)
        grad_cache_step(encode, list(items.split(size)), loss_fn, replay=self.replay_context)
        z = torch.empty(0)
        if keep_z:
            with torch.no_grad():
                z = torch.cat([encode(c) for c in items.split(size)])
        return StepOutput(captured[-1], batch.with_z(z))

    def encode_items(self, items: Tensor) -> Tensor:
        """Embeddings ``[n, d]`` of ``items [n]`` (gradient caching's chunks; float64
        stays float64, as in :meth:`losses`)."""
        with self._autocast():
            z: Tensor = self.encoder(items)
        return z if z.dtype == torch.float64 else z.float()

    def replay_context(self, last: bool) -> AbstractContextManager[Any]:
        """What a gradient-caching replay runs in (``last``: the batch's last chunk);
        data parallelism defers the gradient all-reduce to the last one."""
        return nullcontext()

    def apply(self, out: StepOutput, lr: float) -> None:
        self.optimizer.step()
        for obj in self.objectives.values():
            temperature = getattr(obj, "temperature", None)
            if isinstance(temperature, Temperature):
                temperature.clamp_()


class SparseStep:
    """InfoNCE on a free embedding table with gradients taken for the gathered rows
    only (:class:`~contrastkit.train.table_step.SparseTableStep`); the update reads the
    schedules' rate and, for ``radagrad``, the optimiser's own row accumulators."""

    uses_optimizer = False

    def __init__(
        self,
        table_step: SparseTableStep,
        encoder: NodeEncoder,
        combine: Combine,
        optimizer: torch.optim.Optimizer,
    ) -> None:
        self.table_step = table_step
        self.encoder = encoder
        self.combine = combine
        self.optimizer = optimizer

    @property
    def parameters(self) -> list[Tensor]:
        return []  # its gradients are held outside .grad: StepOutput.gradients

    def compute(self, batch: Batch, keep_z: bool = False) -> StepOutput:
        if batch.relations is None:
            raise ValueError("the sparse table step needs a relation batch (batch.relations)")
        step, rel = self.table_step, batch.relations
        u, v, negatives = rel.u, rel.v, rel.negatives
        temperature = batch.temperature
        captured: list[CombinedLoss] = []

        def total(loss: Tensor) -> Tensor:
            captured.append(self.combine({"infonce": loss}))
            return captured[-1].total

        grads: tuple[Tensor, ...]
        shared, own, mask = negatives.shared, negatives.own, negatives.mask
        if shared is not None:
            ks = negatives.num_shared
            own_mask = None if own is None else mask[:, ks:]
            _, grads = step.shared_loss_and_grads(
                u, v, shared, mask[:, :ks], temperature, total, own, own_mask
            )
            rows = [(u, grads[0]), (v, grads[1]), (shared.reshape(-1), grads[2].flatten(0, 1))]
            if own is not None:
                rows.append((own.reshape(-1), grads[3].flatten(0, 1)))
        else:
            candidates = torch.cat([v.unsqueeze(1), negatives.per_anchor()], dim=1)
            _, grads = step.loss_and_grads(u, candidates, mask, temperature, total)
            rows = step.candidate_rows(u, candidates, grads)
        z = torch.empty(0)
        if keep_z:  # the embeddings before this step's update, as the autograd step logs
            with torch.no_grad():
                z = self.encoder(batch.items)
        return StepOutput(captured[0], batch.with_z(z), gradients=grads, rows=rows)

    def apply(self, out: StepOutput, lr: float) -> None:
        optimizer = self.optimizer
        accumulator = None
        if isinstance(optimizer, RowAdagrad):
            # the optimiser's own state (replaced on resume): the checkpoint keeps it
            accumulator = optimizer.state[self.table_step.table.weight]["sum"]
        eps = float(optimizer.param_groups[0].get("eps", 1e-10))
        self.table_step.apply(out.rows, lr, accumulator, eps)
