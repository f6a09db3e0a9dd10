r"""Regularisers and supervised heads over a :class:`~contrastkit.objectives.batch.Batch`.

* ``norm`` — :math:`\mathrm{mean}_i (\|z_i\| - r)^2` toward the target norm ``r``;
* ``orthogonality`` — :math:`\|Z^\top Z / N - I_d\|_F^2` (decorrelated dimensions);
* ``sparsity`` — the L1 penalty :math:`\mathrm{mean}_i \|z_i\|_1`;
* ``node_classification`` — cross-entropy of a linear head on the labelled rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from contrastkit.functional.regularizers import embedding_norm_penalty, feature_orthogonality
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.registry import Objective, ObjectiveContext, register
from contrastkit.typed_config import config_fail


@dataclass
class NormParams:
    target: float | None = None  # None: objective.norm_target


class NormObjective(Objective):
    def __init__(self, target: float) -> None:
        super().__init__()
        self.target = target

    def forward(self, batch: Batch) -> Tensor:
        return embedding_norm_penalty(batch.z, self.target)


@register("norm", NormParams, "embedding norms toward a target")
def _norm(params: NormParams, ctx: ObjectiveContext) -> Objective:
    return NormObjective(ctx.norm_target if params.target is None else params.target)


@dataclass
class OrthogonalityParams:
    pass


class OrthogonalityObjective(Objective):
    def forward(self, batch: Batch) -> Tensor:
        return feature_orthogonality(batch.z)


@register("orthogonality", OrthogonalityParams, "feature orthogonality ||ZᵀZ/N - I||²")
def _orthogonality(params: OrthogonalityParams, ctx: ObjectiveContext) -> Objective:
    return OrthogonalityObjective()


@dataclass
class SparsityParams:
    pass


class SparsityObjective(Objective):
    def forward(self, batch: Batch) -> Tensor:
        from contrastkit.functional.sparsity import l1_sparsity

        return l1_sparsity(batch.z)


@register("sparsity", SparsityParams, "L1 sparsity of the embedding")
def _sparsity(params: SparsityParams, ctx: ObjectiveContext) -> Objective:
    return SparsityObjective()


@dataclass
class NodeClassificationParams:
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            config_fail(
                "objectives.node_classification.dropout", f"must be in [0, 1), got {self.dropout}"
            )


class NodeClassificationObjective(Objective):
    needs = frozenset({"labels"})

    def __init__(self, params: NodeClassificationParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        if ctx.num_classes < 2:
            raise ValueError("objectives.node_classification needs labels with >= 2 classes")
        from contrastkit.losses.node_classification import NodeClassificationLoss

        self.loss = NodeClassificationLoss(ctx.dim, ctx.num_classes, dropout=params.dropout)

    def forward(self, batch: Batch) -> Tensor:
        if batch.labels is None:
            raise ValueError("objectives.node_classification needs a batch with labels")
        return self.loss(batch.z, batch.labels, batch.label_mask)


@register("node_classification", NodeClassificationParams, "cross-entropy of a linear head")
def _node_classification(params: NodeClassificationParams, ctx: ObjectiveContext) -> Objective:
    return NodeClassificationObjective(params, ctx)
