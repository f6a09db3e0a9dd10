"""Induced subgraphs, the SampledSubgraph container and the mini-batch loader."""

from __future__ import annotations

import pytest
import torch

from contrastkit.graph.loader import NeighborLoader
from contrastkit.graph.subgraph import NodeMap, induced_subgraph


def test_induced_subgraph_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 30, (2, 120), generator=g)
    nodes = torch.randperm(30, generator=g)[:12]
    sub, mask = induced_subgraph(ei, nodes, 30)
    keep = set(nodes.tolist())
    want = [i for i, (a, b) in enumerate(ei.t().tolist()) if a in keep and b in keep]
    assert torch.nonzero(mask).flatten().tolist() == want
    assert torch.equal(nodes[sub], ei[:, mask])
    glob, _ = induced_subgraph(ei, nodes, relabel=False)
    assert torch.equal(glob, ei[:, mask])
    with pytest.raises(ValueError, match="distinct"):
        induced_subgraph(ei, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="edge_index"):
        induced_subgraph(ei, nodes, 10)


@pytest.mark.parametrize("num_nodes", [None, 10])  # sorted / dense table
def test_node_map(num_nodes: int | None) -> None:
    m = NodeMap(torch.tensor([7, 3]), num_nodes)
    assert (m.dense is not None) == (num_nodes is not None)
    assert m.contains(torch.tensor([3, 4, 7])).tolist() == [True, False, True]
    assert m.add(torch.tensor([5, 1])).tolist() == [2, 3]
    assert m(torch.tensor([1, 3, 5, 7])).tolist() == [3, 1, 2, 0]
    assert m(torch.tensor([[1, 3], [5, 7]])).tolist() == [[3, 1], [2, 0]]
    empty = NodeMap(torch.zeros(0, dtype=torch.int64), num_nodes)
    assert not bool(empty.contains(torch.tensor([1])).any())


def ring(n: int) -> torch.Tensor:
    a = torch.arange(n)
    return torch.cat([torch.stack([a, (a + 1) % n]), torch.stack([(a + 1) % n, a])], dim=1)


def test_loader_covers_seeds_and_is_reproducible() -> None:
    x, y = torch.randn(50, 4), torch.arange(50)
    loader = NeighborLoader(ring(50), 50, [2, 2], batch_size=16, x=x, y=y, seed=3)
    assert len(loader) == 4
    state = loader.state_dict()
    batches = list(loader)
    seen = torch.cat([b.n_id[: b.batch_size] for b in batches])
    assert sorted(seen.tolist()) == list(range(50))
    assert [b.batch_size for b in batches] == [16, 16, 16, 2]
    for b in batches:
        assert torch.equal(b.x, x[b.n_id]) and torch.equal(b.y, y[b.n_id])
    second = list(loader)  # next epoch: a new shuffle
    assert not torch.equal(second[0].n_id[:16], batches[0].n_id[:16])
    loader.load_state_dict(state)
    replay = list(loader)
    assert all(torch.equal(a.n_id, b.n_id) for a, b in zip(replay, batches, strict=True))
    assert loader.state_dict() == {"epoch": 1, "seed": 3}


def test_loader_options_and_pyg() -> None:
    loader = NeighborLoader(
        ring(20), 20, [3, 3], seeds=torch.arange(10), batch_size=4, drop_last=True,
        shuffle=False, sampler="layerwise",
    )  # fmt: skip
    batches = list(loader)
    assert len(batches) == 2 and batches[0].n_id[:4].tolist() == [0, 1, 2, 3]
    pytest.importorskip("torch_geometric")
    data = batches[0].to_pyg()
    assert data.batch_size == 4 and data.num_nodes == batches[0].num_nodes
    assert torch.equal(data.n_id, batches[0].n_id)


def test_loader_bad_input() -> None:
    with pytest.raises(ValueError, match="edge_index"):
        NeighborLoader(torch.tensor([[0, 5], [1, 2]]), 3, [2])
    with pytest.raises(ValueError, match="num_nodes"):
        NeighborLoader(torch.zeros((2, 0), dtype=torch.int64), 0, [2])
    with pytest.raises(ValueError, match="x"):
        NeighborLoader(ring(5), 5, [2], x=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="distinct"):
        NeighborLoader(ring(5), 5, [2], seeds=torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="sampler"):
        NeighborLoader(ring(5), 5, [2], sampler="cluster")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fanouts"):
        NeighborLoader(ring(5), 5, [])


def test_sorted_map_gives_same_subgraph(monkeypatch: pytest.MonkeyPatch) -> None:
    # Graphs above DENSE_MAP_LIMIT use the sorted map: same nodes, same order, same edges.
    import contrastkit.graph.subgraph as subgraph_mod
    from contrastkit.graph.layerwise import layerwise_sample
    from contrastkit.graph.sampling import neighbor_sample, sampling_csr

    g = torch.Generator().manual_seed(2)
    ei = torch.randint(0, 200, (2, 1500), generator=g)
    csr = sampling_csr(ei, 200)
    seeds = torch.tensor([5, 17, 3, 150])
    dense = neighbor_sample(csr, seeds, [4, 3], generator=1)
    dense_lw = layerwise_sample(csr, seeds, [20, 20], generator=1)
    monkeypatch.setattr(subgraph_mod, "DENSE_MAP_LIMIT", 0)
    assert NodeMap(seeds, 200).dense is None
    sparse = neighbor_sample(csr, seeds, [4, 3], generator=1)
    sparse_lw = layerwise_sample(csr, seeds, [20, 20], generator=1)
    assert torch.equal(dense.n_id, sparse.n_id)
    assert torch.equal(dense.edge_index, sparse.edge_index)
    assert torch.equal(dense_lw.n_id, sparse_lw.n_id)
    assert torch.equal(dense_lw.edge_index, sparse_lw.edge_index)
