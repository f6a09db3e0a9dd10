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

Options from the MAML literature (each a ``meta.*`` setting, see
:class:`~contrastkit.train.meta_config.MetaConfig`):

* ``lr`` may be a function ``(name, step) -> rate``: learned rates per layer and step
  (MAML++'s LSLR) or per parameter (Meta-SGD), :class:`~contrastkit.meta.inner_lr.InnerLR`;
* ``adapt="head"`` adapts only the linear head on features computed once per episode
  (ANIL, Raghu et al. 2020): the encoder is meta-learnt, the inner loop is a logistic
  regression, and the meta-gradient still differentiates through it;
* ``head_init``: the head every adaptation starts from — the meta-learnt one
  (``learned``), zeros (``zero``: Kao et al. 2022's zeroing trick, no episode-local
  label is favoured) or the prototypes of the support features (``proto``:
  Proto-MAML, Triantafillou et al. 2020: ``w_c = 2 p_c``, ``b_c = -|p_c|^2``, so the
  unadapted head is ProtoNet's squared-distance classifier on the head's input);
* ``step_weights``: MAML++'s multi-step loss ``sum_t w_t L_q(theta_t)`` over the inner
  steps (:func:`multi_step_weights` anneals ``w`` towards the last step).

References: C. Finn, P. Abbeel and S. Levine, "Model-agnostic meta-learning for fast
adaptation of deep networks", ICML 2017; A. Antoniou, H. Edwards and A. Storkey, "How
to train your MAML", ICLR 2019; A. Raghu et al., "Rapid learning or feature reuse?",
ICLR 2020; E. Triantafillou et al., "Meta-Dataset", ICLR 2020; C.-H. Kao, W.-L. Chiu
and P.-Y. Chen, "MAML is a noisy contrastive learner in classification", ICLR 2022.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from contrastkit._validation import check_choice, check_positive, check_positive_int
from contrastkit.meta.network import EpisodeInput

Params = dict[str, Tensor]
#: an inner learning rate: one number, or ``(tensor name, step) -> rate``
LearningRate = float | Callable[[str, int], Tensor | float]
HeadInit = Literal["learned", "zero", "proto"]
AdaptScope = Literal["all", "head"]
HEAD = ("head.weight", "head.bias")


def adapt_path(
    params: Mapping[str, Tensor],
    loss_fn: Callable[[Params], Tensor],
    *,
    steps: int,
    lr: LearningRate,
    first_order: bool = False,
    only: Collection[str] | None = None,
) -> list[Params]:
    """The inner trajectory ``[theta_1, ..., theta_T]`` of ``steps`` gradient steps on
    ``loss_fn`` from ``params``.

    Args:
        params: the starting point ``theta_0``; entries that do not require grad stay
            fixed.
        loss_fn: ``params -> scalar`` (the support loss).
        steps: inner steps ``T`` (0 returns ``[]``).
        lr: the step size ``alpha`` (> 0), or ``lr(name, t)``: the rate of tensor
            ``name`` at step ``t`` (a scalar or a tensor shaped like it; learnt rates
            are differentiated through, first order or not).
        first_order: treat the inner gradients as constants (no graph through them).
        only: the names adapted (default: every entry that requires grad); the others
            keep their values (ANIL adapts ``head.*`` only).

    Returns:
        ``T`` parameter mappings, each differentiable with respect to ``params`` (through
        the inner gradients too unless ``first_order``) and to learnt rates.
    """
    check_positive_int("steps", steps, allow_zero=True)
    if not callable(lr):
        check_positive("lr", lr)
    fast = dict(params)
    if only is not None:
        unknown = sorted(set(only) - set(fast))
        if unknown:
            raise ValueError(f"only names tensors params does not hold: {unknown}")
    names = [n for n, p in fast.items() if p.requires_grad and (only is None or n in only)]
    if not names and steps:
        raise ValueError("params has no entry that requires grad: nothing to adapt")
    path = []
    for t in range(steps):
        loss = loss_fn(fast)
        grads = torch.autograd.grad(
            loss,
            [fast[n] for n in names],
            create_graph=not first_order,
            allow_unused=True,
        )
        fast = dict(fast)
        for name, grad in zip(names, grads, strict=True):
            if grad is not None:  # a parameter the loss does not reach keeps its value
                rate = lr(name, t) if callable(lr) else lr
                fast[name] = fast[name] - rate * grad
        path.append(fast)
    return path


def adapt(
    params: Mapping[str, Tensor],
    loss_fn: Callable[[Params], Tensor],
    *,
    steps: int,
    lr: LearningRate,
    first_order: bool = False,
    only: Collection[str] | None = None,
) -> Params:
    """The adapted parameters ``theta_T`` of :func:`adapt_path` (``params`` for 0 steps)."""
    path = adapt_path(params, loss_fn, steps=steps, lr=lr, first_order=first_order, only=only)
    return path[-1] if path else dict(params)


def multi_step_weights(steps: int, progress: float) -> Tensor | None:
    """MAML++'s multi-step-loss weights ``[T]`` over the query losses after each inner
    step, a fraction ``progress`` (in ``[0, 1)``) through their annealing; ``None`` (the
    last step's loss alone) from ``progress >= 1``.

    They start uniform, ``1/T``; the ``T - 1`` earlier weights fall linearly to a floor
    of ``0.03/T`` while the last one rises to ``1 - (T - 1) 0.03/T`` (Antoniou et al.'s
    schedule, with the fraction of the annealing steps in place of epochs)."""
    check_positive_int("steps", steps)
    if progress >= 1.0:
        return None
    if progress < 0:
        raise ValueError(f"progress must be >= 0, got {progress}")
    floor, decay = 0.03 / steps, progress / steps
    weights = torch.full((steps,), max(1.0 / steps - decay, floor))
    weights[-1] = min(1.0 / steps + decay * (steps - 1), 1.0 - (steps - 1) * floor)
    return weights


def head_start(
    params: Mapping[str, Tensor], support: Tensor | None, ways: int, mode: HeadInit
) -> Params:
    """``params`` with the head an adaptation starts from.

    Args:
        params: the initialisation (holds ``head.weight [n, d]``, ``head.bias [n]``).
        support: ``[n k, d]`` the support items' head inputs, class-major (read by
            ``proto`` only).
        ways: ``n``.
        mode: ``learned`` (``params`` unchanged), ``zero`` (fresh zero leaves, so no
            meta-gradient reaches the meta-learnt head) or ``proto`` (``w_c = 2 p_c``,
            ``b_c = -|p_c|^2`` with ``p_c`` the class means of ``support``:
            ``w_c . h + b_c = -|h - p_c|^2 + |h|^2``, differentiable in ``support``).
    """
    check_choice("head_init", mode, ("learned", "zero", "proto"))
    out = dict(params)
    if mode == "zero":
        for name in HEAD:
            out[name] = torch.zeros_like(params[name], requires_grad=True)
    elif mode == "proto":
        if support is None:
            raise ValueError("head_init 'proto' needs the support features, got None")
        protos = support.reshape(ways, -1, support.shape[-1]).mean(dim=1)  # [n, d]
        out["head.weight"] = 2.0 * protos
        out["head.bias"] = -protos.pow(2).sum(-1)
    return out


def episode_losses(
    model: nn.Module,
    params: Mapping[str, Tensor],
    inp: EpisodeInput,
    num_support: int,
    support_labels: Tensor,
    query_labels: Tensor,
    *,
    steps: int,
    lr: LearningRate,
    first_order: bool = False,
    scope: AdaptScope = "all",
    head_init: HeadInit = "learned",
    step_weights: Sequence[float] | Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One episode of MAML: adapt on the support rows, score the queries.

    Args:
        model: ``forward(x, edge_index, nodes, features_only=False) -> logits [m, n]``
            (a :class:`~contrastkit.meta.network.FewShotNet`: ``head`` over features).
        params: the initialisation ``theta`` (``{name: tensor}``).
        inp: the episode's input; ``inp.nodes[:num_support]`` are the support items,
            the rest the queries.
        support_labels, query_labels: ``[n k]`` and ``[n q]`` episode-local labels.
        steps, lr, first_order: as in :func:`adapt_path`.
        scope: ``all`` (MAML) or ``head`` (ANIL: the features are computed once, the
            head alone is adapted on them).
        head_init: the head adaptation starts from (:func:`head_start`).
        step_weights: ``[T]`` weights of the query losses after each inner step
            (:func:`multi_step_weights`); ``None``: the last step's only.

    Returns:
        ``(query_loss, query_logits [n q, n])`` after the last step: the loss is the
        MAML objective, differentiable with respect to ``params`` (and learnt rates).
    """
    check_choice("scope", scope, ("all", "head"))
    rows = {"support": inp.nodes[:num_support], "query": inp.nodes[num_support:]}
    ways = int(support_labels.max()) + 1
    head = model.get_submodule("head")

    def features(p: Mapping[str, Tensor], nodes: Tensor) -> Tensor:
        args = (inp.x, inp.edge_index, nodes)
        return functional_call(model, dict(p), args, {"features_only": True})

    only: Collection[str] | None = None
    if scope == "head":  # the encoder runs once; the inner loop sees its features only
        h = features(params, inp.nodes)
        feats = {"support": h[:num_support], "query": h[num_support:]}
        start = head_start(params, feats["support"], ways, head_init)
        only = HEAD

        def logits_of(p: Params, part: str) -> Tensor:
            weights = {"weight": p["head.weight"], "bias": p["head.bias"]}
            return functional_call(head, weights, (feats[part],))

    else:
        support = features(params, rows["support"]) if head_init == "proto" else None
        start = head_start(params, support, ways, head_init)

        def logits_of(p: Params, part: str) -> Tensor:
            return functional_call(model, p, (inp.x, inp.edge_index, rows[part]))

    def support_loss(p: Params) -> Tensor:
        return F.cross_entropy(logits_of(p, "support"), support_labels)

    path = adapt_path(start, support_loss, steps=steps, lr=lr, first_order=first_order, only=only)
    logits = logits_of(path[-1] if path else start, "query")
    loss = F.cross_entropy(logits, query_labels)
    if step_weights is None or not path:
        return loss, logits
    weights = torch.as_tensor(step_weights, dtype=torch.float64).tolist()
    if len(weights) != steps:
        raise ValueError(f"step_weights must hold {steps} weights, got {len(weights)}")
    earlier = [
        w * F.cross_entropy(logits_of(fast, "query"), query_labels)
        for w, fast in zip(weights[:-1], path[:-1], strict=True)
        if w != 0.0
    ]
    return weights[-1] * loss + sum(earlier, torch.zeros(())), logits
