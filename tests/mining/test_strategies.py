"""Strategies: exclusion safety, exact counts or masks, reproducibility, inequalities."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.functional.distances import get_distance
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.miner import mine
from contrastkit.mining.strategies import (
    STRATEGY_NAMES,
    CategorySpread,
    ClusterSpread,
    Mixed,
    SemiHard,
    Weighted,
    as_strategy,
)


def _problem(seed: int, m: int, b: int, d: int, classes: int):
    g = torch.Generator().manual_seed(seed)
    pool = torch.randn(m, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, classes, (m,), generator=g)
    ids = torch.randperm(m, generator=g)[:b]
    anchors = pool[ids] + 0.3 * torch.randn(b, d, generator=g, dtype=torch.float64)
    pos_ids = torch.randint(-1, m, (b, 2), generator=g)
    edges = torch.randint(0, m, (2, 2 * m), generator=g)
    return pool, labels, ids, anchors, pos_ids, edges


def _banned(m, labels, ids, pos_ids, edges):
    b = ids.numel()
    bad = torch.zeros(b, m, dtype=torch.bool)
    und = torch.cat([edges, edges.flip(0)], 1)
    for r in range(b):
        bad[r, ids[r]] = True
        bad[r, pos_ids[r][pos_ids[r] >= 0]] = True
        bad[r, labels == labels[ids[r]]] = True
        bad[r, und[1][und[0] == ids[r]]] = True
    return bad


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    m=st.integers(4, 50),
    b=st.integers(1, 4),
    k=st.integers(1, 7),
    name=st.sampled_from(STRATEGY_NAMES),
    budget=st.sampled_from([3_000, 1_000_000]),
)
def test_never_returns_excluded_and_counts_are_exact(seed, m, b, k, name, budget):
    pool, labels, ids, anchors, pos_ids, edges = _problem(seed, m, b, 3, 4)
    ex = build_exclusions(
        b,
        m,
        query_ids=ids,
        positive_ids=pos_ids,
        query_labels=labels[ids],
        pool_labels=labels,
        edges=edges,
    )
    strat = as_strategy(name)
    if name == "cluster":
        strat = ClusterSpread(num_clusters=3)
    kw = dict(exclusions=ex, generator=seed, memory_budget=budget, positives=pool[ids])
    res = mine(anchors, pool, k, strat, **kw)
    again = mine(anchors, pool, k, strat, **kw)
    assert torch.equal(res.indices, again.indices)  # same seed, same output
    bad = _banned(m, labels, ids, pos_ids, edges)
    assert res.indices.shape == (b, k) and res.mask.shape == (b, k)
    assert torch.equal(res.mask, res.indices >= 0)
    assert not bad.gather(1, res.safe_indices())[res.mask].any()
    available = (~bad).sum(1)
    for r in range(b):
        got = res.indices[r][res.mask[r]]
        assert got.unique().numel() == got.numel()  # no repeats
        if name in ("hardest", "weighted", "random", "mixed"):
            assert got.numel() == min(k, int(available[r]))
        elif name == "semi_hard" and bool(res.report.fallback_rows[r]):
            assert got.numel() == min(k, int(available[r]))
        else:
            assert got.numel() <= min(k, int(available[r]))
    sc = get_distance("cosine").score_pairwise(anchors, pool).gather(1, res.safe_indices())
    torch.testing.assert_close(sc[res.mask], res.scores[res.mask])
    assert (res.scores[~res.mask] == 0).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    band=st.sampled_from([None, 0.3]),
    dist=st.sampled_from(["cosine", "sqeuclidean"]),
)
def test_semi_hard_inequality(seed, band, dist):
    pool, labels, ids, anchors, _, _ = _problem(seed, 60, 6, 4, 3)
    ex = build_exclusions(6, 60, query_ids=ids, query_labels=labels[ids], pool_labels=labels)
    res = mine(
        anchors, pool, 4, SemiHard(band=band), positives=pool[ids], exclusions=ex, distance=dist
    )
    s_p = get_distance(dist).score_paired(anchors, pool[ids])
    ok_rows = ~res.report.fallback_rows
    sel = res.mask & ok_rows.unsqueeze(1)
    assert (res.scores < s_p.unsqueeze(1))[sel].all()
    if band is not None:
        assert (res.scores > (s_p - band).unsqueeze(1))[sel].all()
    # semi-hard rows hold the closest-below-positive candidates: brute force
    full = get_distance(dist).score_pairwise(anchors, pool)
    banned = _banned(60, labels, ids, torch.full((6, 1), -1), torch.empty(2, 0, dtype=torch.long))
    full = full.masked_fill(banned, float("-inf"))
    # a banned candidate (-inf) is below every positive but no semi-hard candidate
    window = (full < s_p.unsqueeze(1)) & ~banned
    if band is not None:
        window &= full > (s_p - band).unsqueeze(1)
    ref = full.masked_fill(~window, float("-inf")).topk(4, dim=1)
    for r in torch.nonzero(ok_rows).squeeze(1).tolist():
        assert res.indices[r].tolist() == ref.indices[r].tolist()
    # fallback rows are exactly those short of 4 semi-hard candidates, and reported
    assert torch.equal(res.report.fallback_rows, window.sum(1) < 4)
    assert res.report.num_fallback == int((window.sum(1) < 4).sum())


def test_semi_hard_without_fallback_masks():
    pool = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    res = mine(pool[:1], pool, 2, SemiHard(fallback="none"), positives=pool[1:2])
    # s_p = 0: only candidates with cos < 0 qualify -> none
    assert not res.mask.any() and res.report.num_fallback == 0 and res.report.masked_slots == 2


def test_hardest_matches_brute_force_and_difficulty(gen):
    pool = torch.randn(80, 5, generator=gen)
    a = torch.randn(7, 5, generator=gen)
    p = torch.randn(7, 5, generator=gen)
    res = mine(a, pool, 6, "hardest", positives=p, memory_budget=4_000)
    full = get_distance("cosine").score_pairwise(a, pool)
    assert torch.equal(res.indices, full.topk(6).indices)
    s_p = get_distance("cosine").score_paired(a, p)
    torch.testing.assert_close(res.difficulty, res.scores - s_p.unsqueeze(1) + 1)


def test_weighted_without_replacement_and_follows_softmax():
    # 3 candidates, K = 1, many identical anchors: frequencies ~ softmax(alpha s)
    pool = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64).expand(3000, 2).contiguous()
    res = mine(a, pool, 1, Weighted(alpha=2.0), generator=11)
    freq = torch.bincount(res.indices[:, 0], minlength=3).double() / 3000
    expect = torch.softmax(2.0 * torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), 0)
    torch.testing.assert_close(freq, expect, atol=0.03, rtol=0)
    res3 = mine(a[:50], pool, 3, Weighted(alpha=2.0), generator=1)
    assert (res3.indices.sort(1).values == torch.arange(3)).all()  # all three, no repeat


def test_mixed_hard_part_then_disjoint_random(gen):
    pool = torch.randn(50, 4, generator=gen)
    a = torch.randn(5, 4, generator=gen)
    res = mine(a, pool, 6, Mixed(hard_ratio=0.5), generator=gen)
    full = get_distance("cosine").score_pairwise(a, pool)
    assert torch.equal(res.indices[:, :3], full.topk(3).indices)
    for row in res.indices:
        assert row.unique().numel() == 6


def test_cluster_and_category_spread(gen):
    centers = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    lab = torch.arange(4).repeat_interleave(20)
    pool = centers[lab] + 0.3 * torch.randn(80, 2, generator=gen)
    a = torch.randn(6, 2, generator=gen)
    res = mine(a, pool, 4, ClusterSpread(num_clusters=4, within="hardest"), distance="sqeuclidean")
    assert res.mask.all()
    for row in res.indices:
        assert lab[row].unique().numel() == 4  # one from each cluster
    a_lab = torch.tensor([0, 1, 2, 3, 0, 1])
    ex = build_exclusions(6, 80, query_labels=a_lab, pool_labels=lab)
    res = mine(a, pool, 6, CategorySpread(), exclusions=ex, generator=3)
    assert res.mask.all()
    for r, row in enumerate(res.indices):
        cats = lab[row]
        assert not (cats == a_lab[r]).any()
        assert torch.bincount(cats, minlength=4).max() == 2  # 2 from each other category
    with pytest.raises(ValueError, match="category"):
        mine(a, pool, 2, "category")


def test_bad_input(gen):
    pool = torch.randn(10, 4, generator=gen)
    a = torch.randn(3, 4, generator=gen)
    with pytest.raises(ValueError, match="k"):
        mine(a, pool, 0)
    with pytest.raises(ValueError, match="pool"):
        mine(a, torch.randn(10, 5), 2)
    with pytest.raises(ValueError, match="anchors"):
        mine(a.masked_fill(a > 0, float("nan")), pool, 2)
    with pytest.raises(ValueError, match="positives"):
        mine(a, pool, 2, "semi_hard", positives=torch.randn(3, 5))
    with pytest.raises(ValueError, match="positives"):
        mine(a, pool, 2, "semi_hard")
    with pytest.raises(ValueError, match="positives"):
        mine(a, pool, 2, positives=torch.full((3, 4), float("inf")))
    with pytest.raises(ValueError, match="strategy"):
        mine(a, pool, 2, "hardestest")
    with pytest.raises(ValueError, match="hard_ratio"):
        Mixed(hard_ratio=1.5)
    with pytest.raises(ValueError, match="query_labels"):
        mine(
            a,
            pool,
            2,
            exclusions=build_exclusions(
                3, 10, query_labels=torch.zeros(2), pool_labels=torch.zeros(10)
            ),
        )
