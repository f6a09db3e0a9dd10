r"""Diagonal Fisher information of a model's parameters, estimated from data (for EWC).

The empirical Fisher :math:`F_i = \mathbb{E}_{x}\big[(\partial \ell(x) / \partial \theta_i)^2\big]`
from a loss closure, per batch or per sample (``torch.func.vmap`` of ``grad``).
Reference: Kirkpatrick et al. (2017); Martens (2020), "New insights and perspectives
on the natural gradient method" (empirical vs true Fisher).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

LossFn = Callable[[nn.Module, Any], Tensor]


def trainable_parameters(model: nn.Module) -> dict[str, Tensor]:
    """``{name: parameter}`` for the parameters with ``requires_grad``."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _add_batch_dim(batch: Any) -> Any:
    """Give every tensor of one sample (inside ``vmap``) a leading batch dimension of 1."""
    if isinstance(batch, Tensor):
        return batch.unsqueeze(0)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_add_batch_dim(b) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _add_batch_dim(v) for k, v in batch.items()}
    raise TypeError(f"per_sample batches must hold only tensors, got {type(batch).__name__}")


def _batch_size(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    items = batch.values() if isinstance(batch, Mapping) else batch
    return _batch_size(next(iter(items)))


class _LossCall(nn.Module):
    """Makes ``loss_fn(model, batch)`` a module forward, so ``functional_call`` can swap params."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any) -> Tensor:
        return self.loss_fn(self.model, batch)


def diagonal_fisher(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: LossFn,
    *,
    per_sample: bool = False,
    max_batches: int | None = None,
) -> dict[str, Tensor]:
    r"""Diagonal empirical Fisher :math:`F = \mathbb{E}[(\nabla_\theta \ell)^2]` of the parameters.

    ``per_sample=False`` (default) averages the squared gradient of each batch's
    loss over batches: with batches of one sample this is the empirical Fisher;
    with larger batches it is the Fisher of the batch mean (about batch-size
    times smaller, and exact up to that scale only when gradients agree).
    ``per_sample=True`` takes per-sample gradients with ``torch.func.vmap(grad)``
    and averages their squares over samples (the empirical Fisher whatever the
    batch size); the model must then be functional per sample (no batch-norm in
    training mode) and batches must be tensors or tuples/lists/dicts of tensors.
    For the true Fisher, let ``loss_fn`` sample targets from the model's own
    predictive distribution. The model's mode and ``.grad`` fields are untouched.

    Args:
        model: the network; its parameters with ``requires_grad`` are measured.
        batches: iterable of batches, consumed once.
        loss_fn: ``loss_fn(model, batch) -> scalar`` (mean negative log-likelihood).
        per_sample: per-sample gradients via ``vmap`` (default False).
        max_batches: stop after this many batches (default: all).

    Returns:
        ``{name: F}`` with ``F`` shaped like the parameter, detached.
    """
    params = trainable_parameters(model)
    if not params:
        raise ValueError("model has no trainable parameters to estimate a Fisher for")
    if max_batches is not None and (isinstance(max_batches, bool) or max_batches <= 0):
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    acc = {n: torch.zeros_like(p, memory_format=torch.contiguous_format) for n, p in params.items()}
    count = 0
    detached = {n: p.detach() for n, p in params.items()}
    wrapper = _LossCall(model, loss_fn)

    def single(p: dict[str, Tensor], sample: Any) -> Tensor:
        named = {f"model.{n}": t for n, t in p.items()}
        return functional_call(wrapper, named, (_add_batch_dim(sample),))

    per_sample_grads = vmap(grad(single), in_dims=(None, 0))
    for batch in itertools.islice(batches, max_batches):
        if per_sample:
            grads = per_sample_grads(detached, batch)
            for n in acc:
                acc[n] += grads[n].detach().square().sum(0)
            count += _batch_size(batch)
            continue
        loss = loss_fn(model, batch)
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar tensor, got {loss!r:.80}")
        batch_grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for n, g in zip(acc, batch_grads, strict=True):
            if g is not None:
                acc[n] += g.detach().square()
        count += 1
    if count == 0:
        raise ValueError("batches yielded no batch: cannot estimate a Fisher")
    return {n: a / count for n, a in acc.items()}
