"""MAML and first-order MAML on ``torch.func.functional_call``.

For an episode with support loss ``L_s`` and query loss ``L_q``, MAML adapts the shared
initialisation ``theta`` by ``T`` gradient steps of size ``alpha`` and scores the result
on the queries:

.. math::
    \\theta_0 = \\theta,\\quad \\theta_{t+1} = \\theta_t - \\alpha \\nabla L_s(\\theta_t),
    \\qquad \\mathcal{L}(\\theta) = L_q(\\theta_T).

Its meta-gradient differentiates through the inner steps,

.. math::
    \\nabla_\\theta \\mathcal{L} = \\Big[\\prod_{t=0}^{T-1}
        \\big(I - \\alpha \\nabla^2 L_s(\\theta_t)\\big)\\Big] \\nabla L_q(\\theta_T),

which needs the inner gradients built with ``create_graph=True`` (Hessian-vector
products in the backward pass). First-order MAML drops the Hessian terms: the inner
gradients are constants, each ``theta_{t+1}`` depends on ``theta`` through the identity
only, and the meta-gradient is ``grad L_q(theta_T)``.

The parameters are a ``{name: tensor}`` mapping the network is called with
(``functional_call``), so the module itself is never modified in place. Tasks are
looped, not vmapped: ``vmap`` breaks on PyG's scatter operations.

Example:
    >>> net = torch.nn.Linear(3, 2)
    >>> x, y = torch.randn(6, 3), torch.tensor([0, 1] * 3)
    >>> loss = lambda p: F.cross_entropy(functional_call(net, p, (x,)), y)
    >>> fast = adapt(dict(net.named_parameters()), loss, steps=2, lr=0.1)
    >>> sorted(fast)
    ['bias', 'weight']

Reference: C. Finn, P. Abbeel and S. Levine, "Model-agnostic meta-learning for fast
adaptation of deep networks", ICML 2017.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from contrastkit._validation import check_positive, check_positive_int
from contrastkit.meta.network import EpisodeInput

Params = dict[str, Tensor]


def adapt(
    params: Mapping[str, Tensor],
    loss_fn: Callable[[Params], Tensor],
    *,
    steps: int,
    lr: float,
    first_order: bool = False,
) -> Params:
    """``steps`` gradient steps of size ``lr`` on ``loss_fn`` from ``params``.

    Args:
        params: the starting point; entries that do not require grad stay fixed.
        loss_fn: ``params -> scalar`` (the support loss).
        steps: inner steps ``T`` (0 returns ``params`` unchanged).
        lr: inner step size ``alpha`` (> 0).
        first_order: treat the inner gradients as constants (no graph through them).

    Returns:
        The adapted parameters ``theta_T``, differentiable with respect to ``params``
        (through the inner gradients too unless ``first_order``).
    """
    check_positive_int("steps", steps, allow_zero=True)
    check_positive("lr", lr)
    fast = dict(params)
    names = [n for n, p in fast.items() if p.requires_grad]
    if not names and steps:
        raise ValueError("params has no entry that requires grad: nothing to adapt")
    for _ in range(steps):
        loss = loss_fn(fast)
        grads = torch.autograd.grad(
            loss,
            [fast[n] for n in names],
            create_graph=not first_order,
            allow_unused=True,
        )
        for name, grad in zip(names, grads, strict=True):
            if grad is not None:  # a parameter the loss does not reach keeps its value
                fast[name] = fast[name] - lr * grad
    return fast


def episode_losses(
    model: nn.Module,
    params: Mapping[str, Tensor],
    inp: EpisodeInput,
    num_support: int,
    support_labels: Tensor,
    query_labels: Tensor,
    *,
    steps: int,
    lr: float,
    first_order: bool = False,
) -> tuple[Tensor, Tensor]:
    """One episode of MAML: adapt on the support rows, score the queries.

    Args:
        model: ``forward(x, edge_index, nodes) -> logits [m, n]`` (a
            :class:`~contrastkit.meta.network.FewShotNet`).
        params: the initialisation ``theta`` (``{name: tensor}``).
        inp: the episode's input; ``inp.nodes[:num_support]`` are the support items,
            the rest the queries.
        support_labels, query_labels: ``[n k]`` and ``[n q]`` episode-local labels.
        steps, lr, first_order: as in :func:`adapt`.

    Returns:
        ``(query_loss, query_logits [n q, n])``: the loss is the MAML objective
        ``L_q(theta_T)``, differentiable with respect to ``params``.
    """
    support_rows, query_rows = inp.nodes[:num_support], inp.nodes[num_support:]

    def support_loss(p: Params) -> Tensor:
        logits = functional_call(model, p, (inp.x, inp.edge_index, support_rows))
        return F.cross_entropy(logits, support_labels)

    fast = adapt(params, support_loss, steps=steps, lr=lr, first_order=first_order)
    logits = functional_call(model, fast, (inp.x, inp.edge_index, query_rows))
    return F.cross_entropy(logits, query_labels), logits
