"""How a :class:`~contrastkit.train.trainer.Trainer` evaluates: the task's metrics of a
checked embedding, the training and validation losses since the last evaluation, and
what an evaluation drives (early stopping, plateau curricula, the evaluation hooks).

Under data parallelism the model is replicated, so the evaluation is done once and
every rank receives the same numbers, from which it takes the same early-stopping and
best-checkpoint decisions. A relation task's rankings (mean rank, MAP: the ``N x N``
scoring) are split over the ranks by anchors and gathered exactly
(:func:`~contrastkit.eval.sharded_ranking.sharded_filtered_ranking`); everything else
— the other tasks' evaluations, probes, AUC, the validation loss — runs on rank 0 and
is broadcast (:func:`~contrastkit.dist.collectives.computed_on_rank_zero`) while the
others wait: a probe or a text task's per-query files do not add up over shards. A text
encoder's encode of every text, which is most of a text evaluation, is split over the
ranks first (:meth:`~contrastkit.train.text_encoder.TextItemEncoder.embed_all_across_ranks`:
every ``W``-th length-sorted batch each, the same vectors as one process's), and rank
0's evaluation reads it from the encoder's cache.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from contrastkit.dist.collectives import computed_on_rank_zero
from contrastkit.dist.in_batch import gathering_disabled
from contrastkit.dist.rank_zero import is_main
from contrastkit.eval.collapse import CollapsedEmbeddingError
from contrastkit.eval.reconstruction import Ties
from contrastkit.functional.distances import Distance
from contrastkit.objectives.batch import Batch
from contrastkit.train.config import TrainConfig
from contrastkit.train.evaluation import check_embedding, evaluate_task
from contrastkit.train.progress import MetricsWriter
from contrastkit.train.relation_task import RelationTask
from contrastkit.train.step import AutogradStep
from contrastkit.train.trainer_state import TrainerState


class TrainerEvaluation(TrainerState):
    """A run's evaluations (the :class:`~contrastkit.train.trainer.Trainer` sets every
    attribute declared here and in :class:`TrainerState`)."""

    config: TrainConfig
    distance: Distance
    ties: Ties
    val_batch: Batch | None
    validation_step: AutogradStep
    # called with (trainer, metrics) after every evaluation
    evaluation_hooks: list[Callable[[Any, dict[str, float]], None]]
    _monitor_warned: bool

    @torch.no_grad()
    def _validation_loss(self) -> tuple[float, dict[str, float]] | None:
        """The weighted total and each objective's unweighted loss on the held-out batch."""
        batch = self.val_batch
        if batch is None:
            return None
        self.encoder.eval()
        self.objectives.eval()
        self.schedules.combiner.eval()  # validation never moves adaptive weights
        try:
            batch.temperature = self.schedules.temperature()
            # encoded as a training step encodes (corrupted input too, for DGI), with a
            # generator of its own so that validation leaves training's draws alone
            encoded = self.validation_step.encode(batch)
            with gathering_disabled():  # every rank holds the same validation batch
                combined = self.validation_step.losses(encoded)[0]
            parts = {name: comp.loss for name, comp in combined.components.items()}
            return float(combined.total), parts
        finally:
            self.objectives.train()
            self.schedules.combiner.train()

    @property
    def ranks_relations(self) -> bool:
        """Whether the evaluation ranks relations (and so depends on :attr:`ties`)."""
        return isinstance(self.task, RelationTask)

    def evaluate(self, *, shard_ranking: bool = False, run_files: bool = False) -> dict[str, float]:
        """The task's metrics of the current embedding, after checking that the
        embedding is not degenerate (:func:`~contrastkit.train.evaluation.check_embedding`:
        a :class:`~contrastkit.eval.collapse.CollapsedEmbeddingError` when it collapsed
        or is non-finite), whatever the task; relations are ranked with :attr:`ties`.
        ``shard_ranking``: a collective of every rank, which ranks its share of the
        relations' anchors (:func:`~contrastkit.train.evaluation.evaluate_task`).
        ``run_files``: also write what the evaluation leaves in the run directory
        (:meth:`~contrastkit.train.task_base.Task.record_evaluation`, on rank 0), as
        training's evaluations do; by default the run directory is left untouched."""
        metrics = self._evaluate_task(shard_ranking)
        if run_files and is_main():
            self.task.record_evaluation()
        return metrics

    def _evaluate_task(self, shard_ranking: bool) -> dict[str, float]:
        encoder = self.encoder
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                z = encoder.embed_all().detach()
        finally:
            encoder.train(was_training)
        check_embedding(z, self.distance, f"the {self.task.kind} task's embedding")
        if isinstance(self.task, RelationTask):
            # RelationTask.evaluate(encoder, distance) has no tie policy to pass on
            return evaluate_task(
                self.task.graph,
                encoder,
                self.distance,
                ties=self.ties,
                shard_ranking=shard_ranking,
            )
        return self.task.evaluate(encoder, self.distance)

    def _embed_across_ranks(self) -> None:
        """A collective of every rank: an encoder that can split its whole-embedding
        encode over the ranks (a text encoder's ``embed_all_across_ranks``) does so,
        filling the cache that rank 0's evaluation then reads, so the encode of the
        texts — what a text evaluation spends its time on — is shared out."""
        across = getattr(self.encoder, "embed_all_across_ranks", None)
        if across is not None:
            across()

    def _task_metrics(self, shard_ranking: bool = False) -> dict[str, float]:
        """:meth:`evaluate`, a collapse reported with the step and epoch it stopped at."""
        try:
            return self.evaluate(shard_ranking=shard_ranking, run_files=True)
        except CollapsedEmbeddingError as exc:
            raise CollapsedEmbeddingError(
                f"training stopped at step {self.step} (epoch {self.epoch}): {exc}"
            ) from None

    def _measure(self, train: dict[str, float]) -> dict[str, float]:
        """The metrics beside the task's: the guard's skips, the training losses
        ``train`` (averaged over ranks), the validation loss and the overfitting flag."""
        # what the guard skipped, in every evaluation: 0.0 says no step was
        metrics = {"skipped_nonfinite_steps": float(self.guard.skipped)}
        metrics.update(train)
        validation = self._validation_loss()
        if validation is not None and train:
            val_loss, val_parts = validation
            metrics["val_loss"] = val_loss
            metrics.update({f"val_loss/{k}": v for k, v in val_parts.items()})
            # validation loss rising while training loss falls: the tracker's flag
            metrics["overfitting"] = float(self.overfit.update(train["train_loss"], val_loss))
        return metrics

    def _evaluate(self, writer: MetricsWriter | None) -> None:
        n = self.train_loss_count
        train: dict[str, float] = {}
        if n:
            # the weighted total (what the optimiser saw) and each objective unweighted,
            # averaged over the steps since the last evaluation
            train["train_loss"] = self.train_loss_sum / n
            train.update({f"train_loss/{k}": v / n for k, v in self.train_loss_parts.items()})
        self.train_loss_sum, self.train_loss_count, self.train_loss_parts = 0.0, 0, {}
        metrics: dict[str, float]
        if self.parallel is not None:
            # each rank's own batches: averaged (a collective); then the replicated
            # model is evaluated once — a text encoder's encode of the texts and the
            # rankings split over the ranks, the rest on rank 0 — and every rank
            # receives the metrics, so early stopping, the best checkpoint and
            # plateau curricula decide alike
            train = self.parallel.reduce_metrics(train)
            self._embed_across_ranks()
        if self.parallel is not None and self.ranks_relations:
            metrics = self._task_metrics(shard_ranking=True)
            metrics.update(computed_on_rank_zero(lambda: self._measure(train)))
        else:
            metrics = computed_on_rank_zero(
                lambda: {**self._task_metrics(), **self._measure(train)}
            )
        self.final_metrics = metrics
        if writer is not None:
            record: dict[str, Any] = {"kind": "eval", "step": self.step, "epoch": self.epoch}
            if self.ranks_relations:
                record["ties"] = self.ties  # the ranking's tie policy, beside its numbers
            writer.write({**record, **metrics})
        monitor = self.config.eval.monitor
        if monitor not in metrics and not self._monitor_warned:
            # a name this run never reports (no split, no labels): say so once, rather
            # than let early stopping and a plateau curriculum silently never fire
            self._monitor_warned = True
            warnings.warn(
                f"eval.monitor {monitor!r} is not among this run's metrics "
                f"({', '.join(sorted(metrics))}); early stopping and plateau curricula "
                "will not fire",
                stacklevel=2,
            )
        if monitor in metrics:
            self.schedules.observe_metric(metrics[monitor])
            if self.stopper.update(metrics[monitor], step=self.step):
                self.stopped_early = True
        for hook in self.evaluation_hooks:
            hook(self, metrics)
