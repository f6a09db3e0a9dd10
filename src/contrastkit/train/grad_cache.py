r"""Gradient caching: accumulate over encoder chunks without shrinking the negative set.

Naive gradient accumulation splits a batch of ``B`` pairs into chunks and computes
the loss per chunk, so every anchor only sees the ``B / chunks`` in-chunk negatives.
Gradient caching (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size
under Memory Limited Setup"; sentence-transformers' CachedMultipleNegativesRankingLoss)
keeps the full-batch loss:

1. encode every chunk without a graph, :math:`z = [f(x_1); \dots; f(x_C)]` ``[B, d]``;
2. evaluate the full-batch loss on a leaf copy of :math:`z` and back-propagate to
   :math:`g = \partial L / \partial z` (use the tiled loss for very large ``B``);
3. re-encode each chunk with a graph and back-propagate :math:`g_c` into the encoder.

The parameter gradients equal those of one full-batch step; peak activation memory
is that of one chunk plus the ``[B, d]`` embeddings. Dropout is replayed exactly:
the RNG state (CPU, and every CUDA device once CUDA is initialised:
sentence-transformers' ``RandContext``) is recorded before each chunk's first pass
and restored for its second; the state after the first passes is restored at the end,
so the caller's random stream continues as without caching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor


class RandState:
    """The CPU generator's state and, once CUDA is initialised, every CUDA device's."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.cuda = torch.cuda.get_rng_state_all() if cuda else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)


def grad_cache_step(
    encode: Callable[[Any], Tensor],
    chunks: Sequence[Any],
    loss_fn: Callable[[Tensor], Tensor],
    replay: Callable[[bool], AbstractContextManager[Any]] | None = None,
) -> Tensor:
    """Accumulate full-batch gradients of ``loss_fn(cat(encode(c) for c in chunks))``
    into the encoder's parameters; return the (detached) loss.

    Args:
        encode: maps one chunk of inputs to embeddings ``[B_c, d]``. For pairs, let a
            chunk be ``(anchors, positives)`` and return ``torch.cat`` of both; the
            ``loss_fn`` then splits the rows it receives accordingly.
        chunks: the batch, split into chunks (in order).
        loss_fn: full-batch loss over the concatenated embeddings ``[B, d]``.
        replay: ``replay(last)`` is the context each chunk's second pass runs in
            (``last``: the final chunk). Under DistributedDataParallel it is
            ``no_sync()`` for all but the last, so the gradients are all-reduced once
            per step, not once per chunk (sentence-transformers' issue #4027).

    Example:
        >>> enc = torch.nn.Linear(4, 3)
        >>> x = torch.randn(8, 4)
        >>> loss = grad_cache_step(enc, list(x.split(2)), lambda z: z.pow(2).sum())
        >>> enc.weight.grad.shape
        torch.Size([3, 4])
    """
    if len(chunks) == 0:
        raise ValueError("chunks must hold at least one chunk, got 0")
    rng_states: list[RandState] = []
    with torch.no_grad():
        parts = []
        for chunk in chunks:
            rng_states.append(RandState())
            parts.append(encode(chunk))
    z = torch.cat(parts).detach().requires_grad_(True)
    loss = loss_fn(z)
    (grad,) = torch.autograd.grad(loss, z)
    after = RandState()
    offset = 0
    for i, (chunk, state, part) in enumerate(zip(chunks, rng_states, parts, strict=True)):
        state.restore()
        rows = part.shape[0]
        with nullcontext() if replay is None else replay(i == len(chunks) - 1):
            encode(chunk).backward(grad[offset : offset + rows])
        offset += rows
    after.restore()
    return loss.detach()
