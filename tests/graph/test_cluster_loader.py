"""ClusterData / ClusterLoader / rank_clusters: kept edges exactly the intra-batch ones
(brute force), agreement with PyG's ClusterLoader on the same clusters, epochs, resume,
per-rank clusters disjoint and covering."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.graph.cluster_loader import ClusterData, ClusterLoader, rank_clusters
from contrastkit.graph.partitioning import metis_available


def _graph(n: int, e: int, p: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    # directed, with duplicates and self-loops: the loader keeps edges as given
    return torch.randint(0, n, (2, e), generator=gen), torch.randint(0, p, (n,), generator=gen)


def _reference(ei: torch.Tensor, parts: torch.Tensor, clusters: list[int]):
    """Brute force over every edge and node: the batch's nodes (cluster by cluster,
    ascending within), its kept edge ids and the share of incoming edges kept."""
    nodes = [v for c in clusters for v in range(parts.numel()) if int(parts[v]) == c]
    inside = set(nodes)
    edges = ei.t().tolist()
    # grouped by the source's cluster in the batch's order, input order within
    kept = [k for c in clusters for k, (u, v) in enumerate(edges) if parts[u] == c and v in inside]
    incoming = sum(1 for _, v in ei.t().tolist() if v in inside)
    return nodes, kept, (len(kept) / incoming if incoming else 1.0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    e=st.integers(0, 150),
    p=st.integers(1, 6),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_kept_edges_are_exactly_the_intra_batch_edges(n, e, p, seed, data):
    ei, parts = _graph(n, e, p, seed)
    clusters = data.draw(st.lists(st.integers(0, p - 1), min_size=1, max_size=p, unique=True))
    batch = ClusterData(ei, n, p, parts=parts).batch(torch.tensor(clusters))
    nodes, kept, share = _reference(ei, parts, clusters)
    assert batch.n_id.tolist() == nodes
    assert batch.e_id.tolist() == kept
    # local ids point back at the very same input edges
    assert torch.equal(batch.global_edge_index(), ei[:, batch.e_id])
    assert batch.edge_index.numel() == 0 or int(batch.edge_index.max()) < len(nodes)
    assert batch.edge_share == pytest.approx(share)
    assert batch.clusters.tolist() == clusters


def test_edges_between_clusters_of_one_batch_are_kept():
    # two clusters {0, 1}, {2, 3} joined by 1 -> 2; a third {4} joined by 3 -> 4
    ei = torch.tensor([[0, 2, 1, 3], [1, 3, 2, 4]])
    data = ClusterData(ei, 5, parts=torch.tensor([0, 0, 1, 1, 2]))
    alone = data.batch(torch.tensor([0]))
    both = data.batch(torch.tensor([1, 0]))
    assert alone.global_edge_index().t().tolist() == [[0, 1]]
    assert both.n_id.tolist() == [2, 3, 0, 1]
    assert both.global_edge_index().t().tolist() == [[2, 3], [0, 1], [1, 2]]
    assert both.edge_share == pytest.approx(3 / 3)
    assert data.batch(torch.tensor([1])).edge_share == pytest.approx(1 / 2)
    assert data.intra_share == pytest.approx(2 / 4)


def test_features_and_labels_follow_the_nodes():
    ei, parts = _graph(30, 90, 4, seed=1)
    x, y = torch.randn(30, 3), torch.arange(30) * 10
    batch = ClusterData(ei, 30, parts=parts, x=x, y=y).batch(torch.tensor([2, 0]))
    assert torch.equal(batch.x, x[batch.n_id]) and torch.equal(batch.y, y[batch.n_id])


def test_agrees_with_pyg_cluster_loader():
    """PyG's ClusterLoader on the same clusters (its METIS call replaced by our
    assignment: pyg-lib is not installable here) keeps the same nodes and edges."""
    pyg_loader = pytest.importorskip("torch_geometric.loader")
    from torch_geometric.data import Data

    n, p = 60, 6
    ei, parts = _graph(n, 400, p, seed=2)
    with mock.patch.object(pyg_loader.ClusterData, "_metis", lambda self, e, k: parts):
        ref_data = pyg_loader.ClusterData(
            Data(edge_index=ei, num_nodes=n, nid=torch.arange(n)), p, log=False
        )
    ref_loader = pyg_loader.ClusterLoader(ref_data, batch_size=3)
    ours = ClusterData(ei, n, parts=parts)
    for clusters in ([4, 1, 0], [2], [5, 3]):
        ref = ref_loader._collate(clusters)
        batch = ours.batch(torch.tensor(clusters))
        assert sorted(batch.n_id.tolist()) == sorted(ref.nid.tolist())
        ref_edges = sorted(map(tuple, ref.nid[ref.edge_index].t().tolist()))
        assert sorted(map(tuple, batch.global_edge_index().t().tolist())) == ref_edges


# ---- the loader ------------------------------------------------------------------------
def test_an_epoch_visits_every_cluster_once_in_groups():
    ei, parts = _graph(50, 200, 7, seed=3)
    data = ClusterData(ei, 50, parts=parts)
    loader = ClusterLoader(data, clusters_per_batch=3, seed=4)
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    assert [b.clusters.numel() for b in batches] == [3, 3, 1]
    seen = torch.cat([b.clusters for b in batches])
    assert sorted(seen.tolist()) == list(range(7))
    assert sorted(torch.cat([b.n_id for b in batches]).tolist()) == list(range(50))
    dropped = ClusterLoader(data, clusters_per_batch=3, drop_last=True)
    assert [b.clusters.numel() for b in dropped] == [3, 3]


def test_shuffle_is_seeded_per_epoch_and_resumes():
    ei, parts = _graph(50, 200, 8, seed=5)
    data = ClusterData(ei, 50, parts=parts)
    loader = ClusterLoader(data, clusters_per_batch=2, seed=9)
    first = [b.clusters.tolist() for b in loader]
    state = loader.state_dict()
    second = [b.clusters.tolist() for b in loader]
    assert first != second  # a new shuffle each epoch
    again = ClusterLoader(data, clusters_per_batch=2, seed=0)
    again.load_state_dict(state)
    assert [b.clusters.tolist() for b in again] == second
    fixed = ClusterLoader(data, clusters_per_batch=2, shuffle=False)
    assert [b.clusters.tolist() for b in fixed] == [[0, 1], [2, 3], [4, 5], [6, 7]]


@pytest.mark.parametrize("method", ["spectral", "metis"])
def test_partitions_when_no_parts_are_given(method):
    if method == "metis" and not metis_available():
        pytest.skip("pymetis is not installed (pip install pymetis, or the 'partition' extra)")
    a = torch.arange(40)
    ei = torch.stack([a, (a + 1) % 40])
    ei = torch.cat([ei, ei.flip(0)], dim=1)  # a cycle: 4 arcs, 8 of 80 edges cut
    data = ClusterData(ei, 40, 4, method=method)
    assert data.sizes.tolist() == [10, 10, 10, 10]
    assert data.intra_share == pytest.approx(72 / 80)


# ---- per-rank clusters -------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(st.integers(0, 50), min_size=1, max_size=40), world=st.integers(1, 8))
def test_rank_clusters_are_disjoint_and_cover(sizes, world):
    world = min(world, len(sizes))
    sizes_t = torch.tensor(sizes)
    owned = [rank_clusters(sizes_t, r, world) for r in range(world)]
    assert sorted(torch.cat(owned).tolist()) == list(range(len(sizes)))  # each exactly once
    counts = [o.numel() for o in owned]
    assert max(counts) - min(counts) <= 1
    nodes = [int(sizes_t[o].sum()) for o in owned]
    # snake dealing: the ranks' node counts differ by at most the largest cluster
    assert max(nodes) - min(nodes) <= max(sizes)


def test_rank_loaders_split_an_epoch():
    ei, parts = _graph(80, 300, 8, seed=6)
    data = ClusterData(ei, 80, parts=parts)
    loaders = [
        ClusterLoader(data, 2, clusters=rank_clusters(data.sizes, r, 2), seed=1) for r in (0, 1)
    ]
    assert len(loaders[0]) == len(loaders[1]) == 2  # equal steps per rank
    seen = [set(torch.cat([b.n_id for b in loader]).tolist()) for loader in loaders]
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(80))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: rank_clusters(torch.tensor([3, 2]), 2, 2), ValueError, "rank must be < "),
        (lambda: rank_clusters(torch.tensor([3, 2]), 0, 3), ValueError, "world_size"),
        (lambda: rank_clusters(torch.tensor([3, 2]), -1, 2), ValueError, "rank"),
        (lambda: ClusterData(torch.tensor([[0], [1]]), 2), ValueError, "num_parts or parts"),
        (
            lambda: ClusterData(torch.tensor([[0], [1]]), 2, parts=torch.tensor([0])),
            ValueError,
            "parts",
        ),
        (
            lambda: ClusterData(torch.tensor([[0], [1]]), 2, parts=torch.tensor([0, 1])).batch(
                torch.tensor([1, 1])
            ),
            ValueError,
            "clusters must be distinct",
        ),
        (
            lambda: ClusterData(torch.tensor([[0], [1]]), 2, parts=torch.tensor([0, 1])).batch(
                torch.tensor([2])
            ),
            ValueError,
            "clusters",
        ),
        (
            lambda: ClusterLoader(
                ClusterData(torch.tensor([[0], [1]]), 2, parts=torch.tensor([0, 1])), 0
            ),
            ValueError,
            "clusters_per_batch",
        ),
        (lambda: ClusterLoader("graph", 1), TypeError, "ClusterData"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_bad_state_is_refused_and_leaves_the_loader_as_it_was():
    ei, parts = _graph(30, 100, 4, seed=6)
    loader = ClusterLoader(ClusterData(ei, 30, parts=parts), clusters_per_batch=2, seed=9)
    list(loader)
    with pytest.raises(TypeError, match="state must be a mapping, got list"):
        loader.load_state_dict([1, 9])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing keys \['seed'\] \(ClusterLoader"):
        loader.load_state_dict({"epoch": 3})
    with pytest.raises((TypeError, ValueError), match=r"state\['seed'\]"):
        loader.load_state_dict({"epoch": 3, "seed": "nine"})
    assert loader.state_dict() == {"epoch": 1, "seed": 9}  # the epoch was not taken alone
