"""Learning-rate schedules: linear warm-up then cosine, linear or step decay, from torch.

Built only from ``torch.optim.lr_scheduler`` (``LinearLR``, ``CosineAnnealingLR``,
``StepLR``, ``ConstantLR`` joined by ``SequentialLR``). With warm-up :math:`W`, total
:math:`T` steps, base rate :math:`\\eta_0` and :math:`t' = t - W`:

.. math::

    \\eta_t = \\eta_0 \\big(f_0 + (1 - f_0)\\, t / W\\big) \\quad (t < W)

.. math::

    \\text{cosine: } \\eta_{\\min} + \\tfrac12(\\eta_0 - \\eta_{\\min})(1 + \\cos(\\pi t'/(T-W)))
    \\qquad \\text{linear: } \\eta_0 \\big(1 - (1 - f_1)\\, t' / (T - W)\\big)
    \\qquad \\text{step: } \\eta_0\\, \\gamma^{\\lfloor t' / s \\rfloor}

Call ``scheduler.step()`` once per optimiser step, at most ``total_steps`` times for
cosine (torch's cosine rises again after its period). Goyal et al., "Accurate, Large
Minibatch SGD", 2017 (warm-up); Loshchilov & Hutter, "SGDR", ICLR 2017 (cosine).

Example:
    >>> import torch
    >>> from contrastkit.train.lr_schedule import LRScheduleConfig, build_lr_scheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> cfg = LRScheduleConfig("cosine", warmup_steps=2, total_steps=6, warmup_start_factor=0.5)
    >>> sched = build_lr_scheduler(opt, cfg)
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 3)); opt.step(); sched.step()
    >>> lrs
    [0.5, 0.75, 1.0, 0.854, 0.5, 0.146]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch.optim import lr_scheduler as lrs

from contrastkit._validation import check_choice, check_non_negative, check_positive

LRScheduleName = Literal["constant", "cosine", "linear", "step"]


@dataclass
class LRScheduleConfig:
    """Typed LR schedule settings.

    Args:
        name: ``"constant"`` (default), ``"cosine"``, ``"linear"`` or ``"step"``.
        warmup_steps: linear warm-up length (>= 0, default 0).
        warmup_start_factor: :math:`f_0` in (0, 1], the first step's fraction of the rate.
        total_steps: :math:`T` including warm-up; required by cosine and linear.
        min_lr: cosine floor :math:`\\eta_{\\min}` (absolute, >= 0).
        end_factor: linear decay's final fraction :math:`f_1` in [0, 1].
        step_size: step decay period :math:`s` (> 0).
        gamma: step decay factor :math:`\\gamma` in (0, 1].
    """

    name: LRScheduleName = "constant"
    warmup_steps: int = 0
    warmup_start_factor: float = 0.01
    total_steps: int | None = None
    min_lr: float = 0.0
    end_factor: float = 0.0
    step_size: int = 1000
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_choice("name", self.name, get_args(LRScheduleName))
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise TypeError(f"warmup_steps must be an int, got {self.warmup_steps!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        f0 = check_positive("warmup_start_factor", self.warmup_start_factor)
        if f0 > 1.0:
            raise ValueError(f"warmup_start_factor must be in (0, 1], got {f0}")
        if self.name in ("cosine", "linear"):
            t = self.total_steps
            if isinstance(t, bool) or not isinstance(t, int) or t <= self.warmup_steps:
                raise ValueError(
                    f"total_steps must be an int > warmup_steps ({self.warmup_steps}) "
                    f"for name={self.name!r}, got {t!r}"
                )
        check_non_negative("min_lr", self.min_lr)
        if not 0.0 <= check_non_negative("end_factor", self.end_factor) <= 1.0:
            raise ValueError(f"end_factor must be in [0, 1], got {self.end_factor}")
        if (
            isinstance(self.step_size, bool)
            or not isinstance(self.step_size, int)
            or self.step_size <= 0
        ):
            raise ValueError(f"step_size must be an int > 0, got {self.step_size!r}")
        if not 0.0 < check_positive("gamma", self.gamma) <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, config: LRScheduleConfig
) -> lrs.LRScheduler:
    """The scheduler described by ``config`` for ``optimizer`` (all its param groups).

    Works with :class:`~contrastkit.train.composite_optimizer.CompositeOptimizer`; for a
    :class:`~contrastkit.losses.pcgrad.PCGrad` wrapper pass ``wrapper.optimizer``.
    ``state_dict()`` / ``load_state_dict()`` are torch's.
    """
    if not isinstance(config, LRScheduleConfig):
        raise TypeError(f"config must be an LRScheduleConfig, got {type(config).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    w = config.warmup_steps
    main: lrs.LRScheduler
    if config.name == "cosine":
        main = lrs.CosineAnnealingLR(optimizer, T_max=config.total_steps - w, eta_min=config.min_lr)  # type: ignore[operator]
    elif config.name == "linear":
        span = config.total_steps - w  # type: ignore[operator]
        main = lrs.LinearLR(optimizer, 1.0, config.end_factor, total_iters=span)
    elif config.name == "step":
        main = lrs.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    else:
        main = lrs.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if w == 0:
        return main
    warm = lrs.LinearLR(optimizer, config.warmup_start_factor, 1.0, total_iters=w)
    return lrs.SequentialLR(optimizer, [warm, main], milestones=[w])
