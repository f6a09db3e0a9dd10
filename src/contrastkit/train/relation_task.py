"""The ``relations`` task: relation batches ``(u, v)`` of a graph or hierarchy.

An epoch permutes the training relations (:class:`~contrastkit.train.task.GraphTask`;
for a hierarchy its transitive closure, child -> ancestor). A batch of ``B`` of them
gets ``K`` negatives each from the miner in force (``miner``, then ``miner_stages``:
:class:`~contrastkit.train.miner_schedule.MinerSchedule`), drawn by
:func:`~contrastkit.train.step_negatives.relation_negatives`, and is laid out over the
batch's distinct nodes; ``batch.relations`` keeps the global ids for the sparse
table step. The evaluation is Nickel & Kiela's reconstruction ranking on training
relations (``train/map``) and, with a link-prediction split, the held-out relations'
ranking and AUC (:func:`~contrastkit.train.evaluation.evaluate_task`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from contrastkit.functional.distances import Distance
from contrastkit.objectives.batch import Batch, RelationIds
from contrastkit.train.config import TrainConfig
from contrastkit.train.encoders import EncoderInputs, NodeEncoder
from contrastkit.train.evaluation import evaluate_task
from contrastkit.train.graph_backed import GraphBackedTask
from contrastkit.train.miner_schedule import MinerSchedule
from contrastkit.train.step_negatives import relation_negatives
from contrastkit.train.task import GraphTask, build_task
from contrastkit.train.task_base import SampleContext
from contrastkit.train.validation import validation_layout


class RelationTask(GraphBackedTask):
    kind = "relations"

    def __init__(
        self, config: TrainConfig, generator: torch.Generator, graph: GraphTask | None = None
    ) -> None:
        self.config = config
        self.graph = (
            graph
            if graph is not None
            else build_task(config.data, seed=config.loop.seed, hierarchy=config.hierarchy)
        )
        self.negatives = MinerSchedule(config, self.graph, generator)
        self.burn_in_epochs = config.burn_in.epochs

    def num_examples(self) -> int:
        return int(self.graph.train_edges.shape[1])

    def encoder_inputs(self) -> EncoderInputs:
        # message passing over the training relations only (held-out edges stay unseen),
        # both directions, duplicates merged (GraphBackedTask.message_edges)
        edges = self.message_edges(self.graph.train_edges, self.num_items)
        return EncoderInputs(self.num_items, self.graph.graph.x, edges)

    def enter_epoch(self, epoch: int) -> None:
        self.negatives.enter(epoch)

    def batch(self, idx: Tensor, ctx: SampleContext) -> Batch:
        u, v = self.graph.train_edges[0, idx], self.graph.train_edges[1, idx]
        burn_in = ctx.epoch < self.burn_in_epochs
        negatives = relation_negatives(
            u, v, self.negatives.sampler, self.negatives.miner, ctx, burn_in
        )
        if not ctx.layout:
            # the sparse table step reads the ids alone: no unique over B (K + 2) ids and
            # no [B, K] copy of shared negatives on the hot path
            empty = u.new_empty(0)
            return Batch(
                items=empty,
                anchor=empty,
                positive=empty,
                negatives=u.new_empty(u.numel(), 0),
                mask=torch.empty(u.numel(), 0, dtype=torch.bool),
                temperature=ctx.temperature,
                relations=RelationIds(u, v, negatives),
                size=int(u.numel()),
            )
        batch = Batch.from_ids(u, v, negatives.per_anchor(), negatives.mask, ctx.temperature)
        batch.relations = RelationIds(u, v, negatives)
        batch.edge_weight = self.graph.edge_weights(u, v)  # of the positive pairs
        graph = self.graph.graph
        if graph.x is not None:
            batch.features = graph.x[batch.items]
        return batch

    def evaluate(self, encoder: NodeEncoder, distance: Distance) -> dict[str, float]:
        return evaluate_task(self.graph, encoder, distance)

    def validation_batch(self, temperature: float) -> Batch | None:
        return validation_layout(self.graph, self.config, temperature)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.negatives.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.negatives.sampler.load_state_dict(state["sampler"])
