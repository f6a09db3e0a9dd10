"""Learned inner-loop learning rates: Meta-SGD's per parameter, MAML++'s per layer and step.

MAML's inner step is ``theta_{t+1} = theta_t - alpha grad L_s(theta_t)`` with one fixed
``alpha``. Two meta-learnt alternatives make the rate a parameter of the outer
optimisation, updated by the same meta-gradient as the initialisation:

.. math::
    \\text{per\\_layer\\_step (LSLR):}\\quad
        \\theta^{(l)}_{t+1} = \\theta^{(l)}_t
            - \\alpha_{l,t}\\, \\nabla_{\\theta^{(l)}} L_s(\\theta_t)
    \\qquad \\alpha \\in \\mathbb{R}^{L \\times T},

.. math::
    \\text{per\\_parameter (Meta-SGD):}\\quad
        \\theta_{t+1} = \\theta_t - \\boldsymbol\\alpha \\odot \\nabla L_s(\\theta_t)
    \\qquad \\boldsymbol\\alpha \\text{ shaped like } \\theta,\\ \\text{shared by the steps},

where a *layer* is one named tensor (``encoder.convs.0.lin_l.weight``, ``head.bias``).
Every rate starts at the configured ``alpha``; as in both papers the rates are not
constrained to be positive (a rate the meta-gradient drives below zero is a learnt
choice, e.g. to undo a step). Because ``theta_T`` is linear in each rate, the rates
receive a meta-gradient under first-order MAML too:
``dL_q/d alpha_{l,t} = -<grad_l L_s(theta_t), grad_l L_q(theta_T)>`` when the inner
gradients are constants.

Example:
    >>> net = torch.nn.Linear(3, 2)
    >>> rates = InnerLR({n: p.shape for n, p in net.named_parameters()}, steps=5,
    ...                 init=0.1, kind="per_layer_step")
    >>> float(rates.rate("weight", 4)), sum(p.numel() for p in rates.parameters())
    (0.10000000149011612, 10)

References: Z. Li et al., "Meta-SGD: learning to learn quickly for few-shot learning",
2017; A. Antoniou, H. Edwards and A. Storkey, "How to train your MAML", ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_choice, check_positive, check_positive_int

InnerLRKind = Literal["fixed", "per_layer_step", "per_parameter"]


class InnerLR(nn.Module):
    """The inner-loop rates of the named tensors ``shapes`` over ``steps`` inner steps.

    Args:
        shapes: ``{name: shape}`` of the tensors the inner loop adapts.
        steps: inner steps ``T`` (>= 0; ``per_layer_step`` holds one rate per step).
        init: every rate's starting value ``alpha`` (> 0).
        kind: ``fixed`` (``init`` everywhere, nothing learnt), ``per_layer_step``
            (MAML++'s LSLR: a scalar per tensor and step, ``[T]`` per tensor) or
            ``per_parameter`` (Meta-SGD: a tensor shaped like each parameter).
    """

    def __init__(
        self, shapes: Mapping[str, torch.Size], *, steps: int, init: float, kind: InnerLRKind
    ) -> None:
        super().__init__()
        self.kind: InnerLRKind = check_choice(
            "kind", kind, ("fixed", "per_layer_step", "per_parameter")
        )
        self.steps = check_positive_int("steps", steps, allow_zero=True)
        self.init = check_positive("init", init)
        self.names = list(shapes)
        self.index = {name: i for i, name in enumerate(self.names)}
        # names hold dots, which nn.ParameterDict refuses: a list indexed by name instead
        self.rates = nn.ParameterList()
        if kind == "per_layer_step":
            for _ in self.names:
                self.rates.append(nn.Parameter(torch.full((max(steps, 1),), float(init))))
        elif kind == "per_parameter":
            for name in self.names:
                self.rates.append(nn.Parameter(torch.full(tuple(shapes[name]), float(init))))

    @property
    def learnt(self) -> bool:
        """Whether the rates are parameters of the outer optimisation."""
        return self.kind != "fixed"

    def rate(self, name: str, step: int) -> Tensor | float:
        """The rate of tensor ``name`` at inner step ``step`` (``0..T-1``): a float for
        ``fixed``, a scalar tensor (``per_layer_step``) or one shaped like the tensor
        (``per_parameter``)."""
        if self.kind == "fixed":
            return self.init
        if name not in self.index:
            raise KeyError(f"no inner learning rate for {name!r}; known: {self.names}")
        if not 0 <= step < self.steps:
            raise ValueError(f"step must be in [0, {self.steps}), got {step}")
        rates = self.rates[self.index[name]]
        return rates[step] if self.kind == "per_layer_step" else rates

    def summary(self) -> dict[str, float]:
        """Mean rate per tensor (for logs and reports)."""
        if self.kind == "fixed":
            return dict.fromkeys(self.names, self.init)
        return {n: float(r.detach().mean()) for n, r in zip(self.names, self.rates, strict=True)}
