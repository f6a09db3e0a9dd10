"""What a run trains on: a task yields batches and knows its evaluation.

Three kinds (``task.kind`` in the config):

* ``relations`` — relation batches ``(u, v)`` of a graph or hierarchy with sampled or
  mined negatives (:mod:`~contrastkit.train.relation_task`);
* ``pairs`` — items (feature vectors, texts) as anchor/positive pairs with optional
  labels, in-batch and mined negatives (:mod:`~contrastkit.train.pair_task`);
* ``nodes`` — a featured graph under a GNN, full-graph or in sampled mini-batches
  (:mod:`~contrastkit.train.node_task`).

The trainer only calls this interface: ``num_examples`` (what an epoch permutes),
``batch(idx, ctx)`` (a :class:`~contrastkit.objectives.batch.Batch` with ``z`` left
to the step), ``evaluate(encoder, distance)``, the validation batch, the encoder's
inputs and the checkpointed state. A task never sees the trainer: what it needs of
the run's moment comes in a :class:`SampleContext`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from contrastkit.functional.distances import Distance
from contrastkit.objectives.batch import Batch
from contrastkit.train.encoders import EncoderInputs, NodeEncoder
from contrastkit.train.negative_count import NegativeBound


@dataclass
class SampleContext:
    """The run's moment as a task's sampling needs it."""

    epoch: int
    step: int
    temperature: float
    encoder: NodeEncoder  # read (no gradient) by mining
    distance: Distance
    num_negatives: int | None = None  # the curriculum's count, else the miner's
    max_difficulty: float | None = None  # the curriculum's cap on mined negatives
    # False: the step reads only what it says it needs (the sparse table step reads
    # batch.relations), so a task may skip laying the batch out over its distinct items
    layout: bool = True


class Task(ABC):
    kind: ClassVar[str]

    @property
    @abstractmethod
    def num_items(self) -> int:
        """Rows of the embedding (nodes, items)."""

    @abstractmethod
    def num_examples(self) -> int:
        """Examples an epoch iterates over (relations, pairs, nodes or edges)."""

    @abstractmethod
    def batch(self, idx: Tensor, ctx: SampleContext) -> Batch:
        """The batch of examples ``idx [B]`` (positions in ``0..num_examples``)."""

    @abstractmethod
    def evaluate(self, encoder: NodeEncoder, distance: Distance) -> dict[str, float]:
        """The metrics the field reports for this task (held-out ones prefixed)."""

    @abstractmethod
    def encoder_inputs(self) -> EncoderInputs:
        """Item count, features and message-passing graph for the encoder."""

    def validation_batch(self, temperature: float) -> Batch | None:
        """A fixed held-out batch for the validation loss, or ``None``."""
        return None

    def enter_epoch(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called before each step with the current epoch (miner stages)."""

    def negative_bound(self) -> NegativeBound | None:
        """The distinct negatives every anchor can have, against which a curriculum's
        negative counts are checked (``None``: the task takes no count)."""
        return None

    def record_evaluation(self) -> None:  # noqa: B027 - optional hook
        """Write what the last :meth:`evaluate` leaves in the run directory (a text
        task's per-query ranks). :meth:`evaluate` itself never writes: the trainer
        calls this on rank 0 after each evaluation of a training run, and an
        evaluation of a restored run leaves the run directory as it was unless asked
        (``Trainer.evaluate(run_files=True)``)."""

    @property
    def labels(self) -> Tensor | None:
        """Per-item labels ``[N]`` for probes and plots, or ``None``."""
        return None

    @property
    def label_names(self) -> list[str] | None:
        return None

    @property
    def edge_weighted(self) -> bool:
        """Whether batches carry the graph's edge weights (``Batch.edge_weight``)."""
        return False

    @property
    def item_names(self) -> list[str] | None:
        """A name per item (node names), or ``None``."""
        return None

    @property
    def num_classes(self) -> int:
        labels = self.labels
        return 0 if labels is None else int(labels.max()) + 1

    @abstractmethod
    def snapshot_pairs(self, limit: int) -> tuple[Tensor, Tensor]:
        """Up to ``limit`` positive pairs ``(u [P], v [P])`` for the similarity plots."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional
        pass
