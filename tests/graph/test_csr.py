"""CSR conversion, degrees, neighbour gathering and edge membership."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.graph.csr import CSR, degrees, gather_neighbors, has_edge, to_csr


def _random_edges(n: int, e: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n, (2, e), generator=g)


def _reference_adj(ei: torch.Tensor, n: int, undirected: bool, no_loops: bool) -> list[list[int]]:
    adj: list[set[int]] = [set() for _ in range(n)]
    for u, v in ei.T.tolist():
        if no_loops and u == v:
            continue
        adj[u].add(v)
        if undirected:
            adj[v].add(u)
    return [sorted(s) for s in adj]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 12),
    e=st.integers(0, 40),
    seed=st.integers(0, 10_000),
    undirected=st.booleans(),
    no_loops=st.booleans(),
)
def test_to_csr_matches_reference(n: int, e: int, seed: int, undirected: bool, no_loops: bool):
    ei = _random_edges(n, e, seed)
    before = ei.clone()
    g = to_csr(ei, n, undirected=undirected, remove_self_loops=no_loops)
    assert torch.equal(ei, before)  # input not mutated
    ref = _reference_adj(ei, n, undirected, no_loops)
    for u in range(n):
        assert g.col[g.rowptr[u] : g.rowptr[u + 1]].tolist() == ref[u]
    assert torch.equal(degrees(g), torch.tensor([len(r) for r in ref]))
    # round trip
    assert torch.equal(to_csr(g.to_edge_index(), n).col, g.col)
    assert bool((g.keys()[1:] > g.keys()[:-1]).all())


def test_num_nodes_default_and_empty():
    g = to_csr(torch.tensor([[0, 3], [1, 2]]))
    assert g.num_nodes == 4 and g.num_edges == 2
    empty = to_csr(torch.empty(2, 0, dtype=torch.long), num_nodes=5)
    assert empty.rowptr.tolist() == [0] * 6 and empty.num_edges == 0
    assert not has_edge(empty, torch.tensor([0]), torch.tensor([1])).any()
    assert to_csr(torch.empty(2, 0, dtype=torch.long)).num_nodes == 0


def test_degrees_directions_from_edge_index_and_csr():
    ei = torch.tensor([[0, 0, 1, 2], [1, 2, 2, 0]])
    assert degrees(ei, 3).tolist() == [2, 1, 1]
    assert degrees(ei, 3, direction="in").tolist() == [1, 1, 2]
    assert degrees(ei, 3, direction="total").tolist() == [3, 2, 3]
    g = to_csr(ei, 3)
    assert degrees(g, direction="in").tolist() == [1, 1, 2]
    assert degrees(g, direction="total").tolist() == [3, 2, 3]


def test_gather_neighbors_and_has_edge():
    ei = _random_edges(20, 60, 3)
    g = to_csr(ei, 20)
    nodes = torch.tensor([5, 0, 5, 19])
    owner, nbr = gather_neighbors(g, nodes)
    for i, u in enumerate(nodes.tolist()):
        assert nbr[owner == i].tolist() == g.col[g.rowptr[u] : g.rowptr[u + 1]].tolist()
    src = torch.randint(0, 20, (200,), generator=torch.Generator().manual_seed(0))
    dst = torch.randint(0, 20, (200,), generator=torch.Generator().manual_seed(1))
    edges = set(map(tuple, ei.T.tolist()))
    expect = [(u, v) in edges for u, v in zip(src.tolist(), dst.tolist(), strict=True)]
    assert has_edge(g, src, dst).tolist() == expect


def test_bad_input():
    with pytest.raises(ValueError, match="edge_index"):
        to_csr(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="edge_index"):
        to_csr(torch.tensor([[0, 5], [1, 2]]), num_nodes=3)
    with pytest.raises(TypeError, match="edge_index"):
        to_csr(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="direction"):
        degrees(torch.tensor([[0], [1]]), direction="sideways")  # type: ignore[arg-type]
    g = to_csr(torch.tensor([[0], [1]]), 2)
    with pytest.raises(ValueError, match="nodes"):
        gather_neighbors(g, torch.tensor([2]))
    assert isinstance(g, CSR)


def test_has_edge_through_the_key_filter_matches_brute_force() -> None:
    from contrastkit.graph.csr import FILTER_MIN_QUERIES

    gen = torch.Generator().manual_seed(3)
    n = 500
    ei = torch.randint(0, n, (2, 20_000), generator=gen)
    csr = to_csr(ei, num_nodes=n)
    q = torch.randint(0, n, (2, 4 * FILTER_MIN_QUERIES), generator=gen)
    q[:, :3000] = ei[:, :3000]  # many true edges among the queries
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[ei[0], ei[1]] = True
    got = has_edge(csr, q[0], q[1])
    assert torch.equal(got, dense[q[0], q[1]])
    assert bool(got[:3000].all())
    # the filter rules out most non-edges: at most 1/32 of its slots are set
    assert float(csr.key_filter.float().mean()) <= 1 / 32


def test_has_edge_broadcasts_a_source_column_against_target_rows() -> None:
    gen = torch.Generator().manual_seed(7)
    n = 300
    ei = torch.randint(0, n, (2, 5_000), generator=gen)
    csr = to_csr(ei, num_nodes=n)
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[ei[0], ei[1]] = True
    src = torch.randint(0, n, (200, 1), generator=gen)
    dst = torch.randint(0, n, (200, 40), generator=gen)  # 8,000 queries: the filter path
    got = has_edge(csr, src, dst)
    assert got.shape == (200, 40)
    assert torch.equal(got, dense[src, dst])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    e=st.integers(0, 300),
    g=st.integers(1, 4),
    m=st.integers(1, 5),
    k=st.integers(0, 8),
    seed=st.integers(0, 10_000),
)
def test_has_edge_grouped_matches_brute_force(
    n: int, e: int, g: int, m: int, k: int, seed: int
) -> None:
    # small k and dense graphs take the has_edge branch, sparse ones the sorted-target
    # search; targets repeat within a group often (n is small)
    from contrastkit.graph.csr import has_edge_grouped

    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=gen)
    csr = to_csr(ei, num_nodes=n)
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[ei[0], ei[1]] = True
    src = torch.randint(0, n, (g, m), generator=gen)
    dst = torch.randint(0, n, (g, k), generator=gen)
    got = has_edge_grouped(csr, src, dst)
    assert got.shape == (g, m, k)
    want = dense[src.unsqueeze(2), dst.unsqueeze(1)]
    assert torch.equal(got, want)
    with_self = has_edge_grouped(csr, src, dst, include_self=True)
    assert torch.equal(with_self, want | (src.unsqueeze(2) == dst.unsqueeze(1)))


def test_has_edge_grouped_searches_the_targets_for_a_hierarchy() -> None:
    from contrastkit.graph.csr import has_edge_grouped

    # children each with 2 ancestors (0, and 1 or 2): the hierarchy case, the
    # sources' degree sum (at most 2 G m) far below G m K
    n = 1000
    child = torch.arange(2, n)
    ei = torch.cat(
        [
            torch.stack([child, torch.zeros_like(child)]),
            torch.stack([child, child % 2 + 1]),
        ],
        1,
    )
    csr = to_csr(ei, num_nodes=n)
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[ei[0], ei[1]] = True
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(0, n, (16, 32), generator=gen)
    dst = torch.randint(0, 3, (16, 50), generator=gen)  # the ancestors, many times over
    got = has_edge_grouped(csr, src, dst)
    assert torch.equal(got, dense[src.unsqueeze(2), dst.unsqueeze(1)])
    assert int(got.sum()) > 1000
    with pytest.raises(ValueError, match="share G"):
        has_edge_grouped(csr, src, dst[:3])
