"""2-D projections: PCA against scikit-learn, Poincaré disk, subsampling, UMAP dispatch."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import numpy as np
import pytest
import torch

from contrastkit.report.projection import expmap0, logmap0, pca_2d, project_embedding
from tests.conftest import tol


def test_pca_matches_sklearn(dtype: torch.dtype, gen: torch.Generator) -> None:
    decomposition = pytest.importorskip("sklearn.decomposition")
    x = torch.randn(200, 6, generator=gen, dtype=dtype) * torch.tensor(
        [5.0, 3.0, 1.0, 0.5, 0.2, 0.1], dtype=dtype
    )
    coords, ratio = pca_2d(x)
    ref = decomposition.PCA(n_components=2).fit(x.numpy())
    expected = torch.from_numpy(ref.transform(x.numpy())).to(dtype)
    # Principal axes are defined up to sign.
    torch.testing.assert_close(coords.abs(), expected.abs(), **tol(dtype))
    torch.testing.assert_close(
        ratio, torch.from_numpy(ref.explained_variance_ratio_).to(dtype), **tol(dtype)
    )


def test_pca_sign_is_deterministic(gen: torch.Generator) -> None:
    x = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    a, _ = pca_2d(x)
    b, _ = pca_2d(-x)  # the same cloud mirrored: the fixed sign convention flips coordinates
    torch.testing.assert_close(a, -b)


def test_pca_degenerate_inputs() -> None:
    coords, ratio = pca_2d(torch.arange(5.0, dtype=torch.float64).unsqueeze(1))
    assert coords.shape == (5, 2) and torch.all(coords[:, 1] == 0)
    assert ratio.tolist() == [1.0, 0.0]
    single, r1 = pca_2d(torch.ones(1, 3))
    assert torch.isfinite(single).all() and torch.isfinite(r1).all()
    same, r2 = pca_2d(torch.ones(4, 3))
    assert torch.isfinite(same).all() and torch.isfinite(r2).all()


def test_maps_are_inverse(gen: torch.Generator) -> None:
    x = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    x = 0.9 * x / (1 + x.norm(dim=1, keepdim=True))
    torch.testing.assert_close(expmap0(logmap0(x)), x)
    assert torch.all(expmap0(torch.zeros(2, 3)) == 0)


def test_projection_euclidean_and_subsampling(gen: torch.Generator) -> None:
    z = torch.randn(300, 8, generator=gen)
    z[5] = float("nan")
    p = project_embedding(z, method="pca", max_points=100, seed=3)
    assert p.coords.shape == (100, 2) and p.index.shape == (100,)
    assert 5 not in p.index.tolist() and torch.all(p.index[1:] > p.index[:-1])
    again = project_embedding(z, method="pca", max_points=100, seed=3)
    assert torch.equal(p.index, again.index) and torch.equal(p.coords, again.coords)
    assert p.method == "PCA" and p.explained is not None and not p.in_disk
    full = project_embedding(z, method="pca")
    assert full.coords.shape == (299, 2)
    two_d = project_embedding(z[:, :2], method="auto")
    assert two_d.method.startswith("identity")


def test_projection_poincare_stays_in_disk(gen: torch.Generator) -> None:
    z = torch.randn(100, 10, generator=gen)
    z = 0.95 * z / z.norm(dim=1, keepdim=True)
    p = project_embedding(z, manifold="poincare")
    assert p.in_disk and bool((p.coords.norm(dim=1) < 1).all())
    flat = torch.tensor([[0.3, 0.4], [1.5, 0.0]])
    q = project_embedding(flat, manifold="poincare")
    assert q.in_disk and q.explained is None
    torch.testing.assert_close(q.coords[0], flat[0].double())
    assert float(q.coords[1].norm()) < 1.0


def test_projection_bad_input() -> None:
    with pytest.raises(ValueError, match="method"):
        project_embedding(torch.randn(5, 3), method="tsne")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="manifold"):
        project_embedding(torch.randn(5, 3), manifold="sphere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_points"):
        project_embedding(torch.randn(5, 3), max_points=0)
    with pytest.raises(ValueError, match="z"):
        project_embedding(torch.randn(5))
    with pytest.raises(ValueError, match="finite"):
        project_embedding(torch.full((3, 2), float("nan")))
    with pytest.raises(TypeError, match="z"):
        project_embedding(torch.ones(3, 2, dtype=torch.long))


def test_umap_used_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    class FakeUMAP:
        def __init__(self, n_components: int, n_neighbors: int, random_state: int) -> None:
            calls.append(n_neighbors)

        def fit_transform(self, x: np.ndarray) -> np.ndarray:
            return x[:, :2] * 2.0

    fake = types.ModuleType("umap")
    fake.__spec__ = importlib.machinery.ModuleSpec("umap", None)
    fake.UMAP = FakeUMAP  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "umap", fake)
    z = torch.randn(40, 5, dtype=torch.float64)
    p = project_embedding(z)
    assert p.method == "UMAP" and calls == [15]
    torch.testing.assert_close(p.coords, z[:, :2] * 2.0)
    # Poincaré embeddings keep the disk picture rather than UMAP's arbitrary plane.
    assert project_embedding(0.1 * z, manifold="poincare").in_disk


def test_umap_requested_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("contrastkit.report.projection.umap_available", lambda: False)
    with pytest.raises(ValueError, match="umap"):
        project_embedding(torch.randn(10, 4), method="umap")
    assert project_embedding(torch.randn(10, 4)).method == "PCA"
