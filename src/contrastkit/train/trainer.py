"""The training loop: relation batches -> negatives -> objectives -> combiner -> step.

One :class:`Trainer` owns every stateful piece of a run (encoder, optimiser, LR
schedule, combiner, temperature schedule, curriculum, negative sampler, guards,
RNG states, position in the epoch) and checkpoints all of it, so a run killed at
any point and resumed from its last checkpoint continues bit-identically in
deterministic mode. The step itself is vectorised: a batch of ``B`` relations and
``B x K`` negatives is one gather, one loss evaluation and one optimiser step.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastkit.functional.distances import PoincareDistance, get_distance
from contrastkit.losses.weighting import CombinedLoss
from contrastkit.train.callbacks import EarlyStopping, NonFiniteGuard, OverfitTracker
from contrastkit.train.config import TrainConfig
from contrastkit.train.encoders import build_encoder
from contrastkit.train.evaluation import evaluate_task
from contrastkit.train.grad_cache import grad_cache_step
from contrastkit.train.miner_config import MinerConfig
from contrastkit.train.miner_schedule import MinerSchedule
from contrastkit.train.negatives import RelationNegatives, RelationNegativeSampler
from contrastkit.train.objectives import RelationBatch, objective_losses
from contrastkit.train.progress import MetricsWriter, ProgressBar
from contrastkit.train.schedules import RunSchedules
from contrastkit.train.snapshots import SnapshotRecorder
from contrastkit.train.sparse_step_choice import build_sparse_step
from contrastkit.train.step_metrics import step_record
from contrastkit.train.step_negatives import relations_and_negatives
from contrastkit.train.table_train_step import sparse_train_step
from contrastkit.train.task import GraphTask, build_task
from contrastkit.train.validation import validation_layout


class Trainer:
    """Train node embeddings of ``config.data`` as ``config`` says, logging to ``run_dir``."""

    def __init__(self, config: TrainConfig, run_dir: str | Path | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir if run_dir is not None else config.output.run_dir)
        loop = config.loop
        if loop.num_threads > 0:
            torch.set_num_threads(loop.num_threads)
        torch.manual_seed(loop.seed)
        if loop.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.generator = torch.Generator().manual_seed(loop.seed)
        self.task: GraphTask = build_task(config.data, seed=loop.seed)
        self.distance = get_distance(config.objective.distance)
        if isinstance(self.distance, PoincareDistance) and loop.ball_eps < self.distance.eps:
            # a table allowed nearer the rim than the distance's margin: measure it there
            self.distance = PoincareDistance(self.distance.curvature, eps=loop.ball_eps)
        self.encoder = build_encoder(config.encoder, self.task, self.generator)
        self.objective_names = [n for n, w in config.objectives.items() if w > 0]
        # the miner in force (config.miner, then config.miner_stages) and its sampler
        self.negatives = MinerSchedule(config, self.task, self.generator)
        edges = self.task.train_edges.shape[1]
        self.batches_per_epoch = max(1, -(-edges // loop.batch_size))
        self.schedules = RunSchedules(config, self.encoder, self.batches_per_epoch)
        self.guard = NonFiniteGuard(loop.max_nonfinite_steps)
        self.stopper = EarlyStopping(
            config.eval.early_stopping_patience, mode=config.eval.monitor_mode
        )
        self.snapshots = SnapshotRecorder(self.run_dir / "snapshots")
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.perm: Tensor | None = None
        self.final_metrics: dict[str, float] = {}
        self.stopped_early = False
        self.train_seconds = 0.0  # wall time inside fit(), resumed runs included
        self.overfit = OverfitTracker(window=3)
        self.train_loss_sum = 0.0
        self.train_loss_count = 0
        self.val_layout = validation_layout(self.task, config)
        self.table_step = build_sparse_step(config, self.encoder, self.distance)

    @property
    def miner(self) -> MinerConfig:
        return self.negatives.miner

    @property
    def sampler(self) -> RelationNegativeSampler:
        return self.negatives.sampler

    # ---- one step -------------------------------------------------------------
    def _relation_batch(self, idx: Tensor) -> tuple[RelationBatch, Tensor]:
        u, v, negatives = self.relations_and_negatives(idx)
        return RelationBatch.from_ids(
            u, v, negatives.per_anchor(), negatives.mask, self.schedules.temperature()
        )

    def relations_and_negatives(self, idx: Tensor) -> tuple[Tensor, Tensor, RelationNegatives]:
        """Anchors, positives and negatives of the training relations ``idx [B]``
        (:func:`~contrastkit.train.step_negatives.relations_and_negatives`)."""
        return relations_and_negatives(self, idx)

    def _autocast(self) -> Any:
        """bf16 autocast on CPU for feature encoders (``loop.autocast``); a no-op otherwise."""
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.loop.autocast)

    def _loss(self, layout: RelationBatch, z: Tensor) -> tuple[CombinedLoss, dict[str, Tensor]]:
        """The combined loss and each objective's loss tensor."""
        # bf16 from autocast goes back to float32; a float64 table stays float64
        batch = dataclasses.replace(layout, z=z if z.dtype == torch.float64 else z.float())
        losses = objective_losses(self.objective_names, batch, self.config.objective, self.distance)
        return self.schedules.combine(losses), losses

    def _forward_backward(
        self, layout: RelationBatch, nodes: Tensor, keep_z: bool
    ) -> tuple[CombinedLoss, Tensor | None]:
        """Loss and gradients of one batch. With ``loop.grad_cache_chunks > 1`` the encoder
        runs in that many chunks of nodes (gradient caching: the loss still sees every
        node of the batch, so in-batch and mined negatives are unchanged)."""
        chunks = self.config.loop.grad_cache_chunks
        if chunks <= 1:
            with self._autocast():
                z = self.encoder(nodes)
            combined, losses = self._loss(layout, z)
            pcgrad = self.schedules.pcgrad
            if pcgrad is None:
                combined.total.backward()
            else:
                # PCGrad (Yu et al. 2020): per-objective gradients of the weighted losses,
                # conflicting components projected away, the sum written to .grad
                pcgrad.pc_backward({n: losses[n] * combined.components[n].weight for n in losses})
            return combined, z.detach()
        captured: list[CombinedLoss] = []

        def loss_fn(z: Tensor) -> Tensor:
            captured.append(self._loss(layout, z)[0])
            return captured[-1].total

        def encode(chunk: Tensor) -> Tensor:
            with self._autocast():
                return self.encoder(chunk).float()

        size = -(-nodes.numel() // chunks)
        grad_cache_step(encode, list(nodes.split(size)), loss_fn)
        if not keep_z:
            return captured[-1], None
        with torch.no_grad():
            return captured[-1], torch.cat([encode(c) for c in nodes.split(size)])

    def train_step(self, idx: Tensor) -> dict[str, Any]:
        start = time.perf_counter()
        self.negatives.enter(self.epoch)
        if self.table_step is not None:
            return sparse_train_step(self, idx, start)
        self.encoder.train()
        layout, nodes = self._relation_batch(idx)
        optimizer = self.schedules.optimizer
        optimizer.zero_grad(set_to_none=True)
        log = (self.step + 1) % self.config.loop.log_every == 0
        combined, z = self._forward_backward(layout, nodes, keep_z=log)
        params = [p for g in optimizer.param_groups for p in g["params"]]
        stepped = self.guard.check(combined.total, params)
        if stepped:
            self.train_loss_sum += float(combined.total.detach())
            self.train_loss_count += 1
        if stepped:
            self.schedules.clip_gradients(params)
            optimizer.step()
            self.schedules.after_optimizer_step()
        if not log or z is None:
            return {}
        batch = dataclasses.replace(layout, z=z)
        return step_record(self, batch, combined, idx.numel(), time.perf_counter() - start)

    # ---- the loop -------------------------------------------------------------
    def _epoch_permutation(self) -> Tensor:
        return torch.randperm(self.task.train_edges.shape[1], generator=self.generator)

    def fit(self, writer: MetricsWriter | None = None, checkpoint: Any = None) -> dict[str, float]:
        """Train to ``loop.epochs`` (or early stop); returns the final evaluation."""
        cfg = self.config
        total = cfg.loop.epochs * self.batches_per_epoch
        if self.step == 0:
            self.snapshots.similarities("start", self)
        bar = ProgressBar(total, enabled=cfg.loop.progress)
        bar.update(self.step)
        budget, started, spent = cfg.loop.time_budget_s, time.perf_counter(), self.train_seconds
        # out of time is not stopped early: a resumed run with more time goes on
        out_of_time = False
        try:
            while self.epoch < cfg.loop.epochs and not self.stopped_early and not out_of_time:
                if self.perm is None:
                    self.perm = self._epoch_permutation()
                bs = cfg.loop.batch_size
                while self.batch_in_epoch < self.batches_per_epoch:
                    idx = self.perm[self.batch_in_epoch * bs : (self.batch_in_epoch + 1) * bs]
                    record = self.train_step(idx)
                    self.step += 1
                    self.batch_in_epoch += 1
                    if record:
                        if writer is not None:
                            writer.write(record)
                        bar.update(0, loss=record["loss"])
                    bar.update(1)
                    self.train_seconds = spent + time.perf_counter() - started
                    if checkpoint is not None and self.step % cfg.output.checkpoint_every == 0:
                        checkpoint(self)
                    if 0 < budget <= self.train_seconds:
                        # out of time (equal-wall-time comparisons): evaluate where we are
                        out_of_time, self.final_metrics = True, {}
                        break
                if out_of_time:
                    break
                self.epoch += 1
                self.batch_in_epoch = 0
                self.perm = None
                self.schedules.end_of_epoch()
                if self.epoch % cfg.eval.every_epochs == 0 or self.epoch == cfg.loop.epochs:
                    self._evaluate(writer)
        finally:
            bar.close()
        if not self.final_metrics:
            self._evaluate(writer)
        self.snapshots.similarities("end", self)
        self.snapshots.embedding(self)
        return self.final_metrics

    @torch.no_grad()
    def _validation_loss(self) -> float | None:
        if self.val_layout is None:
            return None
        layout, nodes = self.val_layout
        self.encoder.eval()
        batch = dataclasses.replace(layout, temperature=self.schedules.temperature())
        return float(self._loss(batch, self.encoder(nodes))[0].total)

    def _evaluate(self, writer: MetricsWriter | None) -> None:
        metrics = evaluate_task(self.task, self.encoder, self.distance)
        val_loss = self._validation_loss()
        if val_loss is not None and self.train_loss_count:
            train_loss = self.train_loss_sum / self.train_loss_count
            metrics["val_loss"] = val_loss
            metrics["train_loss"] = train_loss
            # validation loss rising while training loss falls: the tracker's flag
            metrics["overfitting"] = float(self.overfit.update(train_loss, val_loss))
        self.train_loss_sum, self.train_loss_count = 0.0, 0
        self.final_metrics = metrics
        if writer is not None:
            writer.write({"kind": "eval", "step": self.step, "epoch": self.epoch, **metrics})
        monitor = self.config.eval.monitor
        if monitor in metrics:
            self.schedules.observe_metric(metrics[monitor])
            if self.stopper.update(metrics[monitor], step=self.step):
                self.stopped_early = True

    # ---- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "schedules": self.schedules.state_dict(),
            "sampler": self.sampler.state_dict(),
            "guard": self.guard.state_dict(),
            "stopper": self.stopper.state_dict(),
            "snapshots": self.snapshots.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "perm": self.perm,
            "final_metrics": dict(self.final_metrics),
            "stopped_early": self.stopped_early,
            "train_seconds": self.train_seconds,
            "overfit": self.overfit.state_dict(),
            "train_loss": [self.train_loss_sum, self.train_loss_count],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.schedules.load_state_dict(state["schedules"])
        self.guard.load_state_dict(state["guard"])
        self.stopper.load_state_dict(state["stopper"])
        self.snapshots.load_state_dict(state["snapshots"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.negatives.enter(self.epoch)  # the checkpoint's pool is that stage's
        self.sampler.load_state_dict(state["sampler"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.perm = state["perm"]
        self.final_metrics = dict(state["final_metrics"])
        self.stopped_early = bool(state["stopped_early"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.overfit.load_state_dict(state["overfit"])
        self.train_loss_sum = float(state["train_loss"][0])
        self.train_loss_count = int(state["train_loss"][1])
