"""Neighbour sampling: property tests against the graph, determinism, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.graph.sampling import neighbor_sample, sample_neighbors, sampling_csr


def random_graph(n: int, e: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n, (2, e), generator=g)


def in_neighbours(ei: torch.Tensor) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for s, d in ei.t().tolist():
        out.setdefault(d, set()).add(s)
    return out


graphs = st.tuples(
    st.integers(1, 40), st.integers(0, 200), st.integers(0, 10_000), st.integers(0, 10_000)
)


@settings(max_examples=60, deadline=None)
@given(graph=graphs, fanout=st.integers(-1, 6))
def test_one_hop_properties(graph, fanout: int) -> None:
    n, e, gseed, sseed = graph
    ei = random_graph(n, e, gseed)
    nbrs = in_neighbours(ei)
    csr = sampling_csr(ei, n)
    nodes = torch.randperm(n, generator=torch.Generator().manual_seed(sseed))[: max(1, n // 2)]
    owner, nbr = sample_neighbors(csr, nodes, fanout, generator=sseed)
    for pos, node in enumerate(nodes.tolist()):
        got = nbr[owner == pos].tolist()
        true = nbrs.get(node, set())
        assert set(got) <= true, "sampled a non-neighbour"
        assert len(got) == len(set(got)), "duplicate neighbour"
        want = len(true) if fanout < 0 else min(fanout, len(true))
        assert len(got) == want, "fan-out not respected"
    again = sample_neighbors(csr, nodes, fanout, generator=sseed)
    assert torch.equal(again[0], owner) and torch.equal(again[1], nbr)


def test_uniform_marginals() -> None:
    # A node with 6 neighbours and fan-out 2: each neighbour kept with probability 1/3.
    ei = torch.stack([torch.arange(1, 7), torch.zeros(6, dtype=torch.int64)])
    csr = sampling_csr(ei, 7)
    gen = torch.Generator().manual_seed(0)
    hits = torch.zeros(7)
    pairs = torch.zeros(7, 7)
    trials = 3000
    nodes = torch.zeros(trials, dtype=torch.int64)  # many copies of node 0 in one call
    _, nbr = sample_neighbors(csr, nodes, 2, generator=gen)
    hits.index_add_(0, nbr, torch.ones(nbr.numel()))
    a, b = nbr.view(trials, 2).t()
    pairs.index_put_(
        (torch.minimum(a, b), torch.maximum(a, b)), torch.ones(trials), accumulate=True
    )
    assert torch.allclose(hits[1:] / trials, torch.full((6,), 1 / 3), atol=0.04)
    upper = pairs[1:, 1:].triu(1)
    assert torch.allclose(upper[upper > 0] / trials, torch.full((15,), 1 / 15), atol=0.025)
    assert int((upper > 0).sum()) == 15


@pytest.mark.parametrize("fanout", [3, 40])  # Floyd slots / random-key sort (> 32)
def test_large_degree_paths(fanout: int) -> None:
    # Node 0 has 80 in-neighbours: both sampling paths give distinct true neighbours with
    # equal marginals fanout / 80.
    ei = torch.stack([torch.arange(1, 81), torch.zeros(80, dtype=torch.int64)])
    csr = sampling_csr(ei, 81)
    trials = 400
    owner, nbr = sample_neighbors(csr, torch.zeros(trials, dtype=torch.int64), fanout, 1)
    assert nbr.numel() == trials * fanout
    rows = nbr.view(trials, fanout)
    assert bool((rows >= 1).all()) and bool((rows <= 80).all())
    assert all(len(set(r)) == fanout for r in rows.tolist())
    assert torch.equal(owner, torch.arange(trials).repeat_interleave(fanout))
    freq = torch.bincount(nbr, minlength=81)[1:].double() / trials
    sd = (fanout / 80 * (1 - fanout / 80) / trials) ** 0.5
    assert float((freq - fanout / 80).abs().max()) < 5 * sd


def test_mixed_degrees_in_one_call() -> None:
    # Node 0: 100 in-neighbours (compare path), node 1: 20 (bitmask path), node 2: 2 (whole).
    src = torch.cat([torch.arange(3, 103), torch.arange(3, 23), torch.tensor([5, 6])])
    dst = torch.cat([torch.zeros(100), torch.ones(20), torch.full((2,), 2)]).long()
    csr = sampling_csr(torch.stack([src, dst]), 103)
    nodes = torch.tensor([0, 1, 2]).repeat(300)
    owner, nbr = sample_neighbors(csr, nodes, 5, generator=7)
    which = nodes[owner]
    for node, lo, hi, want in ((0, 3, 102, 5), (1, 3, 22, 5), (2, 5, 6, 2)):
        rows = nbr[which == node].view(300, want)
        assert bool(((rows >= lo) & (rows <= hi)).all())
        assert all(len(set(r)) == want for r in rows.tolist())
    freq = torch.bincount(nbr[which == 1], minlength=23)[3:23].double() / 300
    assert float((freq - 0.25).abs().max()) < 5 * (0.25 * 0.75 / 300) ** 0.5


@settings(max_examples=40, deadline=None)
@given(graph=graphs, fanouts=st.lists(st.integers(-1, 4), min_size=1, max_size=3))
def test_multi_hop_subgraph_properties(graph, fanouts: list[int]) -> None:
    n, e, gseed, sseed = graph
    ei = random_graph(n, e, gseed)
    nbrs = in_neighbours(ei)
    csr = sampling_csr(ei, n)
    seeds = torch.randperm(n, generator=torch.Generator().manual_seed(sseed))[: max(1, n // 3)]
    sub = neighbor_sample(csr, seeds, fanouts, generator=sseed)
    b = seeds.numel()
    assert torch.equal(sub.n_id[:b], seeds) and sub.batch_size == b
    assert torch.unique(sub.n_id).numel() == sub.n_id.numel()
    assert sum(sub.num_sampled_nodes) == sub.n_id.numel()
    assert sum(sub.num_sampled_edges) == sub.edge_index.shape[1]
    assert len(sub.num_sampled_nodes) == len(fanouts) + 1
    glob = sub.global_edge_index()
    for s, d in glob.t().tolist():
        assert s in nbrs.get(d, set()), "edge not in the graph"
    keys = glob[0] * n + glob[1]
    assert torch.unique(keys).numel() == keys.numel(), "duplicate edge"
    # Edges come hop by hop; within a hop each target has at most fan-out sources, and the
    # targets of hop h are exactly the nodes new at hop h - 1.
    start_e, start_n = 0, 0
    for hop, fan in enumerate(fanouts):
        count = sub.num_sampled_edges[hop]
        dst = sub.edge_index[1, start_e : start_e + count]
        width = sub.num_sampled_nodes[hop]
        assert bool(((dst >= start_n) & (dst < start_n + width)).all())
        if fan >= 0 and count:
            assert int(torch.bincount(dst).max()) <= fan
        start_e += count
        start_n += width
    again = neighbor_sample(csr, seeds, fanouts, generator=sseed)
    assert torch.equal(again.n_id, sub.n_id) and torch.equal(again.edge_index, sub.edge_index)


def test_hop_structure_matches_bfs() -> None:
    # With fan-out -1 the sampled nodes are exactly the BFS layers over in-edges.
    ei = random_graph(60, 150, 3)
    nbrs = in_neighbours(ei)
    seeds = torch.tensor([0, 5, 9])
    sub = neighbor_sample(sampling_csr(ei, 60), seeds, [-1, -1])
    seen = set(seeds.tolist())
    frontier = set(seen)
    start = 3
    for hop in (1, 2):
        reach = set().union(*(nbrs.get(v, set()) for v in frontier)) - seen
        count = sub.num_sampled_nodes[hop]
        assert set(sub.n_id[start : start + count].tolist()) == reach
        start += count
        seen |= reach
        frontier = reach


def test_different_seed_differs() -> None:
    ei = random_graph(200, 3000, 0)
    csr = sampling_csr(ei, 200)
    a = neighbor_sample(csr, torch.arange(20), [3, 3], generator=0)
    b = neighbor_sample(csr, torch.arange(20), [3, 3], generator=1)
    assert not torch.equal(a.global_edge_index(), b.global_edge_index())


def test_bad_input() -> None:
    csr = sampling_csr(torch.tensor([[0, 1], [1, 2]]), 3)
    with pytest.raises(ValueError, match="fanout"):
        sample_neighbors(csr, torch.tensor([0]), -2)
    with pytest.raises(ValueError, match="nodes"):
        sample_neighbors(csr, torch.tensor([3]), 2)
    with pytest.raises(ValueError, match="seeds"):
        neighbor_sample(csr, torch.tensor([-1]), [2])
    with pytest.raises(ValueError, match="distinct"):
        neighbor_sample(csr, torch.tensor([1, 1]), [2])
    with pytest.raises(ValueError, match="fanouts"):
        neighbor_sample(csr, torch.tensor([1]), [])
    with pytest.raises(TypeError, match="generator"):
        neighbor_sample(csr, torch.tensor([1]), [1], generator="0")  # type: ignore[arg-type]
    empty = sampling_csr(torch.zeros((2, 0), dtype=torch.int64), 0)
    with pytest.raises(ValueError, match="seeds"):
        neighbor_sample(empty, torch.tensor([0]), [2])


def test_isolated_seeds_and_empty_edges() -> None:
    csr = sampling_csr(torch.zeros((2, 0), dtype=torch.int64), 4)
    sub = neighbor_sample(csr, torch.tensor([2, 0]), [3, 3])
    assert sub.n_id.tolist() == [2, 0] and sub.edge_index.shape == (2, 0)
