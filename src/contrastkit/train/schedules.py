"""Everything in a run that changes with the step: optimiser and LR, temperature,
curriculum stage, loss weights and the combiner — built from the config in one
place and checkpointed together.

The LR factor is the product of the burn-in factor (``burn_in.lr_scale``
for the first ``burn_in.epochs`` epochs, Nickel & Kiela 2017) and the
warm-up/decay schedule of ``optim``; it is applied through
``torch.optim.lr_scheduler.LambdaLR``. At the start of each epoch of
``optim.restart_epochs`` the optimiser's state is reset (:mod:`contrastkit.optim.restart`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit.losses.combine import CombinerConfig, build_combiner
from contrastkit.losses.pcgrad import PCGrad
from contrastkit.losses.weighting import CombinedLoss
from contrastkit.optim.factory import build_optimizer, clip_gradients
from contrastkit.optim.restart import reset_optimizer_state
from contrastkit.schedules.curriculum import CurriculumScheduler
from contrastkit.schedules.loss_weights import LossWeightScheduler
from contrastkit.schedules.temperature import TemperatureScheduler
from contrastkit.train.config import TrainConfig


class RunSchedules:
    """Optimiser, LR, temperature, curriculum, loss weights and combiner of a run.

    Args:
        config: the run's config.
        trained: every module the optimiser trains: the encoder first (its parameter
            order is the checkpoint's), then the objectives' own parameters (learnable
            temperatures, decoders, heads) and the combiner's (uncertainty's
            log-variances).
        batches_per_epoch: steps in an epoch.
        shared_parameters: the last shared layer, whose gradient norms GradNorm balances.
    """

    def __init__(
        self,
        config: TrainConfig,
        trained: nn.Module,
        batches_per_epoch: int,
        shared_parameters: list[Tensor] | None = None,
    ) -> None:
        self.config = config
        self.batches_per_epoch = batches_per_epoch
        self.total_steps = config.loop.epochs * batches_per_epoch
        weights = config.objective_weights()
        method = config.combiner.method
        self.combiner = build_combiner(
            CombinerConfig(
                method="fixed" if method == "pcgrad" else method,
                # GradNorm learns the weights from 1 (Chen et al. 2018); the configured
                # ones would multiply its own (TrainConfig refuses unequal ones)
                weights=dict.fromkeys(weights, 1.0) if method == "gradnorm" else weights,
                momentum=config.combiner.momentum,
                alpha=config.combiner.alpha,
                lr=config.combiner.lr,
                init_log_var=config.combiner.init_log_var,
                min_weight=config.combiner.min_weight,
            ),
            shared_parameters=shared_parameters,
        )
        holder = nn.ModuleDict({"trained": trained})
        extra = self.combiner.trainable_parameters()
        if extra:  # uncertainty's log-variances: trained with the model
            holder["combiner"] = nn.ParameterList(extra)
        self.optimizer = build_optimizer(config.optim.optimizer_config(), holder)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.pcgrad: PCGrad | None = None
        if method == "pcgrad":
            gen = torch.Generator().manual_seed(config.loop.seed + 2)
            self.pcgrad = PCGrad(self.optimizer, generator=gen)

        sc = config.schedule
        self.temperature_schedule: TemperatureScheduler | None = None
        if sc.temperature != "constant":
            self.temperature_schedule = TemperatureScheduler(
                sc.temperature,
                start=config.objective.temperature,
                end=sc.temperature_end,
                steps=max(config.loop.epochs, 1),
            )
        self.loss_weights: LossWeightScheduler | None = None
        if sc.loss_weights == "warmup":
            self.loss_weights = LossWeightScheduler.linear_warmup(
                sc.loss_weights_initial, weights, max(sc.loss_weights_warmup, 1)
            )
        self.curriculum: CurriculumScheduler | None = None
        plateau: dict[str, Any] = {}
        if sc.curriculum_patience > 0:
            plateau = {"patience": sc.curriculum_patience, "mode": config.eval.monitor_mode}
        if sc.curriculum == "default":
            self.curriculum = CurriculumScheduler.default(**plateau)
        elif sc.curriculum == "linear":
            self.curriculum = CurriculumScheduler.linear(
                num_stages=sc.curriculum_stages,
                samples_per_stage=max(1, config.loop.epochs // sc.curriculum_stages),
                k_start=max(1, config.miner.num_negatives // 4),
                k_end=config.miner.num_negatives,
                temp_start=config.objective.temperature,
                temp_end=sc.temperature_end,
                **plateau,
            )
        self.epoch = 0

    # ---- learning rate --------------------------------------------------------
    def _lr_factor(self, step: int) -> float:
        cfg = self.config
        burn_in = cfg.burn_in.epochs * self.batches_per_epoch
        factor = cfg.burn_in.lr_scale if step < burn_in else 1.0
        warm = cfg.optim.warmup_steps
        if warm > 0 and step < warm:
            return factor * (step + 1) / warm
        span = max(self.total_steps - warm, 1)
        progress = min(max(step - warm, 0) / span, 1.0)
        if cfg.optim.lr_schedule == "cosine":
            factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
        elif cfg.optim.lr_schedule == "linear":
            factor *= 1.0 - progress
        return factor

    def clip_gradients(self, params: list[Tensor]) -> None:
        if self.config.optim.grad_clip > 0:
            clip_gradients(params, max_norm=self.config.optim.grad_clip)

    def after_optimizer_step(self, optimizer_stepped: bool = True) -> None:
        """Advance the LR schedule. ``optimizer_stepped=False``: the update was applied
        outside the optimiser (the sparse table step), so torch's order check is moot."""
        if optimizer_stepped:
            self.lr_scheduler.step()
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            self.lr_scheduler.step()

    # ---- what the curriculum and schedules say now -----------------------------
    def temperature(self) -> float:
        if self.curriculum is not None:
            return float(self.curriculum.temperature)
        if self.temperature_schedule is not None:
            return float(self.temperature_schedule.value)
        return self.config.objective.temperature

    def curriculum_negatives(self) -> int | None:
        """The curriculum stage's negative count, or ``None`` (the miner's)."""
        return int(self.curriculum.num_negatives) if self.curriculum is not None else None

    def max_difficulty(self) -> float | None:
        return float(self.curriculum.difficulty_threshold) + 1.0 if self.curriculum else None

    def combine(self, losses: Mapping[str, Tensor]) -> CombinedLoss:
        """Combine with the weights of now: the curriculum stage's, else the loss-weight
        schedule's at this epoch, else the configured ones."""
        weights: Mapping[str, float] | None = None
        if self.curriculum is not None:
            weights = self.curriculum.loss_weights
        elif self.loss_weights is not None:
            weights = self.loss_weights.value_at(self.epoch)
        if weights is not None:
            self.combiner.set_priorities(
                {n: w for n, w in weights.items() if n in self.combiner.names}
            )
        return self.combiner(losses)

    def ownership(self) -> list[str]:
        """What owns the temperature and the loss weights in this run, one line each
        (the trainer prints them: a curriculum never overrides a setting silently)."""
        cfg, lines = self.config, []
        if self.curriculum is not None:
            temps = " -> ".join(f"{st.temperature:g}" for st in self.curriculum.stages)
            lines.append(
                f"temperature: the curriculum's stages ({temps}); objective.temperature "
                f"{cfg.objective.temperature:g} is their start only for 'linear'"
            )
            named = sorted(
                {n for st in self.curriculum.stages for n in st.loss_weights}
                & set(self.combiner.names)
            )
            if named:
                lines.append(
                    f"loss weights: the curriculum's stages set {', '.join(named)} "
                    "(their objectives.<name>.weight is replaced)"
                )
        elif self.temperature_schedule is not None:
            lines.append(
                f"temperature: schedule.temperature {cfg.schedule.temperature!r} "
                f"{cfg.objective.temperature:g} -> {cfg.schedule.temperature_end:g}"
            )
        return lines

    def stage_record(self) -> dict[str, Any]:
        if self.curriculum is None:
            return {}
        return {"stage": self.curriculum.value.name, "stage_index": self.curriculum.stage_index}

    def end_of_epoch(self) -> None:
        self.epoch += 1
        if self.epoch in self.config.optim.restart_epochs:
            reset_optimizer_state(self.optimizer)
        if self.temperature_schedule is not None:
            self.temperature_schedule.step()
        if self.curriculum is not None:
            self.curriculum.step(1)

    def observe_metric(self, value: float) -> None:
        if self.curriculum is not None and self.curriculum.patience is not None:
            self.curriculum.observe(value)

    # ---- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "combiner": self.combiner.state_dict(),
            "temperature": None
            if self.temperature_schedule is None
            else self.temperature_schedule.state_dict(),
            "curriculum": None if self.curriculum is None else self.curriculum.state_dict(),
            "epoch": self.epoch,
            "pcgrad": None if self.pcgrad is None else self.pcgrad.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        # a run resumed with another optim.lr (--resume ... --set optim.lr=X): the
        # config's rate wins over the checkpoint's, at the schedule's current factor
        lr = self.config.optim.lr
        if any(base != lr for base in self.lr_scheduler.base_lrs):
            self.lr_scheduler.base_lrs = [lr] * len(self.lr_scheduler.base_lrs)
            factor = self._lr_factor(self.lr_scheduler.last_epoch)
            for group in self.optimizer.param_groups:
                group["initial_lr"], group["lr"] = lr, lr * factor
        self.combiner.load_state_dict(state["combiner"])
        if self.temperature_schedule is not None and state["temperature"] is not None:
            self.temperature_schedule.load_state_dict(state["temperature"])
        if self.curriculum is not None and state["curriculum"] is not None:
            self.curriculum.load_state_dict(state["curriculum"])
        self.epoch = int(state["epoch"])
        if self.pcgrad is not None and state["pcgrad"] is not None:
            self.pcgrad.load_state_dict(state["pcgrad"])
