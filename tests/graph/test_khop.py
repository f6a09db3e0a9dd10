"""k-hop rings by vectorised frontier expansion equal networkx BFS rings."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.graph.csr import to_csr
from contrastkit.graph.khop import k_hop_rings

nx = pytest.importorskip("networkx")


def _nx_graph(ei: torch.Tensor, n: int, directed: bool):
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(ei.T.tolist())
    return g


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 25),
    e=st.integers(0, 60),
    k=st.integers(0, 4),
    min_hop=st.integers(0, 3),
    directed=st.booleans(),
    seed=st.integers(0, 10_000),
    chunk=st.sampled_from([None, 1, 3]),
    backend=st.sampled_from(["scipy", "torch"]),
)
def test_rings_equal_networkx_bfs(n, e, k, min_hop, directed, seed, chunk, backend):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=gen)
    anchors = torch.randint(0, n, (7,), generator=gen)
    csr = to_csr(ei, n, undirected=not directed)
    if min_hop > k:  # every ring would be empty: refused as a caller error
        with pytest.raises(ValueError, match="min_hop"):
            k_hop_rings(csr, anchors, k, min_hop=min_hop, chunk_size=chunk, backend=backend)
        return
    rings = k_hop_rings(csr, anchors, k, min_hop=min_hop, chunk_size=chunk, backend=backend)
    g = _nx_graph(ei, n, directed)
    for i, a in enumerate(anchors.tolist()):
        dist = nx.single_source_shortest_path_length(g, a, cutoff=k)
        expect = sorted((h, v) for v, h in dist.items() if min_hop <= h <= k)
        lo, hi = int(rings.ptr[i]), int(rings.ptr[i + 1])
        got = list(zip(rings.hop[lo:hi].tolist(), rings.node[lo:hi].tolist(), strict=True))
        assert got == expect
        assert bool((rings.anchor[lo:hi] == i).all())


def test_padded_form_and_counts():
    path = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    rings = k_hop_rings(to_csr(path, undirected=True), torch.tensor([0, 2, 4]), k=2)
    node, hop, mask = rings.to_padded()
    assert rings.counts().tolist() == [2, 4, 2]
    assert node.tolist() == [[1, 2, -1, -1], [1, 3, 0, 4], [3, 2, -1, -1]]
    assert hop.tolist() == [[1, 2, -1, -1], [1, 1, 2, 2], [1, 2, -1, -1]]
    assert mask.sum().item() == 8


def test_degenerate_cases():
    csr = to_csr(torch.empty(2, 0, dtype=torch.long), num_nodes=4)
    r = k_hop_rings(csr, torch.tensor([0, 3]), 3)
    assert r.node.numel() == 0 and r.ptr.tolist() == [0, 0, 0]
    assert r.to_padded()[0].shape == (2, 0)
    r0 = k_hop_rings(csr, torch.tensor([1]), 0, min_hop=0)
    assert r0.node.tolist() == [1] and r0.hop.tolist() == [0]
    none = k_hop_rings(csr, torch.empty(0, dtype=torch.long), 2)
    assert none.num_anchors == 0


def test_bad_input():
    csr = to_csr(torch.tensor([[0], [1]]), 2)
    with pytest.raises(ValueError, match="anchors"):
        k_hop_rings(csr, torch.tensor([2]), 1)
    with pytest.raises(ValueError, match="k"):
        k_hop_rings(csr, torch.tensor([0]), -1)
    with pytest.raises(ValueError, match="chunk_size"):
        k_hop_rings(csr, torch.tensor([0]), 1, chunk_size=0)
    with pytest.raises(ValueError, match="anchors"):
        k_hop_rings(csr, torch.tensor([[0]]), 1)
