r"""Negatives for relation batches ``(u, v)``: the sampler the trainer calls every step.

Strategies (``K`` negatives per relation, as ``[B, K]`` node ids plus a ``[B, K]``
validity mask — never copies of embeddings):

* ``uniform`` — nodes drawn uniformly and *rejected* when they are ``u`` itself or
  related to ``u`` (Nickel & Kiela 2017). Rejected slots are redrawn, all at once,
  for up to ``max_rounds`` rounds; what still fails is masked out.
* ``degree`` — drawn with probability :math:`\propto \max(c, 1)^{0.75}`, ``c`` the
  number of relations whose *target* a node is (in a hierarchy: its descendants),
  with the same rejection: the burn-in distribution of N&K's code
  (``hype/graph_dataset.pyx``). gensim counts either end instead, which in a
  hierarchy makes most burn-in negatives leaves; on the noun closure N&K's counts
  gave MAP 0.770 at epoch 600 against 0.757 (docs/recipes.md).
* ``hard`` — from a per-node pool of the ``pool_size`` closest non-related nodes
  under the current embedding, refreshed every ``refresh_every`` steps by the exact
  tiled top-k of :mod:`contrastkit.mining.topk`; ``K`` are drawn from the pool.
* ``semihard`` — from the same pool, the closest nodes that are still farther from
  ``u`` than the positive ``v`` (score below the positive's); slots with no such
  candidate fall back to uniform negatives and are counted in :attr:`fallbacks`.
* ``mixed`` — ``round(hard_ratio·K)`` hard, the rest uniform.

A curriculum can cap the pool by difficulty (:meth:`sample`'s ``max_difficulty``):
pool entries whose difficulty :math:`s(u,n) - s(u,v) + 1` exceeds it are not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_positive_int
from contrastkit.functional.distances import Distance
from contrastkit.graph.csr import CSR, degrees, has_edge_grouped
from contrastkit.mining.edge_sampling import random_edge_negatives
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.topk import exact_topk

Strategy = Literal["uniform", "degree", "hard", "semihard", "mixed"]
STRATEGIES: tuple[Strategy, ...] = ("uniform", "degree", "hard", "semihard", "mixed")


@dataclass
class RelationNegatives:
    """The negatives of ``B`` relations as a step consumes them: ``shared [G, Ks]`` ids
    common to each group of ``group`` consecutive anchors (PyTorch-BigGraph's batching),
    ``own [B, Ko]`` ids of each anchor's own (N&K's sampling, or mined ones beside
    shared uniform ones), either part possibly absent, and ``mask [B, Ks + Ko]`` (True =
    a real negative), the shared columns first."""

    mask: Tensor
    shared: Tensor | None = None
    own: Tensor | None = None
    group: int = 0

    def __post_init__(self) -> None:
        if self.shared is None and self.own is None:
            raise ValueError("RelationNegatives needs shared or own negatives, got neither")
        if self.shared is not None and self.group <= 0:
            raise ValueError(f"group must be > 0 with shared negatives, got {self.group}")

    @property
    def num_shared(self) -> int:
        return 0 if self.shared is None else self.shared.shape[1]

    def per_anchor(self) -> Tensor:
        """All of them written out per anchor, ``[B, Ks + Ko]`` (the generic step's layout)."""
        b = self.mask.shape[0]
        parts = [] if self.shared is None else [self.shared.repeat_interleave(self.group, 0)[:b]]
        if self.own is not None:
            parts.append(self.own)
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


class RelationNegativeSampler:
    """Negatives for relations of a graph whose true relations are ``related`` (a CSR
    of every pair that must never be a negative, usually the symmetric closure).

    Args:
        related: :class:`~contrastkit.graph.csr.CSR` over ``N`` nodes.
        generator: the source of all randomness (its state is checkpointed).
        pool_size: hard candidates kept per node. refresh_every: steps between refreshes.
        max_rounds: rejection rounds for uniform/degree draws.
        pool_excludes: pairs kept out of the hard pool (default ``related``). A
            hierarchy's ``related`` holds each node's ancestors only, so a node's closest
            nodes, its own descendants, fill its pool; pass the symmetric closure to
            mine only nodes outside the node's lineage.
        pool_deeper_only: keep out of node ``u``'s pool every node nearer the origin
            than ``u`` (smaller norm). In a Poincaré hierarchy depth grows with the
            norm, so a close node nearer the origin is likely an ancestor: a relation
            training may not have seen (a held-out link), not a negative. The pool
            then holds the ``pool_size`` closest nodes at least as deep as ``u``.
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
        counts = degrees(related, direction="in")  # as a relation's target (N&K)
        weight = counts.to(torch.float64).clamp_min(1.0) ** 0.75
        self.degree_probs = (weight / weight.sum()).float()
        self.pool: Tensor | None = None  # [N, P] node ids, closest first
        self.pool_scores: Tensor | None = None  # [N, P] scores, -inf where missing
        self.last_refresh = -1
        self.fallbacks = 0

    # ---- drawing with rejection -------------------------------------------------
    def random(self, u: Tensor, k: int, kind: str = "uniform") -> tuple[Tensor, Tensor]:
        """``k`` uniform (or degree-distributed) non-related negatives per anchor ``u [B]``:
        the tails of :func:`~contrastkit.mining.edge_sampling.random_edge_negatives`
        with every anchor as the fixed source."""
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

    def shared(self, u: Tensor, k: int, group: int, kind: str = "uniform") -> tuple[Tensor, Tensor]:
        """``k`` uniform (or degree-distributed) negatives per group of ``group``
        consecutive anchors, ``[G, k]`` with ``G = ceil(B / group)``, and the mask
        ``[B, k]`` of those that are real negatives for each anchor ``u [B]`` (not
        the anchor itself, not related to it): PyTorch-BigGraph's shared negatives."""
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

    # ---- the hard pool ----------------------------------------------------------
    def needs_refresh(self, step: int) -> bool:
        return self.pool is None or step - self.last_refresh >= self.refresh_every

    @torch.no_grad()
    def refresh(self, embeddings: Tensor, distance: Distance, step: int) -> None:
        """Recompute every node's ``pool_size`` closest nodes outside ``pool_excludes``
        (and, with ``pool_deeper_only``, not nearer the origin than the node)."""
        n = self.num_nodes
        ids = torch.arange(n)
        depth = embeddings.norm(dim=1) if self.pool_deeper_only else None
        excl = build_exclusions(
            n, n, query_ids=ids, edges=self.pool_excludes, query_depth=depth, pool_depth=depth
        )
        scores, idx = exact_topk(
            embeddings, embeddings, self.pool_size, distance=distance, exclusions=excl
        )
        self.pool, self.pool_scores, self.last_refresh = idx, scores, step

    def _from_pool(
        self,
        u: Tensor,
        k: int,
        positive_scores: Tensor | None,
        semihard: bool,
        max_difficulty: float | None,
    ) -> tuple[Tensor, Tensor]:
        if self.pool is None or self.pool_scores is None:
            raise ValueError("the hard-negative pool is empty: call refresh() before sampling")
        cand, score = self.pool[u], self.pool_scores[u]  # [B, P]
        ok = torch.isfinite(score)
        if positive_scores is not None:
            if semihard:
                ok &= score < positive_scores.unsqueeze(1)
            if max_difficulty is not None:
                ok &= (score - positive_scores.unsqueeze(1) + 1.0) <= max_difficulty
        if semihard:
            # closest qualifying candidates first: pool order is already by score
            key = torch.where(ok, -torch.arange(cand.shape[1], dtype=torch.float32), float("-inf"))
            key = key.expand_as(cand)
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
        """``(negatives [B, k], mask [B, k])`` for anchors ``u [B]``; ``positive_scores``
        ``[B]`` (larger = closer) is needed by ``semihard`` and ``max_difficulty``."""
        check_choice("strategy", strategy, STRATEGIES)
        check_positive_int("k", k)
        if strategy in ("uniform", "degree"):
            return self.random(u, k, strategy)
        n_hard = k if strategy in ("hard", "semihard") else round(hard_ratio * k)
        parts, masks = [], []
        if n_hard > 0:
            hard, hmask = self.mined(
                u,
                n_hard,
                semihard=strategy == "semihard",
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
        semihard: bool = False,
        positive_scores: Tensor | None = None,
        max_difficulty: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``k`` negatives per anchor from the hard pool (``[B, k]`` ids and mask); slots
        the pool cannot fill are refilled uniformly and counted in :attr:`fallbacks`."""
        hard, hmask = self._from_pool(u, k, positive_scores, semihard, max_difficulty)
        missing = ~hmask
        if bool(missing.any()):
            self.fallbacks += int(missing.sum())
            fill, fmask = self.random(u, k)
            hard = torch.where(missing, fill, hard)
            hmask = hmask | (missing & fmask)
        return hard, hmask

    def state_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "pool_scores": self.pool_scores,
            "last_refresh": self.last_refresh,
            "fallbacks": self.fallbacks,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.pool = state["pool"]
        self.pool_scores = state["pool_scores"]
        self.last_refresh = int(state["last_refresh"])
        self.fallbacks = int(state["fallbacks"])
