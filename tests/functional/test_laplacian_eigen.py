"""Smallest Laplacian eigenpairs: closed forms, component counts, dense eigh, every solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastkit.functional.laplacian import laplacian
from contrastkit.functional.laplacian_eigen import laplacian_eigenpairs, laplacian_eigenvalues

# dense_max_nodes=0 forces the iterative path of "auto" even on small test graphs
SOLVERS = [
    pytest.param({"method": "dense"}, id="dense"),
    pytest.param({"method": "lobpcg", "dense_max_nodes": 0}, id="lobpcg"),
    pytest.param({"method": "shift_invert", "dense_max_nodes": 0}, id="shift_invert"),
    pytest.param({"method": "auto", "dense_max_nodes": 0}, id="auto-iterative"),
]


def cycle(n: int, offset: int = 0) -> torch.Tensor:
    a = torch.arange(n)
    return torch.stack([a, (a + 1) % n]) + offset


def path(n: int, offset: int = 0) -> torch.Tensor:
    a = torch.arange(n - 1)
    return torch.stack([a, a + 1]) + offset


@pytest.mark.parametrize("opts", SOLVERS)
def test_cycle_closed_form(opts: dict) -> None:
    n, k = 60, 7
    ref = np.sort(2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(n) / n))[:k]
    vals = laplacian_eigenvalues(cycle(n), k, **opts)
    np.testing.assert_allclose(vals.numpy(), ref, atol=1e-7)


@pytest.mark.parametrize("opts", SOLVERS)
def test_path_closed_form_sym(opts: dict) -> None:
    # unnormalised path: 2 - 2cos(pi k / n); symmetric-normalised: 1 - cos(pi k / (n - 1))
    n, k = 50, 5
    vals = laplacian_eigenvalues(path(n), k, **opts)
    ref = 2.0 - 2.0 * np.cos(np.pi * np.arange(k) / n)
    np.testing.assert_allclose(vals.numpy(), ref, atol=1e-7)
    vals_sym = laplacian_eigenvalues(path(n), k, normalization="sym", **opts)
    np.testing.assert_allclose(
        vals_sym.numpy(), 1.0 - np.cos(np.pi * np.arange(k) / (n - 1)), atol=1e-7
    )


@pytest.mark.parametrize("opts", SOLVERS)
@pytest.mark.parametrize("normalization", ["none", "sym"])
def test_components_give_that_many_zeros(opts: dict, normalization: str) -> None:
    # three cycles, a path and 4 isolated nodes: 8 components
    ei = torch.cat([cycle(30), cycle(25, 30), cycle(20, 55), path(10, 75)], dim=1)
    n = 89
    vals, vecs = laplacian_eigenpairs(ei, 10, n, normalization=normalization, **opts)
    assert (vals[:8].abs() < 1e-8).all()
    assert vals[8] > 1e-3
    lap = laplacian(ei, n, normalization=normalization).to_dense().double()
    torch.testing.assert_close(lap @ vecs, vecs * vals, atol=1e-6, rtol=0)
    torch.testing.assert_close(vecs.T @ vecs, torch.eye(10, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("opts", SOLVERS)
@pytest.mark.parametrize("normalization", ["none", "sym"])
def test_matches_dense_eigh_on_weighted_random_graph(opts: dict, normalization: str) -> None:
    gen = torch.Generator().manual_seed(7)
    n = 120
    ei = torch.cat([path(n), torch.randint(0, n, (2, 200), generator=gen)], dim=1)
    w = torch.rand(ei.shape[1], generator=gen, dtype=torch.float64) + 0.1
    lap = laplacian(ei, n, w, normalization).to_dense()
    ref = np.linalg.eigh(lap.numpy())[0][:6]
    vals, vecs = laplacian_eigenpairs(ei, 6, n, w, normalization=normalization, **opts)
    np.testing.assert_allclose(vals.numpy(), ref, atol=1e-7)
    torch.testing.assert_close(lap @ vecs, vecs * vals, atol=1e-6, rtol=0)


def test_more_pairs_than_iterative_limit_fall_back_to_dense() -> None:
    vals = laplacian_eigenvalues(cycle(12), 12, method="lobpcg", dense_max_nodes=0)
    ref = np.sort(2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(12) / 12))
    np.testing.assert_allclose(vals.numpy(), ref, atol=1e-10)


def test_all_zero_when_k_within_null_space() -> None:
    vals, vecs = laplacian_eigenpairs(torch.zeros(2, 0, dtype=torch.long), 3, 5, dense_max_nodes=0)
    assert vals.tolist() == [0.0, 0.0, 0.0] and vecs.shape == (5, 3)


def test_seeded_and_float64_output() -> None:
    a = laplacian_eigenpairs(cycle(40), 4, method="lobpcg", dense_max_nodes=0, seed=3)
    b = laplacian_eigenpairs(cycle(40), 4, method="lobpcg", dense_max_nodes=0, seed=3)
    assert a[0].dtype == torch.float64
    torch.testing.assert_close(a[0], b[0])
    assert math.isclose(float(a[0][0]), 0.0, abs_tol=1e-12)


def test_bad_inputs() -> None:
    ei = cycle(5)
    with pytest.raises(ValueError, match="k"):
        laplacian_eigenvalues(ei, 6)
    with pytest.raises(ValueError, match="k"):
        laplacian_eigenvalues(ei, 0)
    with pytest.raises(ValueError, match="method"):
        laplacian_eigenvalues(ei, 2, method="arnoldi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalization"):
        laplacian_eigenvalues(ei, 2, normalization="rw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="edge_index"):
        laplacian_eigenvalues(ei, 2, num_nodes=3)
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian_eigenvalues(ei, 2, edge_weight=-torch.ones(5))
    with pytest.raises(ValueError, match="dense_max_nodes"):
        laplacian_eigenvalues(ei, 2, dense_max_nodes=-1)
