r"""The in-batch candidates of a step across ranks: the gather modes.

A loss with in-batch negatives scores each anchor against the positives (and hard
negatives) of the whole batch. Under data parallelism rank ``r`` holds ``B`` of the
``W B`` pairs of a global batch; :func:`gather_in_batch` returns the global
candidate set in the *single-process layout* (rank 0's rows, then rank 1's, ...;
hard-negative column ``h`` of all ``W B`` rows together, the layout
sentence-transformers fixed in its PR #3453), their global item ids and labels (for
false-negative masks: the same item drawn on two ranks is masked by its id, exactly
as a repeated row is masked in one process), and which rows this rank scores:

* ``"local"`` — this rank's ``B`` anchors against all ``W B`` candidates, gathered
  *with* gradient (:func:`~contrastkit.dist.gather.all_gather_with_grad`); the loss is
  the mean over the local anchors, and DDP's averaging makes the parameter gradient
  that of the global mean. Loss work per rank: ``B x W B``.
* ``"full"`` — every rank scores all ``W B`` anchors against all candidates, gathered
  *without* gradient (no collective in the backward). Only this rank's rows carry
  gradient, and they carry :math:`W\,\partial L/\partial x_r`: DDP divides by ``W``,
  so the parameter gradient is again exactly the single-process one (the world-size
  factor of pytorch-metric-learning's issue #363, put on the embeddings rather than on
  the loss so a learnable temperature, whose gradient every rank computes in full, is
  not scaled). The loss value is the global one. Loss work per rank: ``W B x W B``.
* ``"none"`` — no gathering: each rank's own ``B`` pairs only (negatives from the
  local batch; the loss differs from single-process).

Every rank must hold the same ``B`` and ``K`` (the trainer's sampler guarantees it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
import torch.distributed as dist
from torch import Tensor

from contrastkit.dist.env import is_distributed
from contrastkit.dist.gather import all_gather_riding

GatherMode = Literal["local", "full", "none"]
GATHER_MODES: tuple[str, ...] = get_args(GatherMode)


def check_gather_mode(mode: str) -> GatherMode:
    if mode not in GATHER_MODES:
        raise ValueError(f"gather mode must be one of {GATHER_MODES}, got {mode!r}")
    return mode  # type: ignore[return-value]


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by ``scale``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


def scale_grad(x: Tensor, scale: float) -> Tensor:
    """``x`` whose gradient is multiplied by ``scale`` on the way back."""
    out: Tensor = _ScaleGrad.apply(x, scale)
    return out


@dataclass
class InBatchView:
    """The global in-batch candidate set as one rank sees it (``N = W B`` rows).

    ``anchors [M, d]``: the anchors this rank scores (``M = B`` for ``local``, ``N``
    for ``full``); ``query [M]``: each one's global row (the column of its positive);
    ``all_anchors [N, d]``, ``positives [N, d]``; ``anchor_ids``/``positive_ids``
    ``[N]`` global item ids; ``anchor_labels``/``positive_labels`` ``[N]`` (or None);
    ``negatives [N, K, d]`` with ``negative_ids``, ``negative_mask``,
    ``negative_labels`` ``[N, K]`` (``K = 0`` without hard negatives); ``forbidden``:
    the batch's false-negative rule by item ids (``Batch.forbidden``), or None."""

    anchors: Tensor
    query: Tensor
    all_anchors: Tensor
    positives: Tensor
    anchor_ids: Tensor
    positive_ids: Tensor
    anchor_labels: Tensor | None
    positive_labels: Tensor | None
    negatives: Tensor
    negative_ids: Tensor
    negative_mask: Tensor
    negative_labels: Tensor | None
    forbidden: Callable[[Tensor, Tensor], Tensor] | None = None

    @property
    def num_rows(self) -> int:
        return int(self.positives.shape[0])


_DISABLED = [0]  # > 0 inside gathering_disabled()


@contextmanager
def gathering_disabled() -> Iterator[None]:
    """Objectives use their own batch only, whatever their gather mode: for what one
    rank computes alone (a validation loss on a batch every rank holds, the Fisher
    of single examples), where a gather would wait for the others or count the same
    pairs ``W`` times."""
    _DISABLED[0] += 1
    try:
        yield
    finally:
        _DISABLED[0] -= 1


def uses_gather(mode: str) -> bool:
    """Whether ``mode`` gathers anything in this process (a group of > 1, not ``none``,
    not inside :func:`gathering_disabled`)."""
    return check_gather_mode(mode) != "none" and _DISABLED[0] == 0 and is_distributed()


def gather_in_batch(batch: Any, mode: str, hard_negatives: bool = False) -> InBatchView:
    """The :class:`InBatchView` of ``batch`` (a :class:`~contrastkit.objectives.batch.
    Batch` with ``z`` filled) under ``mode`` (``"local"`` or ``"full"``; see the module
    docstring). ``hard_negatives``: gather the batch's negatives ``[B, K]`` too. One
    collective forward (the embeddings with the ids, labels and mask riding along:
    :func:`~contrastkit.dist.gather.all_gather_riding`), one backward for ``local``."""
    mode = check_gather_mode(mode)
    if mode == "none":
        raise ValueError("gather_in_batch needs mode 'local' or 'full'; 'none' gathers nothing")
    z = batch.z
    b = int(batch.anchor.numel())
    k = int(batch.negatives.shape[1]) if hard_negatives else 0
    rows = torch.cat([batch.anchor.unsqueeze(1), batch.positive.unsqueeze(1)], dim=1)
    if k:
        rows = torch.cat([rows, batch.negatives], dim=1)  # [B, 2 + K] rows of z
    emb = z[rows]  # [B, 2 + K, d]: one gather of every embedding the loss reads
    ids = batch.items[rows]
    meta = [ids]
    if batch.labels is not None:
        meta.append(batch.labels[rows])
    if k:
        meta.append(batch.mask)
    world = dist.get_world_size() if is_distributed() else 1
    rank = dist.get_rank() if is_distributed() else 0
    if mode == "local":
        emb_all, meta_all = all_gather_riding(emb, meta, grad=True)
    else:
        emb_all, meta_all = all_gather_riding(scale_grad(emb, float(world)), meta, grad=False)
    ids_all = meta_all[0]
    labels_all = meta_all[1] if batch.labels is not None else None
    empty = torch.zeros(ids_all.shape[0], 0, dtype=torch.bool, device=ids_all.device)
    mask_all = meta_all[-1].bool() if k else empty
    n = ids_all.shape[0]
    if mode == "local":
        query = torch.arange(rank * b, (rank + 1) * b, device=ids_all.device)
        anchors = emb[:, 0]
    else:
        query = torch.arange(n, device=ids_all.device)
        anchors = emb_all[:, 0]
    return InBatchView(
        anchors=anchors,
        query=query,
        all_anchors=emb_all[:, 0],
        positives=emb_all[:, 1],
        anchor_ids=ids_all[:, 0],
        positive_ids=ids_all[:, 1],
        anchor_labels=None if labels_all is None else labels_all[:, 0],
        positive_labels=None if labels_all is None else labels_all[:, 1],
        negatives=emb_all[:, 2:],
        negative_ids=ids_all[:, 2:],
        negative_mask=mask_all,
        negative_labels=None if labels_all is None else labels_all[:, 2:],
        forbidden=getattr(batch, "forbidden", None),
    )
