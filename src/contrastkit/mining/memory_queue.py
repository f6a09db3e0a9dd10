r"""A cross-batch memory: a FIFO ring buffer of past embeddings with labels.

Cross-batch memory (Wang et al., CVPR 2020; MoCo's queue, He et al. 2020)
enlarges the negative pool beyond the batch: after each step the batch's
*detached* embeddings are written over the oldest entries,

.. math::
    Q[(t + i) \bmod S] \leftarrow \operatorname{sg}(z_i), \qquad i = 0..n-1,

with one vectorised write even when it wraps. The queue is a pool like any
other: :meth:`MemoryQueue.exclusions` builds the same-label / same-item
exclusions for mining against it.

Example:
    >>> q = MemoryQueue(4, 2)
    >>> q.enqueue(torch.ones(3, 2), labels=torch.tensor([0, 1, 1]))
    >>> q.enqueue(torch.zeros(2, 2), labels=torch.tensor([2, 2]))
    >>> len(q), q.labels.tolist()
    (4, [2, 1, 1, 2])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_int_like,
    check_integer_tensor,
    check_length,
    check_positive_int,
    check_tensor,
)
from contrastkit.mining.exclusions import Exclusions, build_exclusions


class MemoryQueue:
    """Ring buffer of ``size`` embeddings of dimension ``dim``, with labels and item ids.

    Args:
        size: capacity ``S``.
        dim: embedding dimension ``d``.
        dtype, device: storage (default float32 on CPU).

    Rows never written are not part of the pool: :attr:`embeddings` is ``[n, d]``
    with ``n = min(written, S)``. Labels and ids default to ``-1`` (unknown).
    """

    def __init__(
        self,
        size: int,
        dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        self.size = check_positive_int("size", size)
        self.dim = check_positive_int("dim", dim)
        self._emb = torch.zeros(size, dim, dtype=dtype, device=device)
        self._labels = torch.full((size,), -1, dtype=torch.int64, device=device)
        self._ids = torch.full((size,), -1, dtype=torch.int64, device=device)
        self._ptr = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def embeddings(self) -> Tensor:
        """``[n, d]`` stored embeddings (slot order, not age order)."""
        return self._emb[: self._count]

    @property
    def labels(self) -> Tensor:
        """``[n]`` labels (``-1`` = unknown)."""
        return self._labels[: self._count]

    @property
    def ids(self) -> Tensor:
        """``[n]`` item ids (``-1`` = unknown)."""
        return self._ids[: self._count]

    @torch.no_grad()
    def enqueue(
        self, embeddings: Tensor, labels: Tensor | None = None, ids: Tensor | None = None
    ) -> None:
        """Write ``embeddings [n, d]`` (detached), ``labels [n]`` and ``ids [n]``
        over the oldest entries. With ``n > size`` only the last ``size`` rows stay."""
        check_float_tensor("embeddings", embeddings, ndim=2)
        if embeddings.shape[1] != self.dim:
            raise ValueError(
                f"embeddings has dimension {embeddings.shape[1]}, the queue holds {self.dim}"
            )
        check_finite("embeddings", embeddings)
        n = embeddings.shape[0]
        for name, t in (("labels", labels), ("ids", ids)):
            if t is not None:
                check_tensor(name, t, ndim=1)
                check_length(name, t, n)
        if n == 0:
            return
        keep = slice(max(0, n - self.size), n)
        emb = embeddings[keep].detach()
        m = emb.shape[0]
        slots = (self._ptr + torch.arange(m, device=self._emb.device)) % self.size
        self._emb[slots] = emb.to(self._emb.dtype)
        self._labels[slots] = -1 if labels is None else labels[keep].to(torch.int64)
        self._ids[slots] = -1 if ids is None else ids[keep].to(torch.int64)
        self._ptr = (self._ptr + m) % self.size
        self._count = min(self.size, self._count + m)

    def exclusions(
        self, anchor_labels: Tensor | None = None, anchor_ids: Tensor | None = None
    ) -> Exclusions:
        """Exclusions for mining anchors against this queue: same label (when
        ``anchor_labels [B]`` is given) and stale copies of the anchor's own item
        (``anchor_ids [B]`` matched against the stored ids)."""
        b = None
        for t in (anchor_labels, anchor_ids):
            if t is not None:
                b = check_tensor("anchor_labels/anchor_ids", t, ndim=1).shape[0]
        if b is None:
            return Exclusions()
        pos = None
        if anchor_ids is not None:
            check_length("anchor_ids", anchor_ids, b)
            same = (anchor_ids.unsqueeze(1) == self.ids.unsqueeze(0)) & (self.ids >= 0)
            rows, cols = torch.nonzero(same, as_tuple=True)
            width = int(torch.bincount(rows, minlength=b).max()) if rows.numel() else 0
            pos = torch.full((b, max(width, 1)), -1, dtype=torch.int64)
            rank = torch.arange(rows.numel()) - torch.searchsorted(rows, rows)
            pos[rows, rank] = cols
        return build_exclusions(
            b,
            len(self),
            positive_ids=pos,
            query_labels=anchor_labels,
            pool_labels=None if anchor_labels is None else self.labels,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "embeddings": self._emb.clone(),
            "labels": self._labels.clone(),
            "ids": self._ids.clone(),
            "ptr": self._ptr,
            "count": self._count,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; a malformed state raises a ``ValueError`` /
        ``TypeError`` naming the entry, and leaves the queue unchanged."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        keys = ("embeddings", "labels", "ids", "ptr", "count")
        missing = [key for key in keys if key not in state]
        if missing:
            raise ValueError(f"state is missing keys {missing} (MemoryQueue.state_dict())")
        emb = check_float_tensor("state['embeddings']", state["embeddings"], ndim=2)
        if tuple(emb.shape) != (self.size, self.dim):
            raise ValueError(
                f"state['embeddings'] must have shape {(self.size, self.dim)}, "
                f"got {tuple(emb.shape)}"
            )
        check_finite("state['embeddings']", emb)
        for key in ("labels", "ids"):
            t = check_integer_tensor(f"state['{key}']", state[key], ndim=1)
            check_length(f"state['{key}']", t, self.size, what="entries")
        ptr = check_int_like("state['ptr']", state["ptr"])
        count = check_int_like("state['count']", state["count"])
        if ptr >= self.size:
            raise ValueError(f"state['ptr'] must be in [0, {self.size}), got {ptr}")
        if count > self.size:
            raise ValueError(f"state['count'] must be in [0, {self.size}], got {count}")
        if count < self.size and ptr != count:
            raise ValueError(
                f"state['ptr'] must equal state['count'] = {count} while the queue is not "
                f"full, got {ptr}"
            )
        self._emb.copy_(emb)
        self._labels.copy_(state["labels"])
        self._ids.copy_(state["ids"])
        self._ptr, self._count = ptr, count
