"""Laplacian construction: dense loop references, PyG and networkx agreement, edge conventions."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.functional.laplacian import (
    edge_degree,
    inv_sqrt_degree,
    laplacian,
    undirected_edges,
)


def dense_weights(
    edges: list[tuple[int, int]], weights: list[float], n: int, dup: str
) -> torch.Tensor:
    """Reference W by a loop: unordered pairs, self-loops dropped, duplicates merged by ``dup``."""
    groups: dict[tuple[int, int], list[float]] = {}
    for (i, j), w in zip(edges, weights, strict=True):
        if i != j:
            groups.setdefault((min(i, j), max(i, j)), []).append(w)
    mat = torch.zeros(n, n, dtype=torch.float64)
    for (i, j), ws in groups.items():
        merged = {"max": max(ws), "mean": sum(ws) / len(ws), "keep": sum(ws)}[dup]
        mat[i, j] += merged
        mat[j, i] += merged
    return mat


def dense_laplacian(w: torch.Tensor, normalization: str) -> torch.Tensor:
    deg = w.sum(1)
    if normalization == "none":
        return torch.diag(deg) - w
    lap = torch.zeros_like(w)
    for i in range(w.shape[0]):
        for j in range(w.shape[0]):
            if deg[i] > 0 and deg[j] > 0:
                lap[i, j] = (1.0 if i == j else 0.0) - w[i, j] / math.sqrt(deg[i] * deg[j])
    return lap


def random_graph(
    gen: torch.Generator, n: int = 9, e: int = 25
) -> tuple[torch.Tensor, torch.Tensor]:
    ei = torch.randint(0, n, (2, e), generator=gen)
    w = torch.rand(e, generator=gen, dtype=torch.float64) + 0.1
    return ei, w


@pytest.mark.parametrize("normalization", ["none", "sym"])
@pytest.mark.parametrize("dup", ["max", "mean", "keep"])
def test_matches_dense_loop(gen: torch.Generator, normalization: str, dup: str) -> None:
    n = 11  # ids drawn from [0, 9): nodes 9 and 10 are isolated
    ei, w = random_graph(gen)
    lap = laplacian(ei, n, w, normalization, dup).to_dense()
    ref = dense_laplacian(dense_weights(ei.T.tolist(), w.tolist(), n, dup), normalization)
    torch.testing.assert_close(lap, ref)
    assert torch.allclose(lap, lap.T)
    assert torch.linalg.eigvalsh(lap).min() > -1e-10


def test_both_directions_count_once_under_max_and_twice_under_keep() -> None:
    one = torch.tensor([[0, 1], [1, 2]])
    both = torch.cat([one, one.flip(0)], dim=1)
    ref = laplacian(one, 3).to_dense()
    torch.testing.assert_close(laplacian(both, 3).to_dense(), ref)
    torch.testing.assert_close(laplacian(both, 3, duplicates="keep").to_dense(), 2 * ref)


def test_undirected_edges_canonical_sorted_and_differentiable() -> None:
    ei = torch.tensor([[2, 0, 1, 3, 3], [0, 2, 1, 1, 1]])
    w = torch.tensor([1.0, 3.0, 5.0, 2.0, 4.0], dtype=torch.float64, requires_grad=True)
    out, merged = undirected_edges(ei, w, 4, "mean")
    assert out.tolist() == [[0, 1], [2, 3]]  # self-loop (1, 1) dropped
    torch.testing.assert_close(merged, torch.tensor([2.0, 3.0], dtype=torch.float64))
    merged.sum().backward()
    assert w.grad is not None
    torch.testing.assert_close(w.grad, torch.tensor([0.5, 0.5, 0.0, 0.5, 0.5], dtype=torch.float64))
    _, merged_max = undirected_edges(ei, w, 4, "max")
    assert merged_max.tolist() == [3.0, 4.0]


def test_isolated_nodes_have_zero_rows_and_no_nan() -> None:
    ei = torch.tensor([[0], [1]])
    w = torch.tensor([0.0])  # a zero-weight edge makes its endpoints isolated too
    for normalization in ("none", "sym"):
        lap = laplacian(ei, 4, w, normalization).to_dense()
        assert torch.isfinite(lap).all() and not lap.any()
    deg = torch.tensor([0.0, 4.0], requires_grad=True)
    inv = inv_sqrt_degree(deg)
    inv.sum().backward()
    assert inv.tolist() == [0.0, 0.5] and deg.grad is not None and torch.isfinite(deg.grad).all()


def test_edge_degree_counts_both_endpoints() -> None:
    ei = torch.tensor([[0, 0], [1, 2]])
    assert edge_degree(ei, torch.tensor([1.0, 2.0]), 4).tolist() == [3.0, 1.0, 2.0, 0.0]


def test_empty_graph_and_inferred_size() -> None:
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert laplacian(empty, 3).to_dense().abs().sum() == 0
    assert laplacian(empty).shape == (0, 0)
    assert laplacian(torch.tensor([[0], [4]])).shape == (5, 5)


@pytest.mark.parametrize("normalization", ["none", "sym"])
def test_agrees_with_pyg_get_laplacian(gen: torch.Generator, normalization: str) -> None:
    utils = pytest.importorskip("torch_geometric.utils")
    n = 8
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])  # no isolated nodes
    extra = torch.randint(0, n, (2, 10), generator=gen)
    ei = utils.coalesce(utils.to_undirected(torch.cat([ring, extra], 1)))
    ei, _ = utils.remove_self_loops(ei)
    w = torch.rand(ei.shape[1], generator=gen, dtype=torch.float64) + 0.5
    ei, w = utils.to_undirected(ei, w, reduce="max")  # symmetric weights
    idx, val = utils.get_laplacian(ei, w, normalization=None if normalization == "none" else "sym")
    ref = torch.zeros(n, n, dtype=torch.float64).index_put_((idx[0], idx[1]), val, accumulate=True)
    torch.testing.assert_close(laplacian(ei, n, w, normalization).to_dense(), ref)


def test_isolated_node_convention_differs_from_pyg_only_on_that_diagonal() -> None:
    utils = pytest.importorskip("torch_geometric.utils")
    ei = torch.tensor([[0, 1], [1, 0]])
    idx, val = utils.get_laplacian(ei, normalization="sym", num_nodes=3)
    ref = torch.zeros(3, 3).index_put_((idx[0], idx[1]), val, accumulate=True)
    ours = laplacian(ei, 3, normalization="sym").to_dense()
    assert ref[2, 2] == 1.0 and ours[2, 2] == 0.0
    ref[2, 2] = 0.0
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("normalization", ["none", "sym"])
def test_agrees_with_networkx_including_isolated(gen: torch.Generator, normalization: str) -> None:
    nx = pytest.importorskip("networkx")
    n = 10
    ei, w = random_graph(gen, n=8)
    (row, col), merged = undirected_edges(ei, w, n)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(row.tolist(), col.tolist(), merged.tolist(), strict=True))
    fn = nx.laplacian_matrix if normalization == "none" else nx.normalized_laplacian_matrix
    ref = torch.tensor(fn(g, nodelist=range(n)).toarray(), dtype=torch.float64)
    torch.testing.assert_close(laplacian(ei, n, w, normalization).to_dense(), ref)


def test_bad_inputs_name_the_argument() -> None:
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="edge_index"):
        laplacian(ei, 2)  # id 2 out of range
    with pytest.raises(ValueError, match="edge_index"):
        laplacian(torch.tensor([[0, -1], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index"):
        laplacian(torch.tensor([0, 1, 2]), 3)
    with pytest.raises(TypeError, match="edge_index"):
        laplacian(ei.float(), 3)
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian(ei, 3, torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian(ei, 3, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian(ei, 3, torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="normalization"):
        laplacian(ei, 3, normalization="rw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicates"):
        laplacian(ei, 3, duplicates="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_nodes"):
        laplacian(torch.zeros(2, 0, dtype=torch.long), -1)
