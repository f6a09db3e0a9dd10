"""A fixed or learnable softmax temperature, log-parameterised and clamped.

Learning :math:`\\log\\tau` instead of :math:`\\tau` keeps the temperature positive
without a constrained optimiser and makes steps multiplicative, which suits a
quantity that ranges over orders of magnitude (CLIP, Radford et al. 2021, learns
:math:`\\log(1/\\tau)` and clamps it so that :math:`1/\\tau \\le 100`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from contrastkit._validation import check_positive


class Temperature(nn.Module):
    r"""Softmax temperature :math:`\tau = \operatorname{clamp}(e^{\theta}, \tau_{min}, \tau_{max})`.

    The stored parameter is :math:`\theta = \log \tau`. The clamp is applied to
    :math:`\theta` in :meth:`forward` (so the returned value never leaves
    ``[min_value, max_value]``; the gradient is zero while it sits on a bound) and
    :meth:`clamp_` projects the parameter itself back into range, the way CLIP clamps
    its logit scale after every optimiser step.

    Args:
        init: initial temperature (> 0). Default 0.07 (CLIP, MoCo).
        learnable: whether :math:`\theta` is an ``nn.Parameter`` (else a buffer).
            Default ``True``.
        min_value: lower bound (> 0). Default 0.01, i.e. a logit scale of at most 100 as
            in CLIP.
        max_value: upper bound (>= ``min_value``). Default 1.0.

    Returns (forward): a 0-dim tensor :math:`\tau`.

    Example:
        >>> t = Temperature(0.07)
        >>> round(float(t()), 4), round(float(t.scale), 2)
        (0.07, 14.29)
    """

    def __init__(
        self,
        init: float = 0.07,
        *,
        learnable: bool = True,
        min_value: float = 0.01,
        max_value: float = 1.0,
    ) -> None:
        super().__init__()
        init = check_positive("init", init)
        lo = check_positive("min_value", min_value)
        hi = check_positive("max_value", max_value)
        if hi < lo:
            raise ValueError(f"max_value must be >= min_value ({lo}), got {max_value!r}")
        if not lo <= init <= hi:
            raise ValueError(
                f"init must lie in [min_value, max_value] = [{lo}, {hi}], got {init!r}"
            )
        self.min_value = lo
        self.max_value = hi
        self.learnable = bool(learnable)
        theta = torch.tensor(math.log(init), dtype=torch.get_default_dtype())
        if self.learnable:
            self.log_temperature: Tensor = nn.Parameter(theta)
        else:
            self.register_buffer("log_temperature", theta)

    def forward(self) -> Tensor:
        """Return the current temperature as a 0-dim tensor (attached when learnable)."""
        return self.log_temperature.clamp(math.log(self.min_value), math.log(self.max_value)).exp()

    @property
    def scale(self) -> Tensor:
        """The logit scale :math:`1/\\tau` (what sentence-transformers calls ``scale``)."""
        return 1.0 / self.forward()

    @torch.no_grad()
    def clamp_(self) -> Temperature:
        """Project :math:`\\theta` back into ``[log min_value, log max_value]`` in place (call after
        ``optimizer.step()`` so that the parameter cannot drift far past a bound)."""
        self.log_temperature.clamp_(math.log(self.min_value), math.log(self.max_value))
        return self

    def extra_repr(self) -> str:
        return (
            f"value={float(self.forward().detach()):.4g}, learnable={self.learnable}, "
            f"min_value={self.min_value}, max_value={self.max_value}"
        )
