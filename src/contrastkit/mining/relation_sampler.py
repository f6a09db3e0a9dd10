r"""Negatives for relation batches ``(u, v)``: the sampler the trainer calls every step.

``K`` negatives per relation come back as ``[B, K]`` node ids plus a ``[B, K]``
validity mask (True = a real negative) — never copies of embeddings. A negative
is never the anchor ``u`` nor related to it (``related``) unless its slot is masked.
Strategies share :mod:`contrastkit.mining`'s vocabulary (:data:`STRATEGIES`); the
trainer's old names are aliases (:data:`STRATEGY_ALIASES`: ``uniform -> random``,
``hard -> hardest``, ``semihard -> semi_hard``) and give identical draws.

* ``random`` — nodes drawn uniformly and *rejected* when they are ``u`` itself or
  related to ``u`` (Nickel & Kiela 2017). Rejected slots are redrawn, all at once,
  for up to ``max_rounds`` rounds; what still fails is masked out.
* ``degree`` — drawn with probability :math:`\propto \max(c, 1)^{0.75}`, ``c`` the
  number of relations whose *target* a node is (in a hierarchy: its descendants),
  with the same rejection: the burn-in distribution of N&K's code
  (``hype/graph_dataset.pyx``). gensim counts either end instead, which in a
  hierarchy makes most burn-in negatives leaves; on the noun closure N&K's counts
  gave MAP 0.770 at epoch 600 against 0.757 (docs/recipes.md).
* ``hardest`` — from a per-node pool of the ``pool_size`` closest non-related nodes
  under the current embedding, refreshed every ``refresh_every`` steps by an exact
  tiled top-k (``pool_backend``); ``K`` drawn from the pool without replacement.
* ``semi_hard`` — from the same pool, the closest nodes that are still farther from
  ``u`` than the positive ``v``: :math:`s(u, n) < s(u, v)`.
* ``weighted`` — ``K`` from the pool without replacement with
  :math:`P(n) \propto \exp(\alpha\, s(u, n))` (Gumbel-top-k, Kool et al. 2019, as
  :class:`~contrastkit.mining.strategies.Weighted`; ``alpha = weighted_alpha``).
* ``mixed`` — ``round(hard_ratio·K)`` as ``hardest``, the rest ``random``.
* ``cluster`` — spread across k-means clusters of the embedding (recomputed at each
  refresh, ``min(num_clusters, N)`` clusters), as
  :class:`~contrastkit.mining.strategies.ClusterSpread` with ``within="random"``:
  each anchor visits the clusters in its own random order, slot ``j`` taking a node
  uniformly from the ``(j mod C)``-th, so ``K`` negatives come from ``min(K, C)``
  clusters and no cluster gets two more than another.
* ``category`` — the same spread over the categories (``labels``) *other* than the
  anchor's (:class:`~contrastkit.mining.strategies.CategorySpread`): a negative's
  category always differs from its anchor's.
* ``khop`` — uniform (with replacement) over the nodes at shortest-path distance
  :math:`h \in [\text{khop\_min}, \text{khop\_max}]` from ``u`` in the symmetrised
  ``related`` graph (:func:`~contrastkit.graph.khop.k_hop_rings`); from hop 2 on no
  such node is related to ``u``. Structurally near, not linked.

Slots a strategy cannot fill (an empty qualifying pool, a cluster or category whose
draws were all rejected, an empty ring) are refilled — uniformly (``category``:
uniformly among the other categories' nodes) — and counted in :attr:`fallbacks`.
A curriculum can cap the pool by difficulty (:meth:`sample`'s ``max_difficulty``):
pool entries whose difficulty :math:`s(u,n) - s(u,v) + 1` exceeds it are not used.
All randomness comes from the one ``generator``; the existing strategies' draws are
bit-identical to the trainer's former sampler.

The strategy names live in :mod:`~contrastkit.mining.relation_strategies`, the
negatives a step consumes in :mod:`~contrastkit.mining.relation_negatives`, the group
spread of ``cluster``/``category`` in :mod:`~contrastkit.mining.group_spread` and the
pool's scans in :mod:`~contrastkit.mining.pool_scan`; this module re-exports their names.

Example:
    >>> from contrastkit.graph.csr import to_csr
    >>> path = to_csr(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), num_nodes=5)
    >>> s = RelationNegativeSampler(path, generator=torch.Generator().manual_seed(0))
    >>> neg, mask = s.sample(torch.tensor([0, 0]), 3, "khop")
    >>> sorted(set(neg[mask].tolist())) <= [2, 3], canonical_strategy("uniform")
    (True, 'random')
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_index_range,
    check_length,
    check_non_negative,
    check_positive_int,
    check_tensor,
)
from contrastkit.functional.distances import Distance
from contrastkit.graph.csr import CSR, degrees, has_edge_grouped, to_csr
from contrastkit.graph.khop import k_hop_rings
from contrastkit.mining.edge_sampling import random_edge_negatives
from contrastkit.mining.exclusions import Exclusions, build_exclusions
from contrastkit.mining.group_spread import (
    NodeGroups,
    fill_from_other_groups,
    spread_over_groups,
)
from contrastkit.mining.kmeans import kmeans
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.mining.pool_scan import PoolBackend, scan_pool
from contrastkit.mining.relation_negatives import RelationNegatives
from contrastkit.mining.relation_strategies import (
    POOL_STRATEGIES,
    STRATEGIES,
    STRATEGY_ALIASES,
    AliasName,
    PoolMode,
    Strategy,
    StrategyName,
    canonical_strategy,
    random_kind,
    uses_embedding,
)

# the names this module always held, now in their own modules, importable from here too
__all__ = [
    "POOL_STRATEGIES",
    "STRATEGIES",
    "STRATEGY_ALIASES",
    "AliasName",
    "NodeGroups",
    "PoolBackend",
    "PoolMode",
    "RelationNegativeSampler",
    "RelationNegatives",
    "Strategy",
    "StrategyName",
    "canonical_strategy",
    "uses_embedding",
]


class RelationNegativeSampler:
    """Negatives for relations of a graph whose true relations are ``related`` (a CSR
    of every pair that must never be a negative, usually the symmetric closure).

    Args:
        related: :class:`~contrastkit.graph.csr.CSR` over ``N`` nodes.
        generator: the source of all randomness (its state is checkpointed).
        pool_size: hard candidates kept per node. refresh_every: steps between refreshes.
        max_rounds: rejection rounds for random/degree/cluster/category draws.
        pool_excludes: pairs kept out of the hard pool (default ``related``). A
            hierarchy's ``related`` holds each node's ancestors only, so a node's closest
            nodes, its own descendants, fill its pool; pass the symmetric closure to
            mine only nodes outside the node's lineage.
        pool_deeper_only: keep out of node ``u``'s pool every node nearer the origin
            than ``u`` (smaller norm). In a Poincaré hierarchy depth grows with the
            norm, so a close node nearer the origin is likely an ancestor: a relation
            training may not have seen (a held-out link), not a negative. The pool
            then holds the ``pool_size`` closest nodes at least as deep as ``u``.
        weighted_alpha: :math:`\\alpha` of ``weighted`` (default 1.0; 0 = uniform over
            the pool, large = hardest).
        num_clusters: k-means clusters of ``cluster`` (default 8, at most ``N``).
        labels: ``[N]`` integer category of every node, for ``category`` (e.g. a
            WordNet lexicographer file or a class label).
        khop_min, khop_max: the hop distances of ``khop`` (default 2..3;
            ``2 <= khop_min <= khop_max``: hop 1 is related).
        pool_backend: how a refresh scans for the pool — ``"exact"`` (default: the
            tiled :func:`~contrastkit.mining.topk.exact_topk` of the embedding),
            ``"memmap"`` (the same scan over the embedding written to a temporary
            ``.npy`` memory map, one tile resident at a time) or ``"faiss"`` (an exact
            flat :class:`~contrastkit.mining.faiss_backend.FaissIndex`; cosine, dot
            and (squared) Euclidean distances only).
        memory_budget: bytes for the scan's and k-means' tiles (default
            :data:`~contrastkit.mining.pool.DEFAULT_MEMORY_BUDGET`, 512 MiB).
    """

    def __init__(
        self,
        related: CSR,
        *,
        generator: torch.Generator,
        pool_size: int = 100,
        refresh_every: int = 200,
        max_rounds: int = 20,
        pool_excludes: CSR | None = None,
        pool_deeper_only: bool = False,
        weighted_alpha: float = 1.0,
        num_clusters: int = 8,
        labels: Tensor | None = None,
        khop_min: int = 2,
        khop_max: int = 3,
        pool_backend: PoolBackend = "exact",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        self.related = related
        self.pool_excludes = related if pool_excludes is None else pool_excludes
        if self.pool_excludes.num_nodes != related.num_nodes:
            raise ValueError(
                f"pool_excludes must span the {related.num_nodes} nodes of related, "
                f"got {self.pool_excludes.num_nodes}"
            )
        self.pool_deeper_only = pool_deeper_only
        self.num_nodes = related.num_nodes
        self.generator = generator
        self.pool_size = check_positive_int("pool_size", min(pool_size, max(self.num_nodes - 1, 1)))
        self.refresh_every = check_positive_int("refresh_every", refresh_every)
        self.max_rounds = check_positive_int("max_rounds", max_rounds)
        self.weighted_alpha = check_non_negative("weighted_alpha", weighted_alpha)
        self.num_clusters = check_positive_int("num_clusters", num_clusters)
        self.khop_min = check_positive_int("khop_min", khop_min)
        self.khop_max = check_positive_int("khop_max", khop_max)
        if khop_min < 2:
            raise ValueError(f"khop_min must be >= 2 (hop-1 nodes are related), got {khop_min}")
        if khop_max < khop_min:
            raise ValueError(f"khop_max must be >= khop_min={khop_min}, got {khop_max}")
        check_choice("pool_backend", pool_backend, ("exact", "memmap", "faiss"))
        self.pool_backend: PoolBackend = pool_backend
        self.memory_budget = check_positive_int("memory_budget", memory_budget)
        self.categories: NodeGroups | None = None
        if labels is not None:
            check_tensor("labels", labels, ndim=1)
            if labels.is_floating_point() or labels.dtype == torch.bool:
                raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
            check_length("labels", labels, self.num_nodes, "entries (one per node)")
            self.categories = NodeGroups.from_labels(labels)
        counts = degrees(related, direction="in")  # as a relation's target (N&K)
        weight = counts.to(torch.float64).clamp_min(1.0) ** 0.75
        self.degree_probs = (weight / weight.sum()).float()
        self.pool: Tensor | None = None  # [N, P] node ids, closest first
        self.pool_scores: Tensor | None = None  # [N, P] scores, -inf where missing
        self.clusters: Tensor | None = None  # [N] k-means cluster of every node
        self._cluster_groups: NodeGroups | None = None  # the clusters, grouped
        self.last_refresh = -1
        self.fallbacks = 0

    # ---- drawing with rejection -------------------------------------------------
    def random(self, u: Tensor, k: int, kind: str = "random") -> tuple[Tensor, Tensor]:
        """``k`` uniform (``kind="random"``) or degree-distributed (``"degree"``)
        non-related negatives per anchor ``u [B]``, ``([B, k], mask [B, k])``: the tails
        of :func:`~contrastkit.mining.edge_sampling.random_edge_negatives` with every
        anchor as the fixed source."""
        kind = random_kind(kind)
        sample = random_edge_negatives(
            self.related,
            u.numel() * k,
            sources=u.repeat_interleave(k),
            target_probs=self.degree_probs if kind == "degree" else None,
            max_rounds=self.max_rounds,
            generator=self.generator,
        )
        shape = (u.numel(), k)
        return sample.edge_index[1].clamp_min(0).view(shape), sample.mask.view(shape)

    def shared(self, u: Tensor, k: int, group: int, kind: str = "random") -> tuple[Tensor, Tensor]:
        """``k`` uniform (or degree-distributed) negatives per group of ``group``
        consecutive anchors, ``[G, k]`` with ``G = ceil(B / group)``, and the mask
        ``[B, k]`` of those that are real negatives for each anchor ``u [B]`` (not
        the anchor itself, not related to it): PyTorch-BigGraph's shared negatives."""
        kind = random_kind(kind)
        check_positive_int("group", group)
        b = u.numel()
        g = -(-b // group)
        if kind == "degree":
            draws = torch.multinomial(self.degree_probs, g * k, True, generator=self.generator)
            neg = draws.view(g, k)
        else:
            neg = torch.randint(self.num_nodes, (g, k), generator=self.generator)
        # anchors [G, m] against their group's negatives [G, k]: no [B, k] id tensor
        # (a short last group is padded, then cut)
        anchor = torch.cat([u, u[-1:].expand(g * group - b)]).view(g, group)
        bad = has_edge_grouped(self.related, anchor, neg, include_self=True)
        return neg, ~bad.view(g * group, k)[:b]

    # ---- the hard pool and the clusters -----------------------------------------
    def needs_refresh(self, step: int, strategy: str = "hardest") -> bool:
        """Whether :meth:`refresh` is due at ``step`` for ``strategy`` (its pool or
        clusters are missing, or ``refresh_every`` steps old)."""
        missing = self.clusters is None if canonical_strategy(strategy) == "cluster" else None
        if missing is None:
            missing = self.pool is None
        return missing or step - self.last_refresh >= self.refresh_every

    @torch.no_grad()
    def refresh(
        self, embeddings: Tensor, distance: Distance, step: int, *, strategy: str = "hardest"
    ) -> None:
        """Recompute what ``strategy`` reads from ``embeddings [N, d]``: for ``cluster``
        the k-means clusters, otherwise every node's ``pool_size`` closest nodes outside
        ``pool_excludes`` (and, with ``pool_deeper_only``, not nearer the origin)."""
        check_tensor("embeddings", embeddings, ndim=2)
        check_length("embeddings", embeddings, self.num_nodes)
        if canonical_strategy(strategy) == "cluster":
            labels, _ = kmeans(
                embeddings.detach(),
                min(self.num_clusters, self.num_nodes),
                distance=distance,
                generator=self.generator,
                memory_budget=self.memory_budget,
            )
            self._set_clusters(labels.cpu())
            self.last_refresh = step
            return
        n = self.num_nodes
        ids = torch.arange(n)
        depth = embeddings.norm(dim=1) if self.pool_deeper_only else None
        excl = build_exclusions(
            n, n, query_ids=ids, edges=self.pool_excludes, query_depth=depth, pool_depth=depth
        )
        scores, idx = self._scan(embeddings, distance, excl)
        self.pool, self.pool_scores, self.last_refresh = idx, scores, step

    def _scan(self, emb: Tensor, distance: Distance, excl: Exclusions) -> tuple[Tensor, Tensor]:
        """``(scores [N, P], ids [N, P])`` of the pool through ``pool_backend``."""
        return scan_pool(
            emb, distance, excl, self.pool_size, self.pool_backend, memory_budget=self.memory_budget
        )

    def _from_pool(
        self,
        u: Tensor,
        k: int,
        positive_scores: Tensor | None,
        mode: PoolMode,
        max_difficulty: float | None,
    ) -> tuple[Tensor, Tensor]:
        if self.pool is None or self.pool_scores is None:
            raise ValueError("the hard-negative pool is empty: call refresh() before sampling")
        cand, score = self.pool[u], self.pool_scores[u]  # [B, P]
        ok = torch.isfinite(score)
        semihard = mode == "semi_hard"
        if positive_scores is not None:
            if semihard:
                ok &= score < positive_scores.unsqueeze(1)
            if max_difficulty is not None:
                ok &= (score - positive_scores.unsqueeze(1) + 1.0) <= max_difficulty
        if semihard:
            # closest qualifying candidates first: pool order is already by score
            key = torch.where(ok, -torch.arange(cand.shape[1], dtype=torch.float32), float("-inf"))
            key = key.expand_as(cand)
        elif mode == "weighted":
            # Gumbel-top-k of alpha*s: k draws without replacement, P(n) ∝ exp(alpha s(u, n))
            unit = torch.rand(cand.shape, generator=self.generator, dtype=score.dtype)
            gumbel = -torch.log(-torch.log(unit.clamp_min_(torch.finfo(score.dtype).tiny)))
            key = torch.where(ok, self.weighted_alpha * score + gumbel, float("-inf"))
        else:
            # a random subset of the qualifying pool (Gumbel-top-k = sampling without replacement)
            noise = torch.rand(cand.shape, generator=self.generator)
            key = torch.where(ok, noise, float("-inf"))
        take = min(k, cand.shape[1])
        top = key.topk(take, dim=1)
        picked = cand.gather(1, top.indices)
        valid = torch.isfinite(top.values)
        if take < k:
            pad = k - take
            picked = torch.cat([picked, picked.new_zeros(picked.shape[0], pad)], 1)
            valid = torch.cat([valid, valid.new_zeros(valid.shape[0], pad)], 1)
        return picked, valid

    # ---- one call per step ------------------------------------------------------
    def sample(
        self,
        u: Tensor,
        k: int,
        strategy: Strategy,
        *,
        positive_scores: Tensor | None = None,
        hard_ratio: float = 0.5,
        max_difficulty: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(negatives [B, k], mask [B, k])`` for anchors ``u [B]`` (int64 node ids).

        Args:
            strategy: a name of :data:`STRATEGIES` or an alias (module docstring).
            positive_scores: ``[B]`` scores ``s(u, v)`` (larger = closer), needed by
                ``semi_hard`` and ``max_difficulty`` (without them ``semi_hard`` takes
                the closest pool entries).
            hard_ratio: in ``[0, 1]``, the hard share of ``mixed`` (default 0.5).
            max_difficulty: pool entries harder than this are not used (pool strategies).

        Raises:
            ValueError: an unknown strategy, ``k <= 0``, ``hard_ratio`` outside
                ``[0, 1]``, a pool or cluster strategy before :meth:`refresh`,
                ``category`` without ``labels``.
        """
        name = canonical_strategy(strategy)
        check_positive_int("k", k)
        check_tensor("u", u, ndim=1)
        if not 0.0 <= hard_ratio <= 1.0:
            raise ValueError(f"hard_ratio must be in [0, 1], got {hard_ratio}")
        if name in ("random", "degree"):
            return self.random(u, k, name)
        if name == "cluster":
            return self._cluster(u, k)
        if name == "category":
            return self._category(u, k)
        if name == "khop":
            return self._khop(u, k)
        n_hard = k if name != "mixed" else round(hard_ratio * k)
        parts, masks = [], []
        if n_hard > 0:
            hard, hmask = self.mined(
                u,
                n_hard,
                strategy="hardest" if name == "mixed" else name,
                positive_scores=positive_scores,
                max_difficulty=max_difficulty,
            )
            parts.append(hard)
            masks.append(hmask)
        if k - n_hard > 0:
            rnd, rmask = self.random(u, k - n_hard)
            parts.append(rnd)
            masks.append(rmask)
        return torch.cat(parts, 1), torch.cat(masks, 1)

    def mined(
        self,
        u: Tensor,
        k: int,
        *,
        strategy: str = "hardest",
        positive_scores: Tensor | None = None,
        max_difficulty: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``k`` negatives per anchor from the hard pool (``[B, k]`` ids and mask) by
        ``strategy`` ``hardest`` (a uniform subset of the qualifying pool),
        ``semi_hard`` or ``weighted``; slots the pool cannot fill are refilled
        uniformly and counted in :attr:`fallbacks`."""
        mode = canonical_strategy(strategy)
        if mode not in ("hardest", "semi_hard", "weighted"):
            raise ValueError(
                f"strategy must be 'hardest', 'semi_hard' or 'weighted' for mined(), got {mode!r}"
            )
        hard, hmask = self._from_pool(u, k, positive_scores, mode, max_difficulty)
        return self._refill(u, k, hard, hmask)

    def _refill(self, u: Tensor, k: int, neg: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Unfilled slots of ``neg [B, k]`` drawn uniformly instead, counted as fallbacks."""
        missing = ~mask
        if bool(missing.any()):
            self.fallbacks += int(missing.sum())
            fill, fmask = self.random(u, k)
            neg = torch.where(missing, fill, neg)
            mask = mask | (missing & fmask)
        return neg, mask

    # ---- spread over groups; k-hop rings ------------------------------------------
    def _cluster(self, u: Tensor, k: int) -> tuple[Tensor, Tensor]:
        groups = self._cluster_groups
        if groups is None:
            raise ValueError(
                "the clusters are missing: call refresh(..., strategy='cluster') before sampling"
            )
        check_index_range("u", u, self.num_nodes)
        neg, mask = self._spread(u, k, groups, exclude_own=False)
        return self._refill(u, k, neg, mask)

    def _category(self, u: Tensor, k: int) -> tuple[Tensor, Tensor]:
        groups = self.categories
        if groups is None:
            raise ValueError("strategy 'category' needs labels: pass labels [N] to the sampler")
        check_index_range("u", u, self.num_nodes)
        neg, mask = self._spread(u, k, groups, exclude_own=True)
        self.fallbacks += fill_from_other_groups(
            u, neg, mask, groups, related=self.related, generator=self.generator,
            max_rounds=self.max_rounds,
        )  # fmt: skip
        return neg, mask

    def _spread(
        self, u: Tensor, k: int, groups: NodeGroups, exclude_own: bool
    ) -> tuple[Tensor, Tensor]:
        return spread_over_groups(
            u, k, groups, exclude_own, related=self.related, generator=self.generator,
            max_rounds=self.max_rounds,
        )  # fmt: skip

    @cached_property
    def symmetric_related(self) -> CSR:
        """``related`` with every pair in both directions (the graph of ``khop``)."""
        return to_csr(self.related.to_edge_index(), self.num_nodes, undirected=True)

    def _khop(self, u: Tensor, k: int) -> tuple[Tensor, Tensor]:
        check_index_range("u", u, self.num_nodes)
        anchors, inverse = torch.unique(u.cpu(), return_inverse=True)
        rings = k_hop_rings(self.symmetric_related, anchors, self.khop_max, min_hop=self.khop_min)
        count = rings.counts()[inverse].unsqueeze(1)  # [B, 1]
        r = torch.rand((u.numel(), k), generator=self.generator, dtype=torch.float64)
        pos = rings.ptr[:-1][inverse].unsqueeze(1) + (r * count).long().clamp_max(count - 1)
        empty = (count == 0).squeeze(1)
        if rings.node.numel() == 0:
            neg = u.new_zeros(u.numel(), k)
        else:
            neg = rings.node[pos.clamp(0, rings.node.numel() - 1)]
        mask = ~empty.unsqueeze(1).expand(-1, k)
        return self._refill(u, k, neg, mask.clone())

    def _set_clusters(self, labels: Tensor | None) -> None:
        self.clusters = labels
        self._cluster_groups = None if labels is None else NodeGroups.from_labels(labels)

    # ---- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "pool_scores": self.pool_scores,
            "clusters": self.clusters,
            "last_refresh": self.last_refresh,
            "fallbacks": self.fallbacks,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.pool = state["pool"]
        self.pool_scores = state["pool_scores"]
        self._set_clusters(state.get("clusters"))  # absent in checkpoints before ``cluster``
        self.last_refresh = int(state["last_refresh"])
        self.fallbacks = int(state["fallbacks"])
