"""Tiled exact top-k equals brute force; exclusions and bounds act inside the scan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastkit.functional.distances import get_distance
from contrastkit.graph.csr import to_csr
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.tiles import Bound
from contrastkit.mining.topk import Head, exact_topk, scan_topk

DISTANCES = ["cosine", "dot", "sqeuclidean", "euclidean", "poincare"]


def _data(b: int, m: int, d: int, dtype: torch.dtype, seed: int = 0, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, d, generator=g, dtype=dtype) * scale,
        torch.randn(m, d, generator=g, dtype=dtype) * scale,
    )


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("budget", [30_000, 10_000_000])
def test_tiled_equals_brute_force(distance, budget, dtype):
    q, x = _data(37, 301, 6, dtype, scale=0.2 if distance == "poincare" else 1.0)
    ref = get_distance(distance).score_pairwise(q, x).topk(5, dim=1)
    s, i = exact_topk(q, x, 5, distance=distance, memory_budget=budget)
    torch.testing.assert_close(s, ref.values)
    assert torch.equal(i, ref.indices)


def test_memmap_pool_matches_tensor(tmp_path):
    q, x = _data(20, 500, 8, torch.float32)
    mm = np.lib.format.open_memmap(
        tmp_path / "pool.npy", mode="w+", dtype=np.float32, shape=(500, 8)
    )
    mm[:] = x.numpy()
    mm.flush()
    ro = np.load(tmp_path / "pool.npy", mmap_mode="r")
    s1, i1 = exact_topk(q, ro, 4, memory_budget=20_000)
    s2, i2 = exact_topk(q, x, 4)
    assert torch.equal(i1, i2)
    torch.testing.assert_close(s1, s2)


def test_k_larger_than_pool_is_masked():
    q, x = _data(3, 4, 5, torch.float32)
    s, i = exact_topk(q, x, 6, distance="dot")
    assert (i[:, 4:] == -1).all() and torch.isinf(s[:, 4:]).all()
    assert (i[:, :4] >= 0).all()


def test_slots_left_empty_by_exclusions_hold_minus_one():
    # one candidate left after the exclusions: the other slots are -inf / -1, not the
    # ids of excluded rows
    q, x = _data(1, 6, 3, torch.float32)
    edges = to_csr(torch.tensor([[0, 0, 0, 0], [1, 2, 3, 4]]), num_nodes=6)
    excl = build_exclusions(1, 6, query_ids=torch.tensor([0]), edges=edges)
    s, i = exact_topk(q, x, 3, distance="dot", exclusions=excl)
    assert i.tolist() == [[5, -1, -1]]
    assert torch.isinf(s[0, 1:]).all()


def _brute_excluded(q, x, ids, pos, ql, pl, edges_set):
    bad = torch.zeros(q.shape[0], x.shape[0], dtype=torch.bool)
    for r in range(q.shape[0]):
        for j in range(x.shape[0]):
            if (
                j == ids[r]
                or j in pos[r].tolist()
                or ql[r] == pl[j]
                or (int(ids[r]), j) in edges_set
            ):
                bad[r, j] = True
    return bad


def test_exclusions_inside_scan(gen):
    x = torch.randn(60, 4, generator=gen)
    ids = torch.randperm(60, generator=gen)[:15]
    q = x[ids] + 0.01 * torch.randn(15, 4, generator=gen)
    pos = torch.randint(-1, 60, (15, 3), generator=gen)
    pl = torch.randint(0, 5, (60,), generator=gen)
    ql = pl[ids]
    ei = torch.randint(0, 60, (2, 80), generator=gen)
    ex = build_exclusions(
        15, 60, query_ids=ids, positive_ids=pos, query_labels=ql, pool_labels=pl, edges=ei
    )
    edges_set = set(map(tuple, ei.T.tolist())) | set(map(tuple, ei.flip(0).T.tolist()))
    bad = _brute_excluded(q, x, ids, pos, ql, pl, edges_set)
    scores = get_distance("cosine").score_pairwise(q, x).masked_fill(bad, float("-inf"))
    ref = scores.topk(8, dim=1)
    s, i = exact_topk(q, x, 8, exclusions=ex, memory_budget=5_000)
    valid = torch.isfinite(ref.values)
    assert torch.equal(torch.isfinite(s), valid)
    assert torch.equal(i[valid], ref.indices[valid])
    assert not bad.gather(1, i.clamp_min(0))[valid].any()


def test_bounds_remove_and_count(gen):
    q, x = _data(10, 200, 5, torch.float64, seed=3)
    full = get_distance("cosine").score_pairwise(q, x)
    hi = torch.full((10,), 0.3, dtype=torch.float64)
    lo = torch.full((10,), -0.2, dtype=torch.float64)
    (top,), removed = scan_topk(
        q,
        x,
        [Head(200)],
        bounds=[Bound("hi", hi), Bound("lo", lo, upper=False)],
        memory_budget=4_000,
    )
    assert torch.equal(removed["hi"], (full >= 0.3).sum(1))
    assert torch.equal(removed["lo"], (full <= -0.2).sum(1))
    ok = (full < 0.3) & (full > -0.2)
    assert torch.equal(torch.isfinite(top.keys).sum(1), ok.sum(1))


def test_gumbel_head_is_reproducible_and_without_replacement():
    q, x = _data(8, 300, 4, torch.float32)
    heads = [Head(50, alpha=2.0)]
    (a,), _ = scan_topk(
        q, x, heads, generator=torch.Generator().manual_seed(5), memory_budget=9_000
    )
    (b,), _ = scan_topk(
        q, x, heads, generator=torch.Generator().manual_seed(5), memory_budget=9_000
    )
    (c,), _ = scan_topk(
        q, x, heads, generator=torch.Generator().manual_seed(6), memory_budget=9_000
    )
    assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, c.indices)
    for row in a.indices:
        assert row.unique().numel() == 50
    # reported scores are the raw scores of the sampled items
    ref = get_distance("cosine").score_pairwise(q, x).gather(1, a.indices)
    torch.testing.assert_close(a.scores, ref)


def test_gumbel_frequencies_follow_softmax():
    # one query, three items: top-1 Gumbel frequencies ~ softmax(alpha * s)
    q = torch.tensor([[1.0, 0.0]])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    qs = q.expand(4000, 2).contiguous()
    (t,), _ = scan_topk(qs, x, [Head(1, alpha=1.5)], generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(t.indices[:, 0], minlength=3).double() / 4000
    expect = torch.softmax(1.5 * torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), 0)
    torch.testing.assert_close(freq, expect, atol=0.03, rtol=0)


def test_bad_input():
    q, x = _data(3, 10, 4, torch.float32)
    with pytest.raises(ValueError, match="k"):
        exact_topk(q, x, 0)
    with pytest.raises(ValueError, match="pool"):
        exact_topk(q, torch.randn(10, 5), 2)
    with pytest.raises(ValueError, match="queries"):
        exact_topk(torch.full((3, 4), float("nan")), x, 2)
    bad = x.clone()
    bad[7, 1] = float("inf")
    with pytest.raises(ValueError, match="pool"):
        exact_topk(q, bad, 2)
    with pytest.raises(ValueError, match="query_labels"):
        build_exclusions(3, 10, query_labels=torch.zeros(4), pool_labels=torch.zeros(10))
    with pytest.raises(ValueError, match="pool_labels"):
        build_exclusions(3, 10, query_labels=torch.zeros(3), pool_labels=torch.zeros(9))
    with pytest.raises(ValueError, match="pool_labels"):
        build_exclusions(3, 10, query_labels=torch.zeros(3))
    with pytest.raises(ValueError, match="query_ids"):
        build_exclusions(3, 10, query_ids=torch.tensor([0, 1, 10]))
    with pytest.raises(ValueError, match="edges"):
        build_exclusions(3, 10, edges=torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="edges"):
        build_exclusions(
            3, 10, query_ids=torch.tensor([0, 1, 2]), edges=to_csr(torch.tensor([[0], [1]]), 4)
        )
    with pytest.raises(ValueError, match="memory_budget"):
        exact_topk(q, x, 2, memory_budget=10)
    with pytest.raises(TypeError, match="pool"):
        exact_topk(q, [[1.0]], 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("distance", ["cosine", "dot", "sqeuclidean", "euclidean"])
def test_threshold_merge_equals_brute_force_with_exclusions_and_bounds(distance, gen):
    # many pool tiles, so most merges go through the block-maximum threshold pass;
    # 3001 is not a multiple of the 32-column block or of the tile (ragged blocks)
    m, b, k = 3001, 40, 5
    x = torch.randn(m, 6, generator=gen, dtype=torch.float64)
    ids = torch.randperm(m, generator=gen)[:b]
    q = x[ids] + 0.1 * torch.randn(b, 6, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 7, (m,), generator=gen)
    pos = torch.randint(0, m, (b, 3), generator=gen)
    ex = build_exclusions(
        b, m, query_ids=ids, positive_ids=pos, query_labels=labels[ids], pool_labels=labels
    )
    full = get_distance(distance).score_pairwise(q, x)
    bad = labels[ids].unsqueeze(1) == labels.unsqueeze(0)
    bad[torch.arange(b), ids] = True
    bad[torch.arange(b).unsqueeze(1), pos] = True
    full = full.masked_fill(bad, float("-inf"))
    upper = full.max(1).values - 0.3  # drops each row's best few candidates
    head = Head(k, bounds=(Bound("hi", upper),))
    for budget in (200_000, 50_000_000):
        (plain, bounded), removed = scan_topk(
            q,
            x,
            [Head(k), head],
            distance=distance,
            exclusions=ex,
            memory_budget=budget,
            bounds=[Bound("cap", torch.full((b,), 1e9, dtype=torch.float64))],
        )
        ref = full.topk(k, dim=1)
        assert torch.equal(plain.indices, ref.indices)
        torch.testing.assert_close(plain.scores, ref.values)
        ref_b = full.masked_fill(full >= upper.unsqueeze(1), float("-inf")).topk(k, dim=1)
        assert torch.equal(bounded.indices, ref_b.indices)
        assert removed["cap"].sum() == 0


@pytest.mark.parametrize("distance", ["cosine", "sqeuclidean", "poincare"])
def test_depth_exclusions_keep_only_items_at_least_as_deep(distance, gen):
    # brute force: score everything, drop items shallower than the query, top-k
    x = torch.randn(80, 3, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(80, 1, generator=gen, dtype=torch.float64)
    depth = x.norm(dim=1)
    ids = torch.arange(0, 80, 4)
    ids[0] = depth.argmax()  # the deepest item as a query: nothing is left for it
    ex = build_exclusions(20, 80, query_ids=ids, query_depth=depth[ids], pool_depth=depth)
    bad = depth.unsqueeze(0) < depth[ids].unsqueeze(1)
    bad[torch.arange(20), ids] = True
    ref = get_distance(distance).score_pairwise(x[ids], x).masked_fill(bad, float("-inf"))
    ref = ref.topk(6, dim=1)
    s, i = exact_topk(x[ids], x, 6, distance=distance, exclusions=ex, memory_budget=5_000)
    valid = torch.isfinite(ref.values)
    assert not bool(valid[0].any()) and bool(valid[1:, 0].all())
    assert torch.equal(torch.isfinite(s), valid)
    assert torch.equal(i[valid], ref.indices[valid])
    assert bool((i[~valid] == -1).all())
    # the test for candidate lists (FAISS backend) agrees with the tile's
    cand = torch.randint(-1, 80, (20, 7), generator=gen)
    want = (cand < 0) | bad.gather(1, cand.clamp_min(0))
    assert torch.equal(ex.banned(torch.arange(20), cand, 80), want)


def test_depth_exclusions_need_both_finite_depths():
    with pytest.raises(ValueError, match="pool_depth"):
        build_exclusions(3, 10, query_depth=torch.zeros(3))
    with pytest.raises(ValueError, match="query_depth"):
        build_exclusions(3, 10, pool_depth=torch.zeros(10))
    with pytest.raises(ValueError, match="pool_depth"):
        build_exclusions(3, 10, query_depth=torch.zeros(3), pool_depth=torch.zeros(9))
    with pytest.raises(ValueError, match="query_depth"):
        nan = torch.tensor([0.0, float("nan"), 0.0])
        build_exclusions(3, 10, query_depth=nan, pool_depth=torch.zeros(10))
    with pytest.raises(TypeError, match="pool_depth"):
        build_exclusions(3, 10, query_depth=torch.zeros(3), pool_depth=torch.zeros(10).long())
