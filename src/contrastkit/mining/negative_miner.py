r"""A thin miner object and in-batch triplet mining with labels.

:class:`NegativeMiner` stores the hyper-parameters (``k``, strategy, distance,
filters, memory budget) and its own ``torch.Generator``; each call builds the
exclusions from ids, positives, labels and edges and runs
:func:`~contrastkit.mining.miner.mine`. Its generator state is in
:meth:`NegativeMiner.state_dict`, so a resumed run draws the same negatives.

:func:`mine_in_batch` forms triplets inside a labelled batch ``z [N, d]``: every
item is an anchor, its positive a uniformly drawn *other* item of the same label,
and its ``K`` negatives are mined from the batch with the anchor and every
same-label item excluded — e.g. semi-hard,

.. math::
    n \in \operatorname{top}_K \{ s(a, n) : y_n \ne y_a,\ s(a, n) < s(a, p) \},

(Schroff et al. 2015), in ``O(N K)`` output instead of all ``O(N^3)`` triplets.

Example:
    >>> z = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    >>> y = torch.arange(12) % 3
    >>> t = mine_in_batch(z, y, 2, "hardest", generator=0)
    >>> bool((y[t.positive] == y).all()), bool((y[t.result.indices] != y[:, None]).all())
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import (
    check_float_tensor,
    check_length,
    check_positive_int,
    check_tensor,
)
from contrastkit.functional.distances import Distance
from contrastkit.graph.csr import CSR
from contrastkit.graph.rng import as_generator
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.filters import FalseNegativeFilters
from contrastkit.mining.miner import mine
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET, PoolLike, check_pool, pool_rows
from contrastkit.mining.result import MiningResult
from contrastkit.mining.strategies import Strategy


@dataclass
class InBatchTriplets:
    """``anchor [N]``, ``positive [N]`` (``-1`` = no other item with that label) and
    the negatives ``result`` ``[N, K]`` (rows without a positive are masked)."""

    anchor: Tensor
    positive: Tensor
    result: MiningResult


def random_positives(labels: Tensor, generator: torch.Generator) -> Tensor:
    """For each item a uniformly drawn other item with the same label, ``[N]``
    (``-1`` for singletons). Vectorised over a label sort, no loop over items."""
    n = labels.numel()
    order = torch.sort(labels, stable=True).indices
    _, inv, counts = torch.unique_consecutive(
        labels[order], return_inverse=True, return_counts=True
    )
    start = (torch.cumsum(counts, 0) - counts)[inv]
    size = counts[inv]
    r = (torch.rand(n, generator=generator, dtype=torch.float64) * (size - 1)).long()
    j = start + r
    j = j + (j >= torch.arange(n)).long()  # skip the item itself
    pos_sorted = torch.where(size > 1, order[j.clamp_max(n - 1)], -1)
    out = torch.empty_like(pos_sorted)
    out[order] = pos_sorted
    return out


_PAIRS_MAX_CLASS = 64


def _same_label(labels: Tensor) -> dict[str, Tensor]:
    """Same-label exclusion as banned pairs when classes are small (a few scatter
    writes per row) or as label comparison otherwise (one pass over each tile)."""
    n = labels.numel()
    order = torch.sort(labels, stable=True).indices
    _, inv, counts = torch.unique_consecutive(
        labels[order], return_inverse=True, return_counts=True
    )
    if n == 0 or int(counts.max()) > _PAIRS_MAX_CLASS:
        return {"query_labels": labels, "pool_labels": labels}
    # For the item at sorted position i, every position of its class: start + 0..c-1.
    start = (torch.cumsum(counts, 0) - counts)[inv]
    width = int(counts.max())
    pos = start.unsqueeze(1) + torch.arange(width, device=labels.device)
    ok = torch.arange(width, device=labels.device) < counts[inv].unsqueeze(1)
    mates = torch.where(ok, order[pos.clamp_max(n - 1)], -1)
    out = torch.empty_like(mates)
    out[order] = mates
    return {"positive_ids": out}


@torch.no_grad()
def mine_in_batch(
    embeddings: Tensor,
    labels: Tensor,
    k: int,
    strategy: str | Strategy = "semi_hard",
    *,
    distance: str | Distance = "cosine",
    filters: FalseNegativeFilters | None = None,
    generator: torch.Generator | int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> InBatchTriplets:
    """Triplets from a labelled batch (``embeddings [N, d]``, ``labels [N]``)."""
    check_float_tensor("embeddings", embeddings, ndim=2)
    check_tensor("labels", labels, ndim=1)
    check_length("labels", labels, embeddings.shape[0])
    gen = as_generator(generator)
    labels = labels.to(torch.int64)
    positive = random_positives(labels.cpu(), gen).to(embeddings.device)
    n = embeddings.shape[0]
    anchor = torch.arange(n, device=embeddings.device)
    ex = build_exclusions(n, n, query_ids=anchor, **_same_label(labels))
    res = mine(
        embeddings,
        embeddings,
        k,
        strategy,
        positives=embeddings[positive.clamp_min(0)],
        exclusions=ex,
        filters=filters,
        distance=distance,
        generator=gen,
        memory_budget=memory_budget,
    )
    has_pos = positive >= 0
    if not bool(has_pos.all()):
        keep = res.mask & has_pos.unsqueeze(1)
        res.indices = res.indices.masked_fill(~keep, -1)
        res.scores = res.scores.masked_fill(~keep, 0.0)
        if res.difficulty is not None:
            res.difficulty = res.difficulty.masked_fill(~keep, 0.0)
        res.mask = keep
        res.report.masked_slots = int((~keep).sum())
    return InBatchTriplets(anchor, positive, res)


class NegativeMiner:
    """Hyper-parameters plus a generator; call it like :func:`mine`.

    Args:
        k: negatives per anchor.
        strategy: name or strategy object (default ``"hardest"``).
        distance, filters, memory_budget: as in :func:`mine`.
        seed: seed of the miner's own generator (default 0).
    """

    def __init__(
        self,
        k: int,
        strategy: str | Strategy = "hardest",
        *,
        distance: str | Distance = "cosine",
        filters: FalseNegativeFilters | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        seed: int = 0,
    ) -> None:
        self.k = check_positive_int("k", k)
        self.strategy = strategy
        self.distance = distance
        self.filters = filters
        self.memory_budget = check_positive_int("memory_budget", memory_budget)
        self.generator = as_generator(seed)

    def __call__(
        self,
        anchors: Tensor,
        pool: PoolLike,
        *,
        positives: Tensor | None = None,
        anchor_ids: Tensor | None = None,
        positive_ids: Tensor | None = None,
        anchor_labels: Tensor | None = None,
        pool_labels: Tensor | None = None,
        edges: CSR | Tensor | None = None,
    ) -> MiningResult:
        """Mine for ``anchors [B, d]`` against ``pool [M, d]``. ``positive_ids``
        (``[B]`` or ``[B, P]``) are excluded and, without ``positives``, their first
        column gives the positive vectors."""
        check_float_tensor("anchors", anchors, ndim=2)
        m, _ = check_pool(pool, anchors.shape[1])
        b = anchors.shape[0]
        ex = build_exclusions(
            b,
            m,
            query_ids=anchor_ids,
            positive_ids=positive_ids,
            query_labels=anchor_labels,
            pool_labels=pool_labels,
            edges=edges,
        )
        if positives is None and positive_ids is not None:
            first = positive_ids.reshape(b, -1)[:, 0]
            if bool((first < 0).any()):
                raise ValueError("positive_ids must give a positive (>= 0) in the first column")
            positives = pool_rows(pool, first, anchors.dtype, anchors.device)
        return mine(
            anchors,
            pool,
            self.k,
            self.strategy,
            positives=positives,
            exclusions=ex,
            filters=self.filters,
            distance=self.distance,
            generator=self.generator,
            memory_budget=self.memory_budget,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = check_positive_int("k", int(state["k"]))
        self.generator.set_state(state["generator"])
