r"""``ewc``: elastic weight consolidation toward the run this one starts from.

.. math::
    \Omega(\theta) = \sum_i \frac{\lambda_i}{2} F_i (\theta_i - \theta^*_i)^2

:math:`\theta^*` are the encoder parameters of the run named by ``loop.init_from``
(this run starts from them) and :math:`F` their diagonal empirical Fisher on that
run's own task: the mean over ``fisher_samples`` of its examples of the squared
per-example gradient of its loss (Kirkpatrick et al. 2017; the mean of per-sample
squares, not the square of a batch mean). The trainer computes :math:`F` once, when
the run is built, and hands it to :meth:`EWCObjective.consolidate`; the objective only
reads the encoder's parameters (:class:`~contrastkit.losses.ewc.EWC`), never calls it.
Per-layer and adaptive :math:`\lambda` as in :class:`~contrastkit.losses.ewc.EWC`.

Chained runs (C starts from B, which started from A with its own ``ewc``) accumulate
online: C's penalty holds :math:`F = \gamma F_{A} + F_{B}`, anchored at B's parameters
(Schwarz et al. 2018), not B's Fisher alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from contrastkit.losses.ewc import EWC
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.registry import Objective, ObjectiveContext, register
from contrastkit.typed_config import config_fail


@dataclass
class EWCParams:
    lambda_: float = 1.0
    layer_lambdas: dict[str, float] = field(default_factory=dict)
    adaptive: Literal["none", "fisher_mean", "normalize"] = "none"
    fisher_samples: int = 256  # examples of the earlier run's task the Fisher averages
    gamma: float = 1.0  # decay of the Fisher chained runs accumulate (online EWC)

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            config_fail("objectives.ewc.gamma", f"must be in [0, 1], got {self.gamma}")
        if self.lambda_ < 0:
            config_fail("objectives.ewc.lambda_", f"must be >= 0, got {self.lambda_}")
        if self.fisher_samples <= 0:
            config_fail("objectives.ewc.fisher_samples", f"must be > 0, got {self.fisher_samples}")


class EWCObjective(Objective):
    """The EWC penalty on the encoder's parameters (read, not called)."""

    def __init__(self, params: EWCParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        if ctx.encoder is None:
            raise ValueError("objectives.ewc needs the run's encoder in its context")
        self.params = params
        self.ewc = EWC(
            params.lambda_,
            layer_lambdas=params.layer_lambdas,
            adaptive=params.adaptive,
            gamma=params.gamma,
        )
        # kept out of this module's parameters and state: the encoder is the trainer's
        self._encoder = [ctx.encoder]

    @property
    def consolidated(self) -> bool:
        return self.ewc.num_consolidated > 0

    def inherit(self, earlier: EWCObjective) -> None:
        """Take the Fisher and anchor ``earlier`` (the run this one starts from) holds,
        keeping this objective's own λ, layers, adaptive rule and γ; a later
        :meth:`consolidate` then adds to it online."""
        state = earlier.ewc.state_dict()
        own = self.ewc.state_dict()
        for key in ("lambda_", "layer_lambdas", "adaptive", "adaptive_scale", "gamma"):
            state[key] = own[key]
        state["consolidation"] = "online"
        self.ewc.load_state_dict(state)

    def consolidate(self, fisher: Mapping[str, Tensor], anchor: Mapping[str, Tensor]) -> None:
        """Anchor the penalty at ``anchor`` with Fisher ``fisher`` (``{name: tensor}``
        over the encoder's parameter names)."""
        self.ewc.add_task(fisher, anchor)

    def forward(self, batch: Batch) -> Tensor:
        if not self.consolidated:
            raise ValueError("objectives.ewc needs loop.init_from: the run to stay near")
        encoder: nn.Module = self._encoder[0]
        return self.ewc.penalty(encoder)

    def get_extra_state(self) -> dict[str, Any]:
        return self.ewc.state_dict()

    def set_extra_state(self, state: Any) -> None:
        self.ewc.load_state_dict(state)


@register("ewc", EWCParams, "elastic weight consolidation toward loop.init_from's run")
def _ewc(params: EWCParams, ctx: ObjectiveContext) -> Objective:
    return EWCObjective(params, ctx)
