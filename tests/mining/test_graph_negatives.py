"""Graph negatives: k-hop rings equal networkx BFS, never an edge or the node."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.functional.distances import get_distance
from contrastkit.graph.csr import to_csr
from contrastkit.mining.edge_sampling import degree_corrected_negatives, random_edge_negatives
from contrastkit.mining.graph_negatives import edge_hard_triplets, khop_negatives, segment_topk

nx = pytest.importorskip("networkx")


def _graph(n: int, e: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    z = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return ei, z


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(2, 30),
    e=st.integers(0, 60),
    k=st.integers(1, 6),
    hops=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    budget=st.sampled_from([64, 10_000_000]),
)
def test_khop_negatives_equal_networkx_ring(n, e, k, hops, seed, budget):
    ei, z = _graph(n, e, seed)
    anchors = torch.randint(0, n, (5,), generator=torch.Generator().manual_seed(seed + 1))
    res = khop_negatives(z, ei, anchors, k, hops=hops, memory_budget=budget)
    G = nx.Graph()
    G.add_nodes_from(range(n))
    G.add_edges_from(ei.T.tolist())
    scores = get_distance("cosine").score_pairwise(z, z)
    for r, a in enumerate(anchors.tolist()):
        dist = nx.single_source_shortest_path_length(G, a, cutoff=hops)
        cand = [v for v, h in dist.items() if h >= 2]
        got = res.indices[r][res.mask[r]].tolist()
        assert set(got) <= set(cand)
        assert a not in got and not set(got) & set(G.neighbors(a))
        assert len(got) == min(k, len(cand))
        expect = sorted(cand, key=lambda v: -float(scores[a, v]))[: len(got)]
        assert sorted(scores[a, got].tolist()) == pytest.approx(sorted(scores[a, expect].tolist()))
    assert res.report.masked_slots == int((~res.mask).sum())


def test_segment_topk_paths_agree(gen):
    seg = torch.sort(torch.randint(0, 7, (200,), generator=gen)).values
    vals = torch.randn(200, generator=gen)
    a = segment_topk(seg, vals, 9, 4, memory_budget=10**9)
    b = segment_topk(seg, vals, 9, 4, memory_budget=1)
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])
    assert (a[1][7:] == -1).all()


def test_edge_hard_triplets_exclude_neighbours(gen):
    ei = torch.randint(0, 40, (2, 120), generator=gen)
    z = torch.randn(40, 4, generator=gen)
    u, v, res = edge_hard_triplets(z, ei, 3)
    assert torch.equal(u, ei[0]) and torch.equal(v, ei[1])
    csr = to_csr(ei, 40, undirected=True)
    adj = torch.zeros(40, 40, dtype=torch.bool)
    adj[csr.row(), csr.col] = True
    adj[torch.arange(40), torch.arange(40)] = True
    assert not adj[u.unsqueeze(1), res.safe_indices()][res.mask].any()
    s = get_distance("cosine").score_pairwise(z, z).masked_fill(adj, float("-inf"))
    ref = s[u].topk(3)
    assert torch.equal(res.indices[res.mask], ref.indices[torch.isfinite(ref.values)])
    s_p = get_distance("cosine").score_paired(z[u], z[v])
    torch.testing.assert_close(res.difficulty, res.scores - s_p.unsqueeze(1) + 1)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(3, 25), e=st.integers(0, 50), s=st.integers(0, 40), seed=st.integers(0, 999))
def test_random_edge_negatives_never_edges(n, e, s, seed):
    ei, _ = _graph(n, e, seed)
    a = random_edge_negatives(ei, s, num_nodes=n, generator=seed)
    b = random_edge_negatives(ei, s, num_nodes=n, generator=seed)
    assert torch.equal(a.edge_index, b.edge_index)
    edges = set(map(tuple, ei.T.tolist())) | set(map(tuple, ei.flip(0).T.tolist()))
    for (x, y), ok in zip(a.edge_index.T.tolist(), a.mask.tolist(), strict=True):
        if ok:
            assert x != y and (x, y) not in edges
    assert a.edge_index.shape == (2, s)
    free = n * (n - 1) - len({(x, y) for x, y in edges if x != y})
    if free >= 0.25 * n * (n - 1):
        # exact mode redraws up to 100 rounds: a slot stays empty with p <= 0.75^100
        assert int(a.mask.sum()) == s
    elif free == 0:
        assert not a.mask.any()
    src = torch.randint(0, n, (s,), generator=torch.Generator().manual_seed(seed))
    c = random_edge_negatives(ei, s, num_nodes=n, sources=src, generator=seed)
    assert torch.equal(c.edge_index[0][c.mask], src[c.mask])


def test_exact_option_and_impossible_slots():
    complete = torch.combinations(torch.arange(4)).T
    out = random_edge_negatives(complete, 5, num_nodes=4, max_rounds=5, generator=0)
    assert not out.mask.any() and (out.edge_index == -1).all()
    ei = torch.tensor([[0], [1]])
    one = random_edge_negatives(ei, 50, num_nodes=3, exact=False, generator=1)
    assert 0 < int(one.mask.sum()) < 50  # a single round keeps only the valid draws
    with pytest.raises(ValueError, match="sources"):
        random_edge_negatives(ei, 3, num_nodes=3, sources=torch.tensor([0, 1]))


def test_degree_corrected_negatives_match_degrees(gen):
    # a star plus a path: hub degree 10, leaves degree 1-2
    star = torch.stack([torch.zeros(10, dtype=torch.long), torch.arange(1, 11)])
    path = torch.stack([torch.arange(11, 30), torch.arange(12, 31)])
    hubs = torch.stack([torch.full((8,), 31), torch.arange(40, 48)])
    ei = torch.cat([star, path, hubs], 1)
    csr = to_csr(ei, 48, undirected=True)
    deg = (csr.rowptr[1:] - csr.rowptr[:-1]).double()
    out = degree_corrected_negatives(ei, ei, num_nodes=48, rel_tol=0.25, abs_tol=1, generator=gen)
    u, v = out.edge_index
    ok = out.mask
    tol_u = torch.clamp(0.25 * deg[ei[0]], min=1)
    tol_v = torch.clamp(0.25 * deg[ei[1]], min=1)
    assert ((deg[u] - deg[ei[0]]).abs() <= tol_u)[ok].all()
    assert ((deg[v] - deg[ei[1]]).abs() <= tol_v)[ok].all()
    edges = set(map(tuple, csr.to_edge_index().T.tolist()))
    assert all(
        (a, b) not in edges and a != b for a, b in zip(u[ok].tolist(), v[ok].tolist(), strict=True)
    )
    assert ok.float().mean() > 0.8
    with pytest.raises(ValueError, match="positive_edges"):
        degree_corrected_negatives(ei, torch.tensor([[0], [99]]), num_nodes=48)


def test_khop_bad_input(gen):
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    z = torch.randn(5, 3, generator=gen)
    z[2, 0] = float("nan")  # node 2 is in the 2-hop ring of node 0
    with pytest.raises(ValueError, match="embeddings"):
        khop_negatives(z, ei, torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="anchors"):
        khop_negatives(torch.randn(5, 3), ei, torch.tensor([5]), 2)
    with pytest.raises(ValueError, match="k"):
        khop_negatives(torch.randn(5, 3), ei, torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="nodes"):
        khop_negatives(torch.randn(4, 3), to_csr(ei, 5), torch.tensor([0]), 1)


def test_random_edge_negatives_follow_target_probs() -> None:
    n = 10
    ei = torch.tensor([[0], [1]])
    probs = torch.zeros(n)
    probs[[3, 7]] = torch.tensor([1.0, 3.0])
    out = random_edge_negatives(
        ei,
        4000,
        num_nodes=n,
        sources=torch.zeros(4000, dtype=torch.long),
        target_probs=probs,
        generator=0,
    )
    tails = out.edge_index[1][out.mask]
    assert set(tails.tolist()) == {3, 7}
    share = float((tails == 7).float().mean())
    assert 0.7 < share < 0.8  # 3 : 1
    with pytest.raises(ValueError, match="target_probs"):
        random_edge_negatives(ei, 5, num_nodes=n, target_probs=torch.ones(3))
