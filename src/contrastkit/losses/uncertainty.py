"""Homoscedastic uncertainty weighting with learnable log-variances.

Each objective gets a learnable :math:`s_i = \\log\\sigma_i^2`, trained jointly with
the model by the same optimiser:

.. math::

    L = \\sum_i c_i\\, e^{-s_i}\\, p_i L_i + \\tfrac12 \\sum_i s_i,
    \\qquad c_i = \\tfrac12 \\text{ (regression)},\\; 1 \\text{ (classification)}

where :math:`\\tfrac12 s_i = \\log\\sigma_i`. At the optimum :math:`e^{s_i} \\propto
p_i L_i`, so an objective whose loss stays large (a noisy one) is down-weighted.
Parameterising by :math:`s_i` rather than :math:`\\sigma_i` keeps the weight positive
and the optimisation unconstrained. Kendall, Gal & Cipolla, "Multi-Task Learning
Using Uncertainty to Weigh Losses for Scene Geometry and Semantics", CVPR 2018.

The log-variances are kept in :math:`[-m, m]`, ``m = max_log_var`` (default
:data:`MAX_LOG_VAR` = 10: a weight :math:`c\\,e^{-s}` within :math:`c\\,e^{\\pm 10}`). The
formula has no interior optimum when a loss is 0 or negative (a triplet margin that
is met, an EWC penalty at its anchor, a regulariser at its target):
:math:`\\partial L/\\partial s_i = \\tfrac12 - c_i e^{-s_i} p_i L_i \\ge \\tfrac12`, so
:math:`s_i` falls without end, its weight overflows to ``inf`` (float32 past
:math:`s_i < -88`) and ``inf * 0`` makes the loss NaN. Every forward projects
:attr:`log_vars` onto the box first, in place and outside autograd (as WGAN clips its
critic's weights): the optimiser's gradients are the formula's, and a log-variance at
a bound moves back in when its loss grows.

Example:
    >>> import torch
    >>> from contrastkit.losses.uncertainty import UncertaintyWeighting
    >>> uw = UncertaintyWeighting(["depth", "seg"], kinds={"seg": "classification"})
    >>> out = uw({"depth": torch.tensor(2.0), "seg": torch.tensor(1.0)})
    >>> float(out.total.detach()), out.components["depth"].weight
    (2.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_choice
from contrastkit.losses.weighting import LossWeighting

TaskKind = Literal["regression", "classification"]

#: the default bound ``m`` of the log-variances, :math:`s_i \in [-m, m]`
MAX_LOG_VAR = 10.0


class UncertaintyWeighting(LossWeighting):
    """Learnable per-objective log-variances :attr:`log_vars` (an ``nn.Parameter`` ``[K]``).

    Args:
        names: the objectives.
        kinds: ``"regression"`` (default, :math:`c=1/2`) or ``"classification"``
            (:math:`c=1`), for all objectives or as ``{name: kind}``.
        init_log_var: initial :math:`s_i` (default 0, i.e. :math:`\\sigma_i = 1`); one
            outside ``[-max_log_var, max_log_var]`` is projected onto it at the first use.
        max_log_var: the bound ``m > 0`` of every :math:`s_i` (default :data:`MAX_LOG_VAR`).

    Include :meth:`trainable_parameters` (``[log_vars]``) in the model's optimiser
    (without weight decay).
    """

    factors: Tensor

    def __init__(
        self,
        names: Sequence[str],
        *,
        kinds: TaskKind | Mapping[str, TaskKind] = "regression",
        init_log_var: float = 0.0,
        max_log_var: float = MAX_LOG_VAR,
    ) -> None:
        super().__init__(names)
        if isinstance(kinds, str):
            kinds = dict.fromkeys(self.names, kinds)
        if not isinstance(kinds, Mapping):
            raise TypeError(f"kinds must be a str or a mapping, got {type(kinds).__name__}")
        unknown = set(kinds) - set(self.names)
        if unknown:
            raise ValueError(f"kinds has unknown objectives {sorted(unknown)}; known: {self.names}")
        factors = []
        for n in self.names:
            kind = check_choice(
                f"kinds[{n!r}]", kinds.get(n, "regression"), ("regression", "classification")
            )
            factors.append(0.5 if kind == "regression" else 1.0)
        if isinstance(init_log_var, bool) or not isinstance(init_log_var, (int, float)):
            raise TypeError(f"init_log_var must be a number, got {init_log_var!r}")
        if isinstance(max_log_var, bool) or not isinstance(max_log_var, (int, float)):
            raise TypeError(f"max_log_var must be a number, got {max_log_var!r}")
        if not 0.0 < max_log_var < math.inf:
            raise ValueError(f"max_log_var must be finite and > 0, got {max_log_var!r}")
        self.max_log_var = float(max_log_var)
        self.log_vars = nn.Parameter(torch.full((len(self.names),), float(init_log_var)))
        self.register_buffer("factors", torch.tensor(factors), persistent=False)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """``[log_vars]``: trained jointly with the model by the model's optimiser."""
        return [self.log_vars]

    @property
    def sigmas(self) -> Tensor:
        """Current :math:`\\sigma_i = e^{s_i/2}`, ``[K]``, detached."""
        return torch.exp(0.5 * self.log_vars.detach())

    def weights(self, losses: Tensor, priorities: Tensor) -> tuple[Tensor, Tensor]:
        m = self.max_log_var
        if bool((self.log_vars.detach().abs() > m).any()):
            # the projection onto [-m, m] (module docstring); .data: not a step of autograd
            self.log_vars.data.clamp_(-m, m)
        s = self.log_vars.to(losses.dtype)
        w = self.factors.to(losses.dtype) * torch.exp(-s) * priorities
        return w, 0.5 * s.sum()
