r"""Contrastive objectives over a :class:`~contrastkit.objectives.batch.Batch`.

* ``infonce`` — :math:`-\log \frac{e^{s(a,p)/\tau}}{e^{s(a,p)/\tau} + \sum_n e^{s(a,n)/\tau}}`
  over the batch's negatives (Nickel & Kiela's loss under the Poincaré distance);
  ``in_batch``: the other pairs' positives are the negatives (``symmetric`` adds the
  positive-to-anchor direction, CLIP); ``multi_positive``: every same-label key is a
  positive (supervised contrastive, Khosla et al. 2020). Same-label and same-item keys
  are never in-batch negatives (false-negative mask). ``learnable_temperature``:
  :math:`\log\tau` is a parameter (CLIP).

Under data parallelism the in-batch forms of ``infonce`` and ``mnr`` take their
candidates from every rank (``distributed.gather``: ``local``, ``full`` or ``none``;
:mod:`~contrastkit.dist.in_batch`, :mod:`~contrastkit.objectives.gathered_losses`).
* ``mnr`` — sentence-transformers' multiple-negatives ranking loss: in-batch
  positives plus the batch's (hard) negatives as candidates, logits scaled by ``scale``.
* ``triplet`` — :math:`\max(0, m + s(a,n) - s(a,p))` over valid negatives, with the
  adaptive margin and the hard-negative penalty of
  :func:`~contrastkit.functional.triplet.triplet_margin_loss`.
* ``local`` — Hadsell et al.'s pair loss :math:`d(a,p)^2`, :math:`\max(0, m - d(a,n))^2`;
  under cosine the distance is the chordal one of the normalised embeddings (the
  geometry of the run), under dot plain Euclidean.
* ``multihop`` — pairs ``h`` hops apart in the batch's graph pulled with weight
  :math:`w_h`, negatives pushed past the margin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from contrastkit.dist.in_batch import gather_in_batch, uses_gather
from contrastkit.functional.distances import Distance
from contrastkit.functional.info_nce import info_nce, supervised_info_nce
from contrastkit.functional.mnr import multiple_negatives_ranking_loss
from contrastkit.functional.pair_contrastive import (
    local_contrastive_loss,
    multi_hop_contrastive_loss,
)
from contrastkit.functional.relation_kernels import RELATION_DISTANCES
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.functional.triplet import triplet_margin_loss
from contrastkit.graph.csr import to_csr
from contrastkit.graph.khop import k_hop_rings
from contrastkit.losses.temperature import Temperature
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.gathered_losses import (
    gathered_info_nce,
    gathered_mnr,
    gathered_supervised_info_nce,
)
from contrastkit.objectives.registry import Objective, ObjectiveContext, register
from contrastkit.typed_config import config_fail


def in_batch_false_negatives(batch: Batch) -> Tensor:
    """``[B, B]`` True where key ``j`` may not be a negative for anchor ``i``: the same
    positive item, the anchor's own item, the same label (labels ``< 0`` match
    nothing), or a pair the batch's ``false_negatives`` forbids. The diagonal (the
    positive itself) is left to the loss."""
    pos = batch.positive
    same = (pos.unsqueeze(1) == pos.unsqueeze(0)) | (batch.anchor.unsqueeze(1) == pos.unsqueeze(0))
    if batch.false_negatives is not None:
        same |= batch.false_negatives[batch.anchor][:, pos]
    labels = batch.labels
    if labels is not None:
        a, p = labels[batch.anchor], labels[pos]
        same |= (a.unsqueeze(1) == p.unsqueeze(0)) & (a.unsqueeze(1) >= 0)
    return same.fill_diagonal_(False)


def hard_negative_false_negatives(batch: Batch) -> Tensor:
    """``[B, B K]`` True where a hard-negative column may not be a negative for anchor
    ``i``. MNR shows every row's hard negatives to every anchor (sentence-transformers'
    layout: column ``h B + j`` is row ``j``'s ``h``-th negative), so a column is masked
    when its slot is empty, when it is anchor ``i``'s positive or own item, when it
    carries anchor ``i``'s label (labels ``< 0`` match nothing) or when the batch's
    ``false_negatives`` forbids the pair."""
    cols = batch.negatives.t().reshape(-1)  # [K B], column h B + j
    valid = batch.mask.t().reshape(-1)
    bad = ~valid.unsqueeze(0) | (cols.unsqueeze(0) == batch.positive.unsqueeze(1))
    bad |= cols.unsqueeze(0) == batch.anchor.unsqueeze(1)
    if batch.false_negatives is not None:
        bad |= batch.false_negatives[batch.anchor][:, cols]
    labels = batch.labels
    if labels is not None:
        a = labels[batch.anchor].unsqueeze(1)
        bad |= (labels[cols].unsqueeze(0) == a) & (a >= 0)
    return bad


@dataclass
class InfoNCEParams:
    temperature: float | None = None  # None: the run's (objective.temperature / schedule)
    learnable_temperature: bool = False
    in_batch: bool = False
    symmetric: bool = False  # in-batch only
    multi_positive: bool = False  # in-batch, positives = same-label keys

    def __post_init__(self) -> None:
        if self.temperature is not None and self.temperature <= 0:
            config_fail("objectives.infonce.temperature", f"must be > 0, got {self.temperature}")
        if (self.symmetric or self.multi_positive) and not self.in_batch:
            config_fail("objectives.infonce", "symmetric/multi_positive need in_batch: true")
        if self.symmetric and self.multi_positive:
            config_fail("objectives.infonce", "symmetric and multi_positive are exclusive")


class InfoNCEObjective(Objective):
    def __init__(self, params: InfoNCEParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params = params
        self.distance = ctx.distance
        self.gather = ctx.gather
        self.owns_temperature = params.temperature is not None or params.learnable_temperature
        self.temperature: Temperature | None = None
        if self.owns_temperature:
            init = params.temperature if params.temperature is not None else ctx.temperature
            self.temperature = Temperature(
                init,
                learnable=params.learnable_temperature,
                min_value=min(1e-3, init),
                max_value=max(100.0, init),
            )

    def tau(self, batch: Batch) -> float | Tensor:
        return batch.temperature if self.temperature is None else self.temperature()

    def forward(self, batch: Batch) -> Tensor:
        p, tau = self.params, self.tau(batch)
        if p.in_batch and uses_gather(self.gather):
            view = gather_in_batch(batch, self.gather)
            if p.multi_positive:
                return gathered_supervised_info_nce(view, tau, self.distance)
            return gathered_info_nce(view, tau, self.distance, p.symmetric)
        if p.multi_positive:
            labels = batch.labels
            if labels is None:
                raise ValueError("objectives.infonce.multi_positive needs a batch with labels")
            a_lab = labels[batch.anchor]
            # each key is a positive of its own anchor and of every same-label anchor
            positive_mask = (a_lab.unsqueeze(1) == labels[batch.positive].unsqueeze(0)) & (
                a_lab.unsqueeze(1) >= 0
            )
            positive_mask |= torch.eye(len(a_lab), dtype=torch.bool)
            same_item = batch.positive.unsqueeze(1) == batch.positive.unsqueeze(0)
            return supervised_info_nce(
                batch.anchors(),
                batch.positives(),
                positive_mask=positive_mask,
                false_negative_mask=same_item & ~positive_mask,
                temperature=tau,
                distance=self.distance,
            )
        if p.in_batch:
            return info_nce(
                batch.anchors(),
                batch.positives(),
                None,
                false_negative_mask=in_batch_false_negatives(batch),
                temperature=tau,
                distance=self.distance,
                symmetric=p.symmetric,
            )
        if self.distance.name in RELATION_DISTANCES and isinstance(tau, float):
            # the fused kernel: same value and gradients, one pass over [B, 1 + K, d]
            candidates = torch.cat([batch.positive.unsqueeze(1), batch.negatives], dim=1)
            return relation_softmax_loss(
                batch.anchors(), batch.z[candidates], batch.mask, tau, self.distance
            )
        return info_nce(
            batch.anchors(),
            batch.positives(),
            batch.negative_embeddings(),
            negative_mask=batch.mask,
            temperature=tau,
            distance=self.distance,
        )


@register("infonce", InfoNCEParams, "InfoNCE: explicit, in-batch, symmetric, multi-positive")
def _infonce(params: InfoNCEParams, ctx: ObjectiveContext) -> Objective:
    return InfoNCEObjective(params, ctx)


@dataclass
class MNRParams:
    scale: float = 20.0  # 1 / temperature, sentence-transformers' default
    symmetric: bool = False
    hard_negatives: bool = True  # the batch's negatives join the candidates

    def __post_init__(self) -> None:
        if self.scale <= 0:
            config_fail("objectives.mnr.scale", f"must be > 0, got {self.scale}")


class MNRObjective(Objective):
    def __init__(self, params: MNRParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params, self.distance = params, ctx.distance
        self.gather = ctx.gather

    def forward(self, batch: Batch) -> Tensor:
        negatives = None
        k = batch.negatives.shape[1]
        if uses_gather(self.gather):
            hard = self.params.hard_negatives and k > 0
            view = gather_in_batch(batch, self.gather, hard_negatives=hard)
            return gathered_mnr(view, self.params.scale, self.distance, self.params.symmetric)
        fn = in_batch_false_negatives(batch)
        if self.params.hard_negatives and k > 0:
            negatives = batch.z[batch.negatives]
            fn = torch.cat([fn, hard_negative_false_negatives(batch)], dim=1)
        return multiple_negatives_ranking_loss(
            batch.anchors(),
            batch.positives(),
            negatives,
            scale=self.params.scale,
            distance=self.distance,
            symmetric=self.params.symmetric,
            false_negative_mask=fn,
        )


@register("mnr", MNRParams, "multiple-negatives ranking loss (sentence-transformers)")
def _mnr(params: MNRParams, ctx: ObjectiveContext) -> Objective:
    return MNRObjective(params, ctx)


@dataclass
class TripletParams:
    margin: float | None = None  # None: objective.margin
    adaptive_margin: bool = False
    hard_negative_penalty: bool = False
    penalty_weight: float = 0.1
    penalty_threshold: float = 0.8
    negative_reduction: str = "mean"


class TripletObjective(Objective):
    def __init__(self, params: TripletParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params, self.distance = params, ctx.distance
        self.margin = ctx.margin if params.margin is None else params.margin

    def forward(self, batch: Batch) -> Tensor:
        p = self.params
        return triplet_margin_loss(
            batch.anchors(),
            batch.positives(),
            batch.negative_embeddings(),
            negative_mask=batch.mask,
            margin=self.margin,
            distance=self.distance,
            adaptive_margin=p.adaptive_margin,
            hard_negative_penalty=p.hard_negative_penalty,
            penalty_weight=p.penalty_weight,
            penalty_threshold=p.penalty_threshold,
            negative_reduction=p.negative_reduction,  # type: ignore[arg-type]
        )


@register("triplet", TripletParams, "triplet margin loss (adaptive margin, hard-negative penalty)")
def _triplet(params: TripletParams, ctx: ObjectiveContext) -> Objective:
    return TripletObjective(params, ctx)


def pair_geometry(distance: Distance) -> tuple[str | Distance, bool]:
    """The non-negative distance a pair loss uses in the run's geometry: the metric
    itself, chordal distance of normalised vectors under cosine, L2 under dot."""
    if not distance.higher_is_closer:
        return distance, False
    return "euclidean", distance.name == "cosine"


@dataclass
class LocalParams:
    margin: float | None = None  # None: objective.margin


class LocalObjective(Objective):
    def __init__(self, params: LocalParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.margin = ctx.margin if params.margin is None else params.margin
        self.distance, self.normalize = pair_geometry(ctx.distance)

    def forward(self, batch: Batch) -> Tensor:
        z = torch.nn.functional.normalize(batch.z, dim=-1) if self.normalize else batch.z
        pos, neg = batch.positive_edges(), batch.negative_edges()
        similar = torch.cat(
            [
                torch.ones(pos.shape[1], dtype=torch.bool),
                torch.zeros(neg.shape[1], dtype=torch.bool),
            ]
        )
        return local_contrastive_loss(
            z, torch.cat([pos, neg], dim=1), similar, margin=self.margin, distance=self.distance
        )


@register("local", LocalParams, "Hadsell et al.'s pair loss in the run's geometry")
def _local(params: LocalParams, ctx: ObjectiveContext) -> Objective:
    return LocalObjective(params, ctx)


@dataclass
class MultiHopParams:
    hop_weights: list[float] = field(default_factory=lambda: [1.0, 0.5])
    margin: float | None = None
    negative_weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.hop_weights or any(w < 0 for w in self.hop_weights):
            config_fail("objectives.multihop.hop_weights", f"must be >= 0, got {self.hop_weights}")


def hop_pairs(edges: Tensor, num_nodes: int, max_hop: int) -> tuple[Tensor, Tensor]:
    """Pairs ``[2, P]`` of rows ``1..max_hop`` hops apart in the undirected graph
    ``edges`` over ``num_nodes`` rows, and their hop counts ``[P]``
    (:func:`~contrastkit.graph.khop.k_hop_rings`: sparse, vectorised)."""
    both = torch.cat([edges, edges.flip(0)], dim=1)
    rings = k_hop_rings(to_csr(both, num_nodes=num_nodes), torch.arange(num_nodes), max_hop)
    return torch.stack([rings.anchor, rings.node]), rings.hop


class MultiHopObjective(Objective):
    def __init__(self, params: MultiHopParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        self.params = params
        self.margin = ctx.margin if params.margin is None else params.margin
        self.distance, self.normalize = pair_geometry(ctx.distance)

    def forward(self, batch: Batch) -> Tensor:
        p = self.params
        pairs, hops = hop_pairs(batch.graph_edges(), batch.z.shape[0], len(p.hop_weights))
        return multi_hop_contrastive_loss(
            batch.z,
            pairs,
            hops,
            hop_weights=p.hop_weights,
            negative_edge_index=batch.negative_edges(),
            negative_weight=p.negative_weight,
            margin=self.margin,
            distance=self.distance,
            normalize=self.normalize,
        )


@register("multihop", MultiHopParams, "multi-hop contrastive loss over the batch's graph")
def _multihop(params: MultiHopParams, ctx: ObjectiveContext) -> Objective:
    return MultiHopObjective(params, ctx)
