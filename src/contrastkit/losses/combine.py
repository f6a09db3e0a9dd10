"""Multi-objective loss combiner: fixed weights, magnitude balancing, uncertainty, GradNorm.

Entry point of the combiner. Every method maps ``{name: scalar loss}`` to a
:class:`~contrastkit.losses.weighting.CombinedLoss` (``total`` plus a per-component
report) and accepts user priorities :math:`p_i` (from a loss-weight schedule or a
curriculum stage) via ``set_priorities``:

* ``"fixed"`` — :math:`L = \\sum_i p_i L_i` (:class:`FixedWeighting`).
* ``"magnitude"`` — :class:`MagnitudeWeighting`, the original design's "relative
  magnitude" heuristic: :math:`w_i = p_i\\, \\bar m / m_i` with :math:`m_i` an
  exponential moving average of :math:`|L_i|`, so each objective contributes about
  :math:`p_i \\bar m`. A heuristic: it equalises loss *values*, not gradients, and
  has no convergence guarantee.
* ``"uncertainty"`` — :class:`~contrastkit.losses.uncertainty.UncertaintyWeighting`
  (Kendall, Gal & Cipolla 2018).
* ``"gradnorm"`` — :class:`~contrastkit.losses.gradnorm.GradNormWeighting` (Chen et al. 2018).

Gradient surgery (PCGrad) acts on gradients, not loss values: see
:mod:`contrastkit.losses.pcgrad`.

Example:
    >>> import torch
    >>> from contrastkit.losses.combine import CombinerConfig, build_combiner
    >>> combiner = build_combiner(CombinerConfig("magnitude", {"infonce": 1.0, "recon": 1.0}))
    >>> out = combiner({"infonce": torch.tensor(4.0), "recon": torch.tensor(0.01)})
    >>> [round(c.weighted, 3) for c in out.components.values()]
    [2.005, 2.005]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_non_negative, check_positive
from contrastkit.losses.gradnorm import GradNormWeighting
from contrastkit.losses.uncertainty import UncertaintyWeighting
from contrastkit.losses.weighting import CombinedLoss, LossWeighting
from contrastkit.schedules.loss_weights import check_weights

CombineMethod = Literal["fixed", "magnitude", "uncertainty", "gradnorm"]


class FixedWeighting(LossWeighting):
    """:math:`L = \\sum_i p_i L_i` with weights ``{name: p_i >= 0}`` (settable per step)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        w = check_weights("weights", weights)
        super().__init__(list(w))
        self.set_priorities(w)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Alias of :meth:`set_priorities`: for fixed weighting they are the weights."""
        self.set_priorities(weights)

    def weights(self, losses: Tensor, priorities: Tensor) -> tuple[Tensor, Tensor]:
        return priorities, losses.new_zeros(())


class MagnitudeWeighting(LossWeighting):
    """Balance loss magnitudes: :math:`w_i = p_i \\bar m / \\max(m_i, \\epsilon \\bar m)`.

    Args:
        names: the objectives.
        momentum: EMA factor :math:`\\beta` of :math:`m_i \\leftarrow \\beta m_i +
            (1-\\beta)|L_i|` (default 0.9; 0 uses the current batch only).
        eps: relative floor on :math:`m_i` (default 1e-6), which caps any weight at
            :math:`p_i / \\epsilon`; objectives at exactly zero do not blow up.

    The EMA is updated only in training mode with gradients enabled (as
    :class:`~contrastkit.losses.gradnorm.GradNormWeighting` does), so a validation pass
    under ``torch.no_grad()`` or ``eval()`` leaves it alone; the weights carry no gradient.
    """

    magnitudes: Tensor
    has_magnitudes: Tensor

    def __init__(self, names: Iterable[str], *, momentum: float = 0.9, eps: float = 1e-6) -> None:
        super().__init__(list(names))
        self.momentum = check_non_negative("momentum", momentum)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {momentum!r}")
        self.eps = check_positive("eps", eps)
        self.register_buffer("magnitudes", torch.zeros(len(self.names), dtype=torch.float64))
        self.register_buffer("has_magnitudes", torch.zeros((), dtype=torch.bool))

    def weights(self, losses: Tensor, priorities: Tensor) -> tuple[Tensor, Tensor]:
        mag = losses.detach().abs().to(self.magnitudes.dtype)
        if self.training and torch.is_grad_enabled():
            beta = torch.where(self.has_magnitudes, self.momentum, 0.0).to(mag.dtype)
            # A non-finite loss must not poison the running magnitudes for good.
            updated = torch.where(
                torch.isfinite(mag), beta * self.magnitudes + (1.0 - beta) * mag, self.magnitudes
            )
            self.magnitudes.copy_(updated)
            self.has_magnitudes.fill_(True)
        m = torch.where(self.has_magnitudes, self.magnitudes, mag)
        mean = m.mean()
        scale = torch.where(mean > 0, mean / torch.maximum(m, self.eps * mean), torch.ones_like(m))
        return (scale.to(losses.dtype) * priorities), losses.new_zeros(())


def combine_losses(losses: Mapping[str, Tensor], weights: Mapping[str, float]) -> CombinedLoss:
    """Fixed-weight combination :math:`\\sum_i w_i L_i` with a report (:class:`FixedWeighting`)."""
    return FixedWeighting(weights)(losses)


@dataclass
class CombinerConfig:
    """Typed configuration of :func:`build_combiner`.

    Args:
        method: ``"fixed"``, ``"magnitude"``, ``"uncertainty"`` or ``"gradnorm"``.
        weights: ``{objective: priority}``; its keys are the objectives (all >= 0).
        momentum: EMA factor of ``magnitude``.
        alpha: GradNorm restoring force.
        lr: GradNorm weight learning rate.
        init_log_var: initial log-variance of ``uncertainty``.
        min_weight: GradNorm's floor on a weight.
    """

    method: CombineMethod = "fixed"
    weights: dict[str, float] = field(default_factory=lambda: {"infonce": 1.0})
    momentum: float = 0.9
    alpha: float = 1.5
    lr: float = 0.025
    init_log_var: float = 0.0
    min_weight: float = 1e-3

    def __post_init__(self) -> None:
        check_choice("method", self.method, get_args(CombineMethod))
        self.weights = check_weights("weights", self.weights)


def build_combiner(
    config: CombinerConfig, shared_parameters: Iterable[Tensor] | None = None
) -> LossWeighting:
    """Build the weighting named by ``config.method`` (GradNorm needs ``shared_parameters``)."""
    names = list(config.weights)
    combiner: LossWeighting
    if config.method == "fixed":
        return FixedWeighting(config.weights)
    if config.method == "magnitude":
        combiner = MagnitudeWeighting(names, momentum=config.momentum)
    elif config.method == "uncertainty":
        combiner = UncertaintyWeighting(names, init_log_var=config.init_log_var)
    else:
        if shared_parameters is None:
            raise ValueError("shared_parameters is required for method='gradnorm'")
        combiner = GradNormWeighting(
            names,
            shared_parameters,
            alpha=config.alpha,
            lr=config.lr,
            min_weight=config.min_weight,
        )
    combiner.set_priorities(config.weights)
    return combiner
