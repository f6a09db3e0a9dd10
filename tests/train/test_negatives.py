"""Property tests of the trainer's relation negative sampler."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.functional.distances import get_distance
from contrastkit.graph.csr import has_edge, to_csr
from contrastkit.train.negatives import RelationNegatives, RelationNegativeSampler


def _graph(n: int, e: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return ei[:, ei[0] != ei[1]]


def _sampler(ei: torch.Tensor, n: int, seed: int = 0, **kw: int) -> RelationNegativeSampler:
    return RelationNegativeSampler(
        to_csr(ei, num_nodes=n), generator=torch.Generator().manual_seed(seed), **kw
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(8, 60),
    e=st.integers(1, 150),
    k=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    strategy=st.sampled_from(["uniform", "degree", "hard", "mixed"]),
)
def test_never_the_anchor_or_a_relation_and_exactly_k(
    n: int, e: int, k: int, seed: int, strategy: str
) -> None:
    ei = _graph(n, e, seed)
    sampler = _sampler(ei, n, seed, pool_size=10)
    z = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
    sampler.refresh(z, get_distance("cosine"), step=0)
    u = torch.randint(0, n, (16,), generator=torch.Generator().manual_seed(seed + 1))
    neg, mask = sampler.sample(u, k, strategy)  # type: ignore[arg-type]
    assert neg.shape == mask.shape == (16, k)
    anchors = u.unsqueeze(1).expand_as(neg)
    assert not bool(((neg == anchors) & mask).any())
    assert not bool((has_edge(sampler.related, anchors, neg) & mask).any())


def test_same_seed_same_negatives() -> None:
    ei = _graph(40, 100, 3)
    u = torch.arange(40)
    a = _sampler(ei, 40, seed=5).sample(u, 6, "uniform")
    b = _sampler(ei, 40, seed=5).sample(u, 6, "uniform")
    c = _sampler(ei, 40, seed=6).sample(u, 6, "uniform")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_semihard_negatives_score_below_the_positive() -> None:
    n = 50
    ei = _graph(n, 60, 1)
    sampler = _sampler(ei, n, pool_size=n - 1)
    dist = get_distance("cosine")
    z = torch.randn(n, 3, generator=torch.Generator().manual_seed(2))
    sampler.refresh(z, dist, step=0)
    u, v = ei[0, :30], ei[1, :30]
    pos = dist.score_paired(z[u], z[v])
    neg, mask = sampler.sample(u, 5, "semihard", positive_scores=pos)
    scores = dist.score_paired(z[u].unsqueeze(1), z[neg])
    violations = int(((scores >= pos.unsqueeze(1)) & mask).sum())
    # every slot the pool filled satisfies s(u, n) < s(u, v); refills are counted
    assert violations <= sampler.fallbacks
    # and the chosen ones are the closest qualifying candidates of the pool
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
    uni, umask = _sampler(ei, n, seed=1).sample(anchors, 1, "uniform")
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


def test_pool_required_for_hard() -> None:
    sampler = _sampler(_graph(10, 20, 0), 10)
    with pytest.raises(ValueError, match="refresh"):
        sampler.sample(torch.arange(3), 2, "hard")
    with pytest.raises(ValueError, match="strategy"):
        sampler.sample(torch.arange(3), 2, "hardest")  # type: ignore[arg-type]


def test_state_round_trip() -> None:
    ei = _graph(30, 60, 0)
    a = _sampler(ei, 30)
    a.refresh(torch.randn(30, 3), get_distance("dot"), step=7)
    b = _sampler(ei, 30)
    b.load_state_dict(a.state_dict())
    assert b.last_refresh == 7 and torch.equal(b.pool, a.pool)  # type: ignore[arg-type]


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
    lineage = RelationNegativeSampler(
        to_csr(closure, num_nodes=n),
        generator=torch.Generator().manual_seed(0),
        pool_size=3,
        pool_excludes=to_csr(both, num_nodes=n),
    )
    lineage.refresh(z, dist, step=0)
    assert lineage.pool is not None
    assert set(lineage.pool[0].tolist()) == {4, 5, 6}
    assert set(lineage.pool[3].tolist()).isdisjoint({0, 1, 2})
    with pytest.raises(ValueError, match="pool_excludes"):
        RelationNegativeSampler(
            to_csr(closure, num_nodes=n),
            generator=torch.Generator(),
            pool_excludes=to_csr(both, num_nodes=12),
        )


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
    deeper = RelationNegativeSampler(
        to_csr(closure, num_nodes=n),
        generator=torch.Generator().manual_seed(0),
        pool_size=3,
        pool_deeper_only=True,
    )
    deeper.refresh(z, dist, step=0)
    assert deeper.pool is not None and deeper.pool_scores is not None
    assert deeper.pool[2].tolist() == [3, 5, 6]  # the three closest at least as deep
    norms = z.norm(dim=1)
    filled = deeper.pool >= 0
    rows = torch.arange(n).unsqueeze(1).expand_as(deeper.pool)
    assert bool((norms[deeper.pool[filled]] >= norms[rows[filled]]).all())
    assert deeper.pool[3].tolist()[-1] == -1  # the deepest node has fewer candidates
    # the option travels from the miner config to the trainer's sampler
    from contrastkit.train.config import load_config
    from contrastkit.train.miner_config import MinerConfig

    assert not MinerConfig().pool_deeper_only
    cfg = load_config(None, ["miner.pool_deeper_only=true"])
    assert cfg.miner.pool_deeper_only


def test_the_trainer_passes_the_lineage_only_when_asked(tmp_path: object) -> None:
    from contrastkit.train.config import load_config
    from contrastkit.train.trainer import Trainer

    base = [
        "loop.progress=false",
        "output.report=false",
        f"output.run_dir={tmp_path}",
        "miner.strategy=mixed",
    ]
    plain = Trainer(load_config(None, base)).sampler  # the mammal closure
    assert plain.pool_excludes is plain.related
    both = Trainer(load_config(None, [*base, "miner.pool_excludes_descendants=true"])).sampler
    assert both.pool_excludes.col.numel() == 2 * plain.related.col.numel()


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
