"""The relation negative sampler: every strategy's rule as a property, the pool
backends against the exact scan, and the old strategies' draws frozen bit for bit."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.functional.distances import get_distance
from contrastkit.graph.csr import has_edge, to_csr
from contrastkit.mining import (
    STRATEGIES,
    STRATEGY_ALIASES,
    RelationNegatives,
    RelationNegativeSampler,
    canonical_strategy,
)
from contrastkit.mining.relation_sampler import POOL_STRATEGIES, uses_embedding

ALL_NAMES = [*STRATEGIES, *STRATEGY_ALIASES]


def _graph(n: int, e: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return ei[:, ei[0] != ei[1]]


def _sampler(ei: torch.Tensor, n: int, seed: int = 0, **kw: object) -> RelationNegativeSampler:
    return RelationNegativeSampler(
        to_csr(ei, num_nodes=n),
        generator=torch.Generator().manual_seed(seed),
        **kw,  # type: ignore[arg-type]
    )


def _ready(
    ei: torch.Tensor, n: int, seed: int, z: torch.Tensor, **kw: object
) -> RelationNegativeSampler:
    """A sampler with labels, its pool and its clusters computed."""
    labels = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed + 2))
    sampler = _sampler(ei, n, seed, labels=labels, num_clusters=3, **kw)
    sampler.refresh(z, get_distance("cosine"), step=0)
    sampler.refresh(z, get_distance("cosine"), step=0, strategy="cluster")
    return sampler


def _hops(ei: torch.Tensor, n: int) -> torch.Tensor:
    """Shortest-path distances ``[n, n]`` in the undirected graph (a large value if none)."""
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[ei[0], ei[1]] = True
    adj |= adj.T.clone()
    dist = torch.full((n, n), 10**6)
    dist.fill_diagonal_(0)
    reach = torch.eye(n, dtype=torch.bool)
    for h in range(1, n):
        reach_next = reach | ((reach.float() @ adj.float()) > 0)
        dist[reach_next & ~reach] = h
        reach = reach_next
    return dist


# ---- the rules --------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(8, 40),
    e=st.integers(1, 120),
    k=st.integers(1, 10),
    seed=st.integers(0, 10_000),
    strategy=st.sampled_from(ALL_NAMES),
)
def test_every_strategy_never_gives_the_anchor_or_a_relation(
    n: int, e: int, k: int, seed: int, strategy: str
) -> None:
    ei = _graph(n, e, seed)
    z = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
    u = torch.randint(0, n, (12,), generator=torch.Generator().manual_seed(seed + 1))
    pos = torch.randn(12, generator=torch.Generator().manual_seed(seed + 3))
    sampler = _ready(ei, n, seed, z, pool_size=6)
    neg, mask = sampler.sample(u, k, strategy, positive_scores=pos)
    assert neg.shape == mask.shape == (12, k) and neg.dtype == torch.int64
    assert bool(((neg >= 0) & (neg < n)).all())
    anchors = u.unsqueeze(1).expand_as(neg)
    assert not bool(((neg == anchors) & mask).any())
    assert not bool((has_edge(sampler.related, anchors, neg) & mask).any())
    # same seed, same draws; an alias draws what its canonical name draws
    again = _ready(ei, n, seed, z, pool_size=6)
    neg2, mask2 = again.sample(u, k, canonical_strategy(strategy), positive_scores=pos)
    assert torch.equal(neg, neg2) and torch.equal(mask, mask2)
    assert sampler.fallbacks == again.fallbacks


@pytest.mark.parametrize("alias", sorted(STRATEGY_ALIASES))
def test_aliases_name_the_canonical_strategies(alias: str) -> None:
    assert canonical_strategy(alias) == STRATEGY_ALIASES[alias]
    assert canonical_strategy(STRATEGY_ALIASES[alias]) == STRATEGY_ALIASES[alias]
    assert {canonical_strategy(s) for s in ALL_NAMES} == set(STRATEGIES)
    with pytest.raises(ValueError, match="'hardst'"):
        canonical_strategy("hardst")
    with pytest.raises(ValueError, match="strategy"):
        canonical_strategy(None)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(10, 40), e=st.integers(1, 80), seed=st.integers(0, 10_000))
def test_semi_hard_negatives_score_below_the_positive(n: int, e: int, seed: int) -> None:
    ei = _graph(n, e, seed)
    dist = get_distance("cosine")
    z = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    sampler = _sampler(ei, n, seed, pool_size=n - 1)
    sampler.refresh(z, dist, step=0)
    u, v = ei[0, :20], ei[1, :20]
    pos = dist.score_paired(z[u], z[v])
    neg, mask = sampler.sample(u, 4, "semi_hard", positive_scores=pos)
    scores = dist.score_paired(z[u].unsqueeze(1), z[neg])
    # every slot the pool filled holds s(u, n) < s(u, v); refills are counted
    assert int(((scores >= pos.unsqueeze(1)) & mask).sum()) <= sampler.fallbacks


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(10, 40),
    e=st.integers(1, 80),
    seed=st.integers(0, 10_000),
    strategy=st.sampled_from(["hardest", "weighted", "semi_hard"]),
)
def test_pool_strategies_draw_from_the_pool_without_repeats(
    n: int, e: int, seed: int, strategy: str
) -> None:
    ei = _graph(n, e, seed)
    z = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    sampler = _sampler(ei, n, seed, pool_size=5, weighted_alpha=2.0)
    sampler.refresh(z, get_distance("dot"), step=0)
    assert sampler.pool is not None
    u = torch.randint(0, n, (15,), generator=torch.Generator().manual_seed(seed + 1))
    neg, mask = sampler.sample(u, 3, strategy, positive_scores=torch.full((15,), 1e9))
    in_pool = (sampler.pool[u].unsqueeze(2) == neg.unsqueeze(1)).any(1)
    assert int((~in_pool & mask).sum()) <= sampler.fallbacks
    if sampler.fallbacks == 0:  # drawn without replacement
        assert bool((neg.sort(1).values.diff(dim=1) != 0).all())


def test_weighted_follows_exp_alpha_s() -> None:
    # pool of node 0: nodes 1..4 with dot scores 4, 3, 2, 1
    n = 6
    z = torch.zeros(n, 2)
    z[0, 0] = 1.0
    z[1:5, 0] = torch.tensor([4.0, 3.0, 2.0, 1.0])
    z[5, 0] = -10.0
    ei = torch.tensor([[0], [5]])
    dist = get_distance("dot")
    u = torch.zeros(20_000, dtype=torch.long)
    sharp = _sampler(ei, n, 0, pool_size=4, weighted_alpha=60.0)
    sharp.refresh(z, dist, step=0)
    neg, mask = sharp.sample(u[:50], 2, "weighted")
    assert bool(mask.all()) and bool((neg.sort(1).values == torch.tensor([1, 2])).all())
    flat = _sampler(ei, n, 0, pool_size=4, weighted_alpha=1.0)
    flat.refresh(z, dist, step=0)
    neg, _ = flat.sample(u, 1, "weighted")
    share = torch.bincount(neg[:, 0], minlength=n)[1:5].double() / u.numel()
    expected = torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64).exp()
    torch.testing.assert_close(share, expected / expected.sum(), atol=0.015, rtol=0)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(8, 40),
    e=st.integers(0, 60),
    k=st.integers(1, 9),
    seed=st.integers(0, 10_000),
    num_labels=st.integers(1, 4),
)
def test_category_negatives_come_from_other_categories_spread_over_them(
    n: int, e: int, k: int, seed: int, num_labels: int
) -> None:
    ei = _graph(n, max(e, 1), seed)[:, :e]
    labels = torch.randint(0, num_labels, (n,), generator=torch.Generator().manual_seed(seed))
    sampler = _sampler(ei, n, seed, labels=labels * 7 - 3)  # any integer ids
    u = torch.randint(0, n, (10,), generator=torch.Generator().manual_seed(seed + 1))
    neg, mask = sampler.sample(u, k, "category")
    assert not bool(((labels[neg] == labels[u].unsqueeze(1)) & mask).any())
    others = torch.tensor([int(torch.unique(labels[labels != labels[a]]).numel()) for a in u])
    assert not bool(mask[others == 0].any())  # nothing of another category: all masked
    present = torch.unique(labels)
    if sampler.fallbacks == 0:  # every slot came from its category: a balanced spread
        for row, lab in zip(neg[others > 0], labels[u][others > 0], strict=True):
            other = present[present != lab]
            counts = (labels[row].unsqueeze(1) == other.unsqueeze(0)).sum(0)
            assert int((counts > 0).sum()) == min(k, other.numel())
            assert int(counts.max() - counts.min()) <= 1


def test_category_needs_labels_of_every_node() -> None:
    ei = _graph(10, 20, 0)
    with pytest.raises(ValueError, match="labels"):
        _sampler(ei, 10).sample(torch.arange(3), 2, "category")
    with pytest.raises(ValueError, match="labels"):
        _sampler(ei, 10, labels=torch.zeros(9, dtype=torch.long))
    with pytest.raises(TypeError, match="labels"):
        _sampler(ei, 10, labels=torch.zeros(10))


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(8, 40),
    e=st.integers(1, 80),
    k=st.integers(1, 9),
    seed=st.integers(0, 10_000),
    clusters=st.integers(1, 5),
)
def test_cluster_negatives_spread_over_the_kmeans_clusters(
    n: int, e: int, k: int, seed: int, clusters: int
) -> None:
    ei = _graph(n, e, seed)
    z = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    sampler = _sampler(ei, n, seed, num_clusters=clusters)
    assert sampler.needs_refresh(0, "cluster")
    sampler.refresh(z, get_distance("cosine"), step=0, strategy="cluster")
    assert sampler.clusters is not None and sampler.pool is None
    assert not sampler.needs_refresh(0, "cluster") and sampler.needs_refresh(0, "hardest")
    u = torch.randint(0, n, (10,), generator=torch.Generator().manual_seed(seed + 1))
    neg, mask = sampler.sample(u, k, "cluster")
    if sampler.fallbacks == 0:
        assert bool(mask.all())
        present = torch.unique(sampler.clusters)
        for row in neg:
            counts = (sampler.clusters[row].unsqueeze(1) == present.unsqueeze(0)).sum(0)
            assert int((counts > 0).sum()) == min(k, present.numel())  # min(k, C) clusters
            assert int(counts.max() - counts.min()) <= 1


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(6, 30),
    e=st.integers(1, 40),
    k=st.integers(1, 8),
    seed=st.integers(0, 10_000),
    lo=st.integers(2, 3),
    width=st.integers(0, 2),
)
def test_khop_negatives_lie_at_the_asked_hop_distance(
    n: int, e: int, k: int, seed: int, lo: int, width: int
) -> None:
    ei = _graph(n, e, seed)
    sampler = _sampler(ei, n, seed, khop_min=lo, khop_max=lo + width)
    u = torch.randint(0, n, (10,), generator=torch.Generator().manual_seed(seed + 1))
    neg, mask = sampler.sample(u, k, "khop")
    hops = _hops(ei, n)[u.unsqueeze(1), neg]
    ring = ((_hops(ei, n)[u] >= lo) & (_hops(ei, n)[u] <= lo + width)).any(1)
    assert bool(((hops >= lo) & (hops <= lo + width))[ring].all())
    assert bool(mask[ring].all())
    assert sampler.fallbacks == k * int((~ring).sum())  # empty rings: uniform, counted


def test_khop_range_is_checked() -> None:
    ei = _graph(10, 20, 0)
    with pytest.raises(ValueError, match="khop_min"):
        _sampler(ei, 10, khop_min=1)
    with pytest.raises(ValueError, match="khop_max"):
        _sampler(ei, 10, khop_min=3, khop_max=2)


# ---- the pool backends ------------------------------------------------------------
@pytest.mark.parametrize("distance", ["cosine", "dot", "sqeuclidean"])
@pytest.mark.parametrize("deeper", [False, True])
def test_memmap_and_faiss_pools_are_the_exact_scans(distance: str, deeper: bool) -> None:
    n = 60
    ei = _graph(n, 150, 4)
    z = torch.randn(n, 5, generator=torch.Generator().manual_seed(4))
    dist = get_distance(distance)
    pools = {}
    for backend in ("exact", "memmap", "faiss"):
        s = _sampler(ei, n, pool_size=7, pool_backend=backend, pool_deeper_only=deeper)
        s.refresh(z, dist, step=0)
        pools[backend] = (s.pool, s.pool_scores)
    exact_ids, exact_scores = pools["exact"]
    for backend in ("memmap", "faiss"):
        ids, scores = pools[backend]
        assert torch.equal(ids, exact_ids), backend  # continuous scores: no ties
        torch.testing.assert_close(scores, exact_scores, rtol=1e-4, atol=1e-4)


def test_memmap_pool_under_a_small_budget_and_poincare() -> None:
    n = 50
    ei = _graph(n, 100, 1)
    z = 0.15 * torch.randn(n, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dist = get_distance("poincare")
    exact = _sampler(ei, n, pool_size=6)
    exact.refresh(z, dist, step=0)
    small = _sampler(ei, n, pool_size=6, pool_backend="memmap", memory_budget=4096)
    small.refresh(z, dist, step=0)
    assert torch.equal(small.pool, exact.pool)  # type: ignore[arg-type]
    torch.testing.assert_close(small.pool_scores, exact.pool_scores)
    with pytest.raises(ValueError, match="pool_backend"):
        _sampler(ei, n, pool_backend="faiss").refresh(z, dist, step=0)
    with pytest.raises(ValueError, match="pool_backend"):
        _sampler(ei, n, pool_backend="annoy")
    with pytest.raises(ValueError, match="memory_budget"):
        _sampler(ei, n, memory_budget=0)


# ---- validation, state ------------------------------------------------------------
def test_bad_arguments_are_named() -> None:
    ei = _graph(10, 20, 0)
    sampler = _sampler(ei, 10)
    with pytest.raises(ValueError, match="refresh"):
        sampler.sample(torch.arange(3), 2, "hard")
    with pytest.raises(ValueError, match="refresh"):
        sampler.sample(torch.arange(3), 2, "cluster")
    with pytest.raises(ValueError, match="'hardestt'"):
        sampler.sample(torch.arange(3), 2, "hardestt")
    with pytest.raises(ValueError, match="hard_ratio"):
        sampler.sample(torch.arange(3), 2, "random", hard_ratio=1.5)
    with pytest.raises(ValueError, match="k must"):
        sampler.sample(torch.arange(3), 0, "random")
    with pytest.raises(ValueError, match="kind"):
        sampler.shared(torch.arange(3), 2, 2, "hardest")
    with pytest.raises(ValueError, match="weighted_alpha"):
        _sampler(ei, 10, weighted_alpha=-1.0)
    with pytest.raises(ValueError, match="num_clusters"):
        _sampler(ei, 10, num_clusters=0)
    assert [s for s in STRATEGIES if uses_embedding(s)] == [*POOL_STRATEGIES, "cluster"]


def test_state_round_trip() -> None:
    ei = _graph(30, 60, 0)
    a = _sampler(ei, 30, num_clusters=3)
    z = torch.randn(30, 3)
    a.refresh(z, get_distance("dot"), step=7)
    a.refresh(z, get_distance("dot"), step=9, strategy="cluster")
    b = _sampler(ei, 30)
    b.load_state_dict(a.state_dict())
    assert b.last_refresh == 9 and torch.equal(b.pool, a.pool)  # type: ignore[arg-type]
    assert torch.equal(b.clusters, a.clusters)  # type: ignore[arg-type]
    u = torch.arange(30)
    b.generator.set_state(a.generator.get_state())
    assert torch.equal(a.sample(u, 4, "cluster")[0], b.sample(u, 4, "cluster")[0])
    old = {key: v for key, v in a.state_dict().items() if key != "clusters"}
    c = _sampler(ei, 30)
    c.load_state_dict(old)  # a checkpoint from before the cluster strategy
    assert c.clusters is None and torch.equal(c.pool, a.pool)  # type: ignore[arg-type]


# ---- the trainer's former draws, frozen -------------------------------------------
def test_the_former_strategies_draw_bit_identically() -> None:
    # values recorded with the trainer's own sampler (train/negatives.py) before it
    # became mining's: WordNet recipes and kill/resume tests depend on this stream
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5, 7]])
    for names in (
        ("uniform", "degree", "hard", "semihard", "mixed"),
        ("random", "degree", "hardest", "semi_hard", "mixed"),
    ):
        s = _sampler(ei, 12, seed=7, pool_size=4)
        z = torch.linspace(-1, 1, 36).view(12, 3).sin()
        z[:, 1] += torch.arange(12) * 0.37 % 1.0
        d = get_distance("dot")
        s.refresh(z, d, 0)
        u, v = torch.tensor([0, 3, 5, 11]), torch.tensor([1, 4, 6, 2])
        pos = d.score_paired(z[u], z[v])
        assert s.pool is not None and s.pool[5].tolist() == [8, 10, 7, 9]
        expected = [
            [[3, 4, 8], [2, 7, 9], [11, 11, 4], [5, 10, 7]],
            [[6, 8, 8], [0, 0, 2], [0, 1, 9], [0, 10, 1]],
            [[4, 2, 6], [2, 1, 0], [7, 10, 9], [8, 7, 9]],
            [[3, 2, 4], [5, 5, 8], [8, 0, 7], [5, 2, 5]],
            [[4, 6, 7], [5, 1, 9], [7, 10, 3], [8, 9, 2]],
        ]
        for name, want in zip(names, expected, strict=True):
            neg, mask = s.sample(u, 3, name, positive_scores=pos)
            assert neg.tolist() == want and bool(mask.all()), name
        neg, mask = s.shared(u, 3, 2, names[0])
        assert neg.tolist() == [[9, 1, 1], [9, 5, 7]]
        assert mask.tolist() == [[True, False, False], [True] * 3, [True, False, True], [True] * 3]
        neg, mask = s.shared(u, 2, 3, "degree")
        assert neg.tolist() == [[1, 1], [5, 5]] and mask[0].tolist() == [False, False]
        assert s.fallbacks == 8
        assert torch.randint(1000, (3,), generator=s.generator).tolist() == [659, 722, 719]


def test_relation_negatives_write_shared_then_own_per_anchor() -> None:
    shared = torch.tensor([[7, 8], [9, 10]])
    own = torch.tensor([[1], [2], [3]])
    negs = RelationNegatives(torch.ones(3, 3, dtype=torch.bool), shared=shared, own=own, group=2)
    assert negs.num_shared == 2
    assert negs.per_anchor().tolist() == [[7, 8, 1], [7, 8, 2], [9, 10, 3]]
    with pytest.raises(ValueError, match="neither"):
        RelationNegatives(torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="group must be > 0"):
        RelationNegatives(torch.ones(3, 2, dtype=torch.bool), shared=shared)


# ---- moved from tests/train/test_negatives.py ---------------------------------------
def test_semi_hard_takes_the_closest_qualifying_candidates() -> None:
    n = 50
    ei = _graph(n, 60, 1)
    sampler = _sampler(ei, n, pool_size=n - 1)
    dist = get_distance("cosine")
    z = torch.randn(n, 3, generator=torch.Generator().manual_seed(2))
    sampler.refresh(z, dist, step=0)
    u, v = ei[0, :30], ei[1, :30]
    pos = dist.score_paired(z[u], z[v])
    neg, _ = sampler.sample(u, 5, "semi_hard", positive_scores=pos)
    first = neg[:, 0]
    qualifying = (dist.score_pairwise(z[u], z) < pos.unsqueeze(1)) & ~has_edge(
        sampler.related, u.unsqueeze(1), torch.arange(n).unsqueeze(0)
    )
    qualifying[torch.arange(30), u] = False
    best = torch.where(qualifying, dist.score_pairwise(z[u], z), float("-inf")).max(1).values
    has_any = torch.isfinite(best)
    torch.testing.assert_close(dist.score_paired(z[u], z[first])[has_any], best[has_any])


def test_degree_burn_in_prefers_frequent_nodes() -> None:
    # two hubs: every leaf is related to nodes 0 and 1, so node 1 takes part in 198
    # relations; for anchor 0 (which relates to nothing) it is drawn far above 1/N
    n = 200
    leaves = torch.arange(2, n)
    ei = torch.cat(
        [
            torch.stack([leaves, torch.zeros_like(leaves)]),
            torch.stack([leaves, torch.ones_like(leaves)]),
        ],
        dim=1,
    )
    anchors = torch.zeros(4000, dtype=torch.long)
    uni, umask = _sampler(ei, n, seed=1).sample(anchors, 1, "random")
    deg, dmask = _sampler(ei, n, seed=1).sample(anchors, 1, "degree")
    assert bool(umask.all()) and bool(dmask.all())
    share_uniform = float((uni == 1).float().mean())
    share_degree = float((deg == 1).float().mean())
    assert share_uniform < 0.02 < 0.1 < share_degree


def test_degree_counts_a_node_as_a_target_only() -> None:
    # a closure: node 1 under root 0, leaves 2..41 under node 1 (so also under 0).
    # Targets: 0 of 41 relations, 1 of 40, leaves of none (weight floor 1), so a
    # degree draw is a leaf with probability 40 / (41^.75 + 40^.75 + 40) ~ 0.52;
    # counting either end (a leaf is the source of 2) would give ~0.64
    leaves = torch.arange(2, 42)
    ei = torch.cat(
        [
            torch.stack([leaves, torch.ones_like(leaves)]),
            torch.stack([leaves, torch.zeros_like(leaves)]),
            torch.tensor([[1], [0]]),
        ],
        dim=1,
    )
    sampler = _sampler(ei, 42, seed=3)
    expected = torch.tensor([41.0, 40.0] + [1.0] * 40) ** 0.75
    torch.testing.assert_close(sampler.degree_probs, (expected / expected.sum()).float())
    draws, _ = sampler.shared(torch.zeros(20000, dtype=torch.long), 1, 1, "degree")
    leaf_share = float((draws >= 2).float().mean())
    assert abs(leaf_share - 40 / (41**0.75 + 40**0.75 + 40)) < 0.02


def test_the_pool_can_keep_a_nodes_descendants_out() -> None:
    # a chain 0 <- 1 <- 2 <- 3 (child -> ancestor closure) plus unrelated nodes 4..9;
    # node 0's closest nodes are its descendants 1, 2, 3: with the lineage excluded
    # its pool holds only nodes outside its lineage
    closure = torch.tensor([[1, 2, 2, 3, 3, 3], [0, 0, 1, 0, 1, 2]])
    n = 10
    z = torch.zeros(n, 2)
    z[:4, 0] = torch.tensor([0.0, 0.1, 0.2, 0.3])
    z[4:, 1] = torch.arange(1, 7, dtype=torch.float32)
    dist = get_distance("sqeuclidean")
    plain = _sampler(closure, n, pool_size=3)
    plain.refresh(z, dist, step=0)
    assert plain.pool is not None and set(plain.pool[0].tolist()) == {1, 2, 3}
    both = torch.cat([closure, closure.flip(0)], dim=1)
    lineage = _sampler(closure, n, pool_size=3, pool_excludes=to_csr(both, num_nodes=n))
    lineage.refresh(z, dist, step=0)
    assert lineage.pool is not None
    assert set(lineage.pool[0].tolist()) == {4, 5, 6}
    assert set(lineage.pool[3].tolist()).isdisjoint({0, 1, 2})
    with pytest.raises(ValueError, match="pool_excludes"):
        _sampler(closure, n, pool_excludes=to_csr(both, num_nodes=12))


def test_the_pool_can_keep_nodes_nearer_the_origin_out() -> None:
    # a chain 0 <- 1 <- 2 <- 3 outwards along x, plus 4 (an unseen ancestor of 2: nearer
    # the origin, close to it) and 5, 6 (deeper, unrelated): node 2's closest
    # non-relations are 4, 3, 5, 6; with pool_deeper_only the shallower 4 is left out
    closure = torch.tensor([[1, 2, 2, 3, 3, 3], [0, 0, 1, 0, 1, 2]])
    n = 7
    z = torch.tensor(
        [[0.1, 0.0], [0.3, 0.0], [0.5, 0.0], [0.7, 0.0], [0.45, 0.05], [0.5, 0.3], [0.6, 0.4]],
        dtype=torch.float64,
    )
    dist = get_distance("poincare")
    plain = _sampler(closure, n, pool_size=3)
    plain.refresh(z, dist, step=0)
    assert plain.pool is not None and 4 in plain.pool[2].tolist()
    deeper = _sampler(closure, n, pool_size=3, pool_deeper_only=True)
    deeper.refresh(z, dist, step=0)
    assert deeper.pool is not None and deeper.pool_scores is not None
    assert deeper.pool[2].tolist() == [3, 5, 6]  # the three closest at least as deep
    norms = z.norm(dim=1)
    filled = deeper.pool >= 0
    rows = torch.arange(n).unsqueeze(1).expand_as(deeper.pool)
    assert bool((norms[deeper.pool[filled]] >= norms[rows[filled]]).all())
    assert deeper.pool[3].tolist()[-1] == -1  # the deepest node has fewer candidates
