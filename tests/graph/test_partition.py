"""partition / edge_cut / imbalance: planted SBM blocks recovered, every node in one part,
brute-force references for the measures, agreement with pymetis, input checks."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.data.sbm import planted_partition
from contrastkit.graph.csr import to_csr
from contrastkit.graph.partition_spectral import DENSE_LIMIT, spectral_embedding
from contrastkit.graph.partitioning import (
    edge_cut,
    imbalance,
    metis_available,
    part_sizes,
    partition,
)

requires_metis = pytest.mark.skipif(
    not metis_available(),
    reason="pymetis is not installed (pip install pymetis, or the 'partition' extra)",
)
METHODS = [pytest.param("metis", marks=requires_metis), "spectral"]


def _cycle(n: int) -> torch.Tensor:
    a = torch.arange(n)
    return torch.stack([a, (a + 1) % n])


def _random_graph(n: int, e: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, n, (2, e), generator=gen)


def _brute_cut(edge_index: torch.Tensor, parts: torch.Tensor) -> int:
    pairs = {(min(u, v), max(u, v)) for u, v in edge_index.t().tolist() if u != v}
    return sum(int(parts[u] != parts[v]) for u, v in pairs)


# ---- the acceptance: an SBM of 8 planted blocks of 2,000 nodes -------------------------
@pytest.fixture(scope="module")
def sbm():
    # intra degree ~20, inter degree ~2.8: the planted blocks are the natural 8 parts
    return planted_partition(16_000, 8, p_in=0.01, p_out=0.0002, generator=0)


@pytest.mark.parametrize(
    ("method", "max_cut_ratio", "max_imbalance"),
    [pytest.param("metis", 1.1, 1.05, marks=requires_metis), ("spectral", 2.0, 1.10)],
)
def test_sbm_planted_blocks(sbm, method, max_cut_ratio, max_imbalance):
    planted = edge_cut(sbm.edge_index, sbm.y)
    parts = partition(sbm.edge_index, sbm.num_nodes, 8, method=method)
    assert parts.shape == (sbm.num_nodes,) and parts.dtype == torch.int64
    assert edge_cut(sbm.edge_index, parts) <= max_cut_ratio * planted
    assert imbalance(parts, 8) <= max_imbalance
    # an untrained guess (a random balanced split) cuts ~7/8 of all edges
    assert planted < 0.2 * sbm.edge_index.shape[1] / 2


def test_sbm_random_split_fails_the_bar(sbm):
    """The bar is not trivially met: a random balanced assignment cuts far more."""
    gen = torch.Generator().manual_seed(0)
    parts = torch.randperm(sbm.num_nodes, generator=gen) % 8
    assert edge_cut(sbm.edge_index, parts) > 2.0 * edge_cut(sbm.edge_index, sbm.y)


# ---- every node in exactly one part ------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("num_parts", [1, 2, 3, 5, 8])
def test_every_node_in_exactly_one_part(method, num_parts):
    n = 300
    ei = _random_graph(n, 1200, seed=num_parts)
    parts = partition(ei, n, num_parts, method=method)
    assert parts.shape == (n,)
    assert int(parts.min()) >= 0 and int(parts.max()) < num_parts
    assert int(part_sizes(parts, num_parts).sum()) == n


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 120),
    density=st.floats(0.0, 4.0),
    num_parts=st.integers(1, 9),
    seed=st.integers(0, 10),
)
def test_spectral_sizes_differ_by_at_most_one(n, density, num_parts, seed):
    """Recursive proportional bisection: any P (not only powers of two), exact balance,
    also on graphs with isolated nodes, no edges, several components."""
    num_parts = min(num_parts, n)
    ei = _random_graph(n, int(density * n), seed)
    parts = partition(ei, n, num_parts, method="spectral", seed=seed)
    sizes = part_sizes(parts, num_parts)
    assert int(sizes.sum()) == n
    assert int(sizes.min()) >= n // num_parts and int(sizes.max()) <= -(-n // num_parts)


@pytest.mark.parametrize("method", METHODS)
def test_cycle_is_cut_into_arcs(method):
    """A cycle of 64 nodes into 4 parts: the best balanced cut is 4 (four arcs)."""
    parts = partition(_cycle(64), 64, 4, method=method)
    assert edge_cut(_cycle(64), parts) == 4
    assert imbalance(parts, 4) <= 1.05


def test_spectral_bisection_is_optimal_on_a_barbell():
    """Two 6-cliques joined by a path of two edges: brute force over all balanced
    bisections of the 13 nodes (6/7) says 1; spectral finds it."""
    clique = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    edges = clique + [(i + 7, j + 7) for i, j in clique] + [(5, 6), (6, 7)]
    ei = torch.tensor(edges).t()
    best = min(
        _brute_cut(ei, torch.tensor([int(v in left) for v in range(13)]))
        for left in itertools.combinations(range(13), 6)
    )
    parts = partition(ei, 13, 2, method="spectral")
    assert best == 1 and edge_cut(ei, parts) == best


def test_spectral_embedding_matches_dense_eigh():
    """The Lanczos path (above DENSE_LIMIT nodes) finds the dense Fiedler vector."""
    n = DENSE_LIMIT + 144
    ei = torch.cat([_random_graph(n, 3 * n, seed=3), _cycle(n)], dim=1)
    csr = to_csr(ei, n, undirected=True, remove_self_loops=True)
    src, dst = csr.row(), csr.col
    emb = spectral_embedding(src, dst, n, 2)  # eigsh
    adj = np.zeros((n, n))
    adj[src.numpy(), dst.numpy()] = 1.0
    inv = 1.0 / np.sqrt(adj.sum(1))
    vals, vecs = np.linalg.eigh(np.eye(n) + inv[:, None] * adj * inv[None, :])
    assert vals[-2] < vals[-1] - 1e-3 and vals[-3] < vals[-2] - 1e-3  # a simple eigenvalue
    ref = inv * vecs[:, -2]
    cos = abs(ref @ emb[:, 1]) / (np.linalg.norm(ref) * np.linalg.norm(emb[:, 1]))
    assert cos > 1 - 1e-6


def test_path_bisects_into_halves():
    """A path of 400 nodes (Lanczos): the Fiedler vector is monotone, the cut 1."""
    a = torch.arange(399)
    ei = torch.stack([a, a + 1])
    parts = partition(ei, 400, 2, method="spectral")
    assert edge_cut(ei, parts) == 1 and imbalance(parts, 2) == 1.0


# ---- METIS ---------------------------------------------------------------------
@requires_metis
def test_metis_equals_pymetis_directly():
    """Our wrapper hands pymetis the symmetric CSR without self-loops; the result is
    pymetis' own membership."""
    import pymetis

    n = 500
    ei = _random_graph(n, 3000, seed=1)
    ours = partition(ei, n, 6, method="metis", seed=3)
    csr = to_csr(ei, n, undirected=True, remove_self_loops=True)
    adjacency = [csr.col[csr.rowptr[i] : csr.rowptr[i + 1]].tolist() for i in range(n)]
    cut, ref = pymetis.part_graph(6, adjacency=adjacency, options=pymetis.Options(seed=3))
    assert ours.tolist() == list(ref)
    assert edge_cut(ei, ours) == cut


@requires_metis
def test_metis_is_seeded():
    ei = _random_graph(400, 2000, seed=2)
    first = partition(ei, 400, 5, method="metis", seed=7)
    assert torch.equal(first, partition(ei, 400, 5, method="metis", seed=7))


def test_metis_missing_is_an_import_error_and_auto_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymetis", None)  # import pymetis raises ImportError
    monkeypatch.setattr("contrastkit.graph.partitioning.metis_available", lambda: False)
    ei = _random_graph(100, 400, seed=0)
    with pytest.raises(ImportError, match="pip install pymetis"):
        partition(ei, 100, 4, method="metis")
    auto = partition(ei, 100, 4, method="auto")
    assert torch.equal(auto, partition(ei, 100, 4, method="spectral"))


def test_direction_duplicates_and_self_loops_do_not_matter():
    ei = _random_graph(200, 800, seed=5)
    loops = torch.arange(200).repeat(2, 1)
    noisy = torch.cat([ei, ei.flip(0), ei, loops], dim=1)
    for method in ["spectral"] + (["metis"] if metis_available() else []):
        assert torch.equal(partition(ei, 200, 4, method=method), partition(noisy, 200, 4, method))


# ---- the measures -------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), e=st.integers(0, 120), p=st.integers(1, 5), seed=st.integers(0, 99))
def test_edge_cut_and_imbalance_match_brute_force(n, e, p, seed):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=gen)
    parts = torch.randint(0, p, (n,), generator=gen)
    assert edge_cut(ei, parts) == _brute_cut(ei, parts)
    counts = [sum(1 for q in parts.tolist() if q == k) for k in range(p)]
    assert imbalance(parts, p) == pytest.approx(max(counts) * p / n)


# ---- input checks ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_parts": 0}, ValueError, "num_parts"),
        ({"num_parts": 11}, ValueError, "num_parts must be <= num_nodes \\(10\\), got 11"),
        ({"num_nodes": 0}, ValueError, "num_nodes"),
        ({"method": "kmeans"}, ValueError, "method.*kmeans"),
        ({"seed": -1}, ValueError, "seed"),
        ({"edge_index": torch.tensor([[0, 10], [1, 2]])}, ValueError, "edge_index"),
        ({"edge_index": torch.tensor([[0.0], [1.0]])}, TypeError, "edge_index"),
        ({"edge_index": torch.tensor([0, 1])}, ValueError, "edge_index"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {"edge_index": _cycle(10), "num_nodes": 10, "num_parts": 2, "method": "spectral"}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        partition(**args)


def test_measures_check_parts():
    with pytest.raises(ValueError, match="parts"):
        imbalance(torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match="parts"):
        part_sizes(torch.tensor([0, 3]), 2)
    with pytest.raises(ValueError, match="edge_index"):
        edge_cut(torch.tensor([[0], [5]]), torch.tensor([0, 1]))
    assert imbalance(torch.tensor([0, 0, 1, 1]), 3) == pytest.approx(1.5)  # empty part 2


@pytest.mark.parametrize("shape", ["empty", "star", "cliques"])
def test_spectral_degenerate_graphs_on_the_lanczos_path(shape):
    """Above DENSE_LIMIT nodes: no edges (every eigenvalue equal), a star, and two
    300-cliques among 400 isolated nodes: still exact balance, and the optimal cut
    (the star: 800 leaves away from the centre; the cliques: 200 x 100 each)."""
    n = 1000
    if shape == "empty":
        ei, best = torch.zeros(2, 0, dtype=torch.int64), 0
    elif shape == "star":
        ei, best = torch.stack([torch.zeros(n - 1, dtype=torch.int64), torch.arange(1, n)]), 800
    else:
        a, b = torch.combinations(torch.arange(300)), torch.combinations(torch.arange(300, 600))
        ei, best = torch.cat([a, b]).t(), 40_000
    parts = partition(ei, n, 5, method="spectral")
    assert part_sizes(parts, 5).tolist() == [200] * 5
    assert edge_cut(ei, parts) == best
