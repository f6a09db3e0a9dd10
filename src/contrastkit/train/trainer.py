"""The training loop: a task's batches -> one step -> guard, update, log, checkpoint.

One :class:`Trainer` owns every stateful piece of a run (task and its sampler,
encoder, objectives, optimiser, LR schedule, combiner, temperature schedule,
curriculum, guards, RNG states, position in the epoch) and checkpoints all of it, so
a run killed at any point and resumed from its last checkpoint continues
bit-identically in deterministic mode. The parts it calls take tensors and small
context objects, never the trainer:

* the task (:mod:`~contrastkit.train.task_base`) turns example ids into a
  :class:`~contrastkit.objectives.batch.Batch` given a :class:`SampleContext`;
* the step (:mod:`~contrastkit.train.step`: autograd, or the sparse table step)
  computes the combined loss and gradients, and applies the update;
* the objectives (:mod:`contrastkit.objectives`) map a batch to scalars.

The trainer's evaluations live in its base :class:`~.trainer_evaluation.TrainerEvaluation`,
its checkpointed state and resuming in :class:`~.trainer_state.TrainerState`.

Faults are loud: a step whose loss or gradients are NaN/Inf is skipped
(:class:`~contrastkit.train.callbacks.NonFiniteGuard`), counted on the progress bar
(``skipped=N``) and in every evaluation (``skipped_nonfinite_steps``), warned about
once when they pile up, and an error after ``loop.max_nonfinite_steps`` in a row; an
evaluation refuses a degenerate embedding (collapsed, or non-finite) with
:class:`~contrastkit.eval.collapse.CollapsedEmbeddingError` instead of scoring it; a
checkpoint is checked against the config (entries, shapes, finite values) before it
is loaded (:class:`~contrastkit.train.checkpoint.CheckpointError`).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit.dist.env import is_distributed
from contrastkit.dist.in_batch import gathering_disabled
from contrastkit.eval.reconstruction import Ties
from contrastkit.functional.distances import PoincareDistance, get_distance
from contrastkit.losses.fisher import diagonal_fisher
from contrastkit.objectives.entries_ewc import EWCObjective
from contrastkit.objectives.matryoshka import wrap_matryoshka
from contrastkit.objectives.registry import ObjectiveContext, build_objectives
from contrastkit.train.callbacks import EarlyStopping, NonFiniteGuard, OverfitTracker
from contrastkit.train.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
)
from contrastkit.train.config import TrainConfig, resume_config
from contrastkit.train.data_parallel import DataParallel
from contrastkit.train.distributed_sampler import DistributedBatchSampler
from contrastkit.train.encoders import build_encoder
from contrastkit.train.negative_count import warn_curriculum_negatives
from contrastkit.train.progress import MetricsWriter, ProgressBar
from contrastkit.train.schedules import RunSchedules
from contrastkit.train.snapshots import MAX_PAIRS, SnapshotRecorder
from contrastkit.train.sparse_step_choice import build_sparse_step
from contrastkit.train.start_encoding import prepare_encoder
from contrastkit.train.step import AutogradStep, SparseStep
from contrastkit.train.step_metrics import batch_statistics, loss_record
from contrastkit.train.task_base import SampleContext, Task
from contrastkit.train.tasks import build_run_task
from contrastkit.train.trainer_evaluation import TrainerEvaluation
from contrastkit.train.trainer_state import REQUIRED_STATE
from contrastkit.typed_config import ConfigError

# REQUIRED_STATE was defined here; its home is trainer_state
__all__ = ["REQUIRED_STATE", "Trainer"]


class Trainer(TrainerEvaluation):
    """Train the embedding of ``config``'s task as ``config`` says, logging to ``run_dir``.

    ``eval.ties``: how the relation rankings count a negative tied with a relation
    (:func:`~contrastkit.eval.reconstruction.filtered_ranking`): ``"optimistic"`` (the
    default, gensim's), ``"average"`` or ``"pessimistic"``; it is logged with every
    evaluation of a ``relations`` task (``"ties"`` in the ``metrics.jsonl`` record).
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path | None = None) -> None:
        self.config = config
        self.ties: Ties = config.eval.ties
        self.run_dir = Path(run_dir if run_dir is not None else config.output.run_dir)
        loop = config.loop
        if loop.num_threads > 0:
            torch.set_num_threads(loop.num_threads)
        torch.manual_seed(loop.seed)
        # both ways: a process-wide switch an earlier run in this process (a tune trial,
        # a test) may have turned on, which `deterministic: false` must turn off
        torch.use_deterministic_algorithms(loop.deterministic, warn_only=True)
        self.generator = torch.Generator().manual_seed(loop.seed)
        self.task: Task = build_run_task(config, self.generator)
        self.distance = get_distance(config.objective.distance)
        ball_eps = config.sparse.ball_eps
        if isinstance(self.distance, PoincareDistance) and ball_eps < self.distance.eps:
            # a table allowed nearer the rim than the distance's margin: measure it there
            self.distance = PoincareDistance(self.distance.curvature, eps=ball_eps)
        inputs = self.task.encoder_inputs()
        self.encoder = build_encoder(config.encoder, inputs, self.generator)
        # a text encoder's width is its model's, not encoder.dim
        dim = int(getattr(self.encoder, "dim", config.encoder.dim))
        self.objectives = build_objectives(
            config.objective_specs(),
            ObjectiveContext(
                distance=self.distance,
                dim=dim,
                num_items=self.task.num_items,
                feature_dim=None if inputs.x is None else int(inputs.x.shape[1]),
                num_classes=self.task.num_classes,
                edge_weighted=self.task.edge_weighted,
                margin=config.objective.margin,
                norm_target=config.objective.norm_target,
                temperature=config.objective.temperature,
                generator=torch.Generator().manual_seed(loop.seed + 3),
                encoder=self.encoder,
                gather=config.distributed.gather,
            ),
        )
        if config.matryoshka.enabled:
            self.objectives = wrap_matryoshka(
                self.objectives, config.matryoshka.dims, config.matryoshka.resolved_weights()
            )
        if loop.init_from is not None:
            self._start_from(Path(loop.init_from))
        elif any(isinstance(o, EWCObjective) for o in self.objectives.values()):
            raise ConfigError("objectives.ewc needs loop.init_from: the run to stay near")
        self.batches_per_epoch = max(1, -(-self.task.num_examples() // loop.batch_size))
        # several processes (torchrun): DDP, each rank's share of every global batch
        self.parallel = DataParallel(config, self.task.num_examples()) if is_distributed() else None
        self.sampler: DistributedBatchSampler | None = None
        if self.parallel is not None:
            self.sampler = self.parallel.sampler
            self.batches_per_epoch = self.sampler.batches_per_epoch
        trained = nn.ModuleDict({"encoder": self.encoder, "objectives": self.objectives})
        self.schedules = RunSchedules(
            config,
            trained,
            self.batches_per_epoch,
            shared_parameters=self.encoder.last_shared_parameters(),
        )
        # a curriculum's stage counts replace the task's own: checked like them
        warn_curriculum_negatives(
            self.schedules.curriculum,
            config.schedule.curriculum,
            loop.epochs,
            self.task.negative_bound,
        )
        table_step = build_sparse_step(config, self.encoder, self.distance)
        self.step_fn: AutogradStep | SparseStep
        if table_step is not None:  # (under DDP: wrapped below, once the seeds are set)
            self.step_fn = SparseStep(
                table_step, self.encoder, self.schedules.combine, self.schedules.optimizer
            )
        else:
            self.step_fn = AutogradStep(
                self.encoder,
                self.objectives,
                self.schedules.combine,
                self.schedules.optimizer,
                pcgrad=self.schedules.pcgrad,
                grad_cache_chunks=loop.grad_cache_chunks,
                grad_cache_chunk_size=loop.grad_cache_chunk_size,
                autocast=loop.autocast,
                corruption_seed=loop.seed + 4,
            )
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
        self.train_loss_parts: dict[str, float] = {}  # unweighted, summed like the total
        self.val_batch = self.task.validation_batch(config.objective.temperature)
        self.validation_step = AutogradStep(
            self.encoder,
            self.objectives,
            self.schedules.combine,
            self.schedules.optimizer,
            autocast=loop.autocast,
            corruption_seed=loop.seed + 5,
        )
        self._floor_warned: set[str] = set()
        self._monitor_warned = False
        # called with (trainer, metrics) after every evaluation, once it is logged and
        # early stopping has seen it (contrastkit tune reports to Optuna's pruner here)
        self.evaluation_hooks: list[Callable[[Trainer, dict[str, float]], None]] = []
        if self.parallel is not None:
            corruption = getattr(self.step_fn, "corruption", None)
            self.parallel.seed(self.generator, corruption)
            self.step_fn = self.parallel.wrap_step(self.step_fn)

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0, or the only one)."""
        return self.parallel is None or self.parallel.is_main

    def use_sampler(self, sampler: DistributedBatchSampler) -> None:
        """Train on the batches of ``sampler`` from the next epoch on: in one process with
        ``world_size=1``, the global batches a data-parallel run of the same config
        trains on (its single-process reference)."""
        self.sampler = sampler
        self.batches_per_epoch = sampler.batches_per_epoch

    @classmethod
    def restore(
        cls,
        run_dir: str | Path,
        overrides: list[str] | None = None,
    ) -> Trainer:
        """The trainer of a run directory at its last checkpoint (checked against the
        run's config: a :class:`CheckpointError` when it does not fit)."""
        run_dir = Path(run_dir)
        config = resume_config(run_dir, ["loop.progress=false", *(overrides or [])])
        trainer = cls(config, run_dir)
        ckpt = checkpoint_path(run_dir)
        state = load_checkpoint(ckpt)
        if "trainer" not in state:
            raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no trainer state")
        trainer.load_state_dict(state["trainer"], source=ckpt)
        return trainer

    def _start_from(self, run_dir: Path) -> None:
        """Start from the encoder of the run in ``run_dir``; an ``ewc`` objective is
        anchored at its parameters with their Fisher on that run's own task."""
        earlier = Trainer.restore(run_dir)
        state = earlier.encoder.state_dict()
        for key, value in self.encoder.state_dict().items():
            # a PCA head this run adds (encoder.projection) starts unfitted and is fitted
            # at step 0 to the earlier run's model
            if key.startswith("text.head.") and key not in state:
                state[key] = value
        try:
            self.encoder.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(
                f"loop.init_from {str(run_dir)!r}: its encoder does not fit this run's ({first})"
            ) from None
        for objective in self.objectives.values():
            if isinstance(objective, EWCObjective):
                for before in earlier.objectives.values():
                    if isinstance(before, EWCObjective) and before.consolidated:
                        objective.inherit(before)  # chained runs accumulate (online EWC)
                fisher = earlier.fisher(objective.params.fisher_samples)
                anchor = {
                    n: p.detach().clone()
                    for n, p in earlier.encoder.named_parameters()
                    if p.requires_grad
                }
                objective.consolidate(fisher, anchor)

    def fisher(self, samples: int) -> dict[str, Tensor]:
        r"""The diagonal empirical Fisher of the encoder's parameters on this run's task:
        :math:`F = \frac1n \sum_i (\nabla_\theta \ell_i)^2` over ``samples`` examples drawn
        with a fixed seed, each example's loss (its negatives drawn as in training)
        differentiated on its own — the mean of per-example squares, not the square of
        a batch mean."""
        gen = torch.Generator().manual_seed(self.config.loop.seed + 6)
        picked = torch.randperm(self.task.num_examples(), generator=gen)[:samples]
        ctx = self.sample_context()
        step = self.validation_step
        self.encoder.eval()  # no dropout noise in the estimate

        def loss(model: nn.Module, idx: Tensor) -> Tensor:
            batch = self.task.batch(idx.view(1), ctx)
            return step.losses(step.encode(batch))[0].total

        with gathering_disabled():  # one example's loss, on each rank alike
            return diagonal_fisher(self.encoder, list(picked), loss)

    @property
    def sparse(self) -> bool:
        """Whether the run takes the sparse table step."""
        return isinstance(self.step_fn, SparseStep)

    # ---- one step -------------------------------------------------------------
    def sample_context(self) -> SampleContext:
        schedules = self.schedules
        return SampleContext(
            epoch=self.epoch,
            step=self.step,
            temperature=schedules.temperature(),
            encoder=self.encoder,
            distance=self.distance,
            num_negatives=schedules.curriculum_negatives(),
            max_difficulty=schedules.max_difficulty(),
        )

    def train_step(self, idx: Tensor) -> dict[str, Any]:
        """One step over the examples ``idx [B]``; the metrics record on logging steps."""
        start = time.perf_counter()
        self.task.enter_epoch(self.epoch)
        log = (self.step + 1) % self.config.loop.log_every == 0
        ctx = self.sample_context()
        ctx.layout = log or not self.sparse  # the sparse step reads batch.relations alone
        batch = self.task.batch(idx, ctx)
        out = self.step_fn.compute(batch, keep_z=log)
        params = self.step_fn.parameters
        total = out.combined.total
        if self.parallel is not None:
            total = self.parallel.mean_loss(total)  # the global batch's loss, on every rank
        taken = self.guard.check(total, params, gradients=out.gradients)
        warning = self.guard.warning(self.step + 1)  # this step included
        if warning is not None:
            warnings.warn(warning, RuntimeWarning, stacklevel=2)
        if taken:
            self.train_loss_sum += float(total.detach())
            self.train_loss_count += 1
            for name, comp in out.combined.components.items():
                self.train_loss_parts[name] = self.train_loss_parts.get(name, 0.0) + comp.loss
            self.schedules.clip_gradients(params)
            lr = float(self.schedules.optimizer.param_groups[0]["lr"])
            self.step_fn.apply(out, lr)
            self.schedules.after_optimizer_step(self.step_fn.uses_optimizer)
            self._warn_floor()
        if not log or out.batch.z.numel() == 0:
            return {}
        stats, difficulty = batch_statistics(out.batch, self.distance)
        self.snapshots.observe_difficulty(difficulty)
        record: dict[str, Any] = {
            "kind": "train",
            "step": self.step + 1,
            "epoch": self.epoch,
            **loss_record(out.combined),
            "temperature": batch.temperature,
            "lr": self.schedules.optimizer.param_groups[0]["lr"],
            **stats,
            "skipped_nonfinite": self.guard.skipped,
            "examples_per_s": batch.num_examples / max(time.perf_counter() - start, 1e-9),
        }
        record.update(self.schedules.stage_record())
        if self.parallel is not None:
            record = self.parallel.reduce_record(record)
        return record

    def _warn_floor(self) -> None:
        at_floor = getattr(self.schedules.combiner, "at_floor", None)
        if at_floor is None:
            return
        for name in at_floor():
            if name not in self._floor_warned:
                self._floor_warned.add(name)
                warnings.warn(
                    f"combiner: objective {name!r} has its weight at the floor "
                    f"(epoch {self.epoch}); it barely trains",
                    stacklevel=2,
                )

    # ---- the loop -------------------------------------------------------------
    def _epoch_permutation(self) -> Tensor:
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch)
            return self.sampler.permutation()
        return torch.randperm(self.task.num_examples(), generator=self.generator)

    def _batch_ids(self, perm: Tensor, t: int) -> Tensor:
        """The examples of step ``t`` of the epoch (this rank's share under DDP)."""
        if self.sampler is not None:
            return self.sampler.batch(perm, t)
        bs = self.config.loop.batch_size
        return perm[t * bs : (t + 1) * bs]

    def fit(self, writer: MetricsWriter | None = None, checkpoint: Any = None) -> dict[str, float]:
        """Train to ``loop.epochs`` (or early stop); returns the final evaluation."""
        cfg = self.config
        total = cfg.loop.epochs * self.batches_per_epoch
        if self.step == 0:
            # the starting model's embeddings step 0 reads, encoded once (the text
            # encoder: fits a PCA head to them, serves the pool and distill's targets)
            objectives = self.objectives.values()
            said = prepare_encoder(self.encoder, self.task, objectives, self.sample_context())
            if said and self.is_main:
                print(f"contrastkit: {said}", file=sys.stderr)
            self._similarities("start")
            if cfg.eval.at_start:
                self._evaluate(writer)  # the "before" numbers, logged as step 0
            for line in self.schedules.ownership() if self.is_main else ():
                print(f"contrastkit: {line}", file=sys.stderr)
        bar = ProgressBar(total, enabled=cfg.loop.progress and self.is_main)
        bar.update(self.step)
        shown_skipped = 0  # the bar shows skipped=N from the first skipped step on
        budget, started, spent = cfg.loop.time_budget_s, time.perf_counter(), self.train_seconds
        # out of time is not stopped early: a resumed run with more time goes on
        out_of_time = False
        try:
            while self.epoch < cfg.loop.epochs and not self.stopped_early and not out_of_time:
                if self.perm is None:
                    self.perm = self._epoch_permutation()
                while self.batch_in_epoch < self.batches_per_epoch:
                    idx = self._batch_ids(self.perm, self.batch_in_epoch)
                    record = self.train_step(idx)
                    self.step += 1
                    self.batch_in_epoch += 1
                    if self.guard.skipped != shown_skipped:
                        shown_skipped = self.guard.skipped
                        bar.update(0, skipped=shown_skipped)
                    if record:
                        if writer is not None:
                            writer.write(record)
                        bar.update(0, loss=record["loss"], **_unweighted(record))
                    bar.update(1)
                    self.train_seconds = spent + time.perf_counter() - started
                    if checkpoint is not None and self.step % cfg.output.checkpoint_every == 0:
                        checkpoint(self)
                    if 0 < budget and self._out_of(budget):
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
        self._similarities("end")
        if self.is_main:  # files of the run directory: rank 0's
            self.snapshots.embedding(
                self.encoder, self.config.encoder.manifold, self.task.labels, self.task.label_names
            )
        return self.final_metrics

    def _out_of(self, budget: float) -> bool:
        """Whether ``loop.time_budget_s`` is spent (under DDP by rank 0's clock, so that
        every rank stops at the same step)."""
        spent = budget <= self.train_seconds
        return spent if self.parallel is None else self.parallel.agree(spent)

    def _similarities(self, tag: str) -> None:
        if not self.is_main:
            return
        pairs = self.task.snapshot_pairs(MAX_PAIRS)
        self.snapshots.similarities(tag, pairs, self.encoder, self.distance)


def _unweighted(record: dict[str, Any]) -> dict[str, float]:
    return {k.split("/", 1)[1]: v for k, v in record.items() if k.startswith("loss/")}
