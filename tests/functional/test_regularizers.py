"""Norm penalties, projections, orthogonality and decorrelation against loop/numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastkit.functional.regularizers import (
    decorrelation_penalty,
    embedding_norm_penalty,
    feature_orthogonality,
    project_norm,
    project_poincare,
    sample_orthogonality,
)
from tests.conftest import tol


@pytest.mark.parametrize("mode", ["target", "max"])
def test_norm_penalty_matches_loop(gen: torch.Generator, dtype: torch.dtype, mode: str) -> None:
    z = torch.randn(9, 4, generator=gen, dtype=dtype) * 0.8
    r = 1.3
    ref = []
    for row in z:
        gap = float(row.norm()) - r
        ref.append(gap**2 if mode == "target" else max(gap, 0.0) ** 2)
    ref_t = torch.tensor(ref, dtype=dtype)
    out = embedding_norm_penalty(z, r, mode=mode, reduction="none")
    torch.testing.assert_close(out, ref_t, **tol(dtype))
    torch.testing.assert_close(embedding_norm_penalty(z, r, mode=mode), ref_t.mean(), **tol(dtype))
    w = torch.rand(9, generator=gen, dtype=dtype)
    weighted = embedding_norm_penalty(z, r, mode=mode, reduction="sum", weight=w)
    torch.testing.assert_close(weighted, (w * ref_t).sum(), **tol(dtype))


def test_norm_penalty_zero_vector_and_gradcheck(gen: torch.Generator) -> None:
    z = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    out = embedding_norm_penalty(z)
    out.backward()
    assert out.item() == 1.0 and z.grad is not None and torch.isfinite(z.grad).all()
    y = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: embedding_norm_penalty(t, 1.0), (y,))
    assert torch.autograd.gradcheck(lambda t: embedding_norm_penalty(t, 0.5, mode="max"), (y,))
    empty = torch.zeros(0, 3, requires_grad=True)
    assert embedding_norm_penalty(empty).item() == 0.0


def test_project_norm_clip_and_sphere(gen: torch.Generator) -> None:
    z = torch.randn(20, 5, generator=gen, dtype=torch.float64) * 2
    z[3] = 0.0
    before = z.clone()
    clipped = project_norm(z, 1.5)
    norms, new = z.norm(dim=1), clipped.norm(dim=1)
    assert torch.equal(z, before)  # not in place
    assert (new <= 1.5 + 1e-12).all()
    torch.testing.assert_close(new[norms <= 1.5], norms[norms <= 1.5])
    torch.testing.assert_close(
        clipped / new[:, None].clamp_min(1e-30), z / norms[:, None].clamp_min(1e-30)
    )
    sphere = project_norm(z, 2.0, mode="sphere")
    nz = norms > 0
    torch.testing.assert_close(
        sphere.norm(dim=1)[nz], torch.full((int(nz.sum()),), 2.0, dtype=torch.float64)
    )
    assert not sphere[3].any()
    y = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: project_norm(t, 1.0), (y,))
    assert torch.autograd.gradcheck(lambda t: project_norm(t, 1.0, mode="sphere"), (y,))


def test_project_poincare_inside_ball(gen: torch.Generator) -> None:
    z = torch.randn(10, 3, generator=gen, dtype=torch.float64) * 3
    for c in (1.0, 4.0):
        out = project_poincare(z, curvature=c)
        assert (out.norm(dim=1) < 1.0 / c**0.5).all()
    small = z * 0.01
    torch.testing.assert_close(project_poincare(small), small)


def test_feature_orthogonality_matches_loop(gen: torch.Generator, dtype: torch.dtype) -> None:
    n, d = 7, 4
    z = torch.randn(n, d, generator=gen, dtype=dtype)
    ref = 0.0
    for a in range(d):
        for b in range(d):
            g = sum(float(z[i, a] * z[i, b]) for i in range(n)) / n
            ref += (g - (1.0 if a == b else 0.0)) ** 2
    out = feature_orthogonality(z, reduction="sum")
    assert out.item() == pytest.approx(ref, rel=1e-5)
    assert feature_orthogonality(z).item() == pytest.approx(ref / d**2, rel=1e-5)
    assert feature_orthogonality(torch.zeros(0, 3), reduction="sum").item() == pytest.approx(3.0)


@pytest.mark.parametrize("mode", ["covariance", "correlation"])
def test_decorrelation_matches_numpy(gen: torch.Generator, mode: str) -> None:
    z = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    z[:, 1] += 0.8 * z[:, 0]
    mat = (
        np.cov(z.numpy(), rowvar=False)
        if mode == "covariance"
        else np.corrcoef(z.numpy(), rowvar=False)
    )
    off = mat - np.diag(np.diag(mat))
    out = decorrelation_penalty(z, mode=mode)
    assert out.item() == pytest.approx((off**2).sum() / 5, rel=1e-10)
    assert decorrelation_penalty(z, mode=mode, reduction="sum").item() == pytest.approx(
        (off**2).sum(), rel=1e-10
    )
    y = z[:6].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: decorrelation_penalty(t, mode=mode), (y,))


def test_decorrelation_degenerate_inputs() -> None:
    one = torch.randn(1, 4, requires_grad=True)
    out = decorrelation_penalty(one)
    out.backward()
    assert out.item() == 0.0 and one.grad is not None and not one.grad.any()
    const = torch.cat([torch.randn(8, 2), torch.ones(8, 1)], dim=1).requires_grad_(True)
    out = decorrelation_penalty(const, mode="correlation")
    out.backward()
    assert torch.isfinite(out) and const.grad is not None and torch.isfinite(const.grad).all()


@pytest.mark.parametrize("shape", [(6, 10), (12, 3), (1, 4)])
@pytest.mark.parametrize("method", ["auto", "gram", "dual"])
def test_sample_orthogonality_matches_brute(
    gen: torch.Generator, dtype: torch.dtype, shape: tuple[int, int], method: str
) -> None:
    z = torch.randn(*shape, generator=gen, dtype=dtype) * 0.5
    ref = (z @ z.T - torch.eye(shape[0], dtype=dtype)).square()
    for tile in (1, 5, 1024):
        out = sample_orthogonality(z, method=method, tile_size=tile, reduction="sum")
        torch.testing.assert_close(out, ref.sum(), **tol(dtype))
    torch.testing.assert_close(sample_orthogonality(z, method=method), ref.mean(), **tol(dtype))


@pytest.mark.parametrize("method", ["gram", "dual"])
def test_sample_orthogonality_gradcheck_and_empty(gen: torch.Generator, method: str) -> None:
    z = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: sample_orthogonality(t, method=method, tile_size=2), (z,)
    )
    empty = torch.zeros(0, 3, requires_grad=True)
    out = sample_orthogonality(empty, method=method)
    assert out.item() == 0.0 and out.requires_grad


def test_feature_orthogonality_gradcheck(gen: torch.Generator) -> None:
    z = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(feature_orthogonality, (z,))


def test_orthonormal_inputs_have_zero_penalty() -> None:
    q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    assert sample_orthogonality(q[:5]).item() == pytest.approx(0.0, abs=1e-12)
    assert feature_orthogonality(q * 8**0.5).item() == pytest.approx(0.0, abs=1e-12)


def test_bad_inputs_name_the_argument() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="z"):
        embedding_norm_penalty(torch.randn(3))
    with pytest.raises(TypeError, match="z"):
        feature_orthogonality(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="target_norm"):
        embedding_norm_penalty(z, -1.0)
    with pytest.raises(ValueError, match="mode"):
        embedding_norm_penalty(z, mode="min")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight"):
        embedding_norm_penalty(z, weight=torch.ones(3))
    with pytest.raises(ValueError, match="max_norm"):
        project_norm(z, 0.0)
    with pytest.raises(ValueError, match="mode"):
        project_norm(z, mode="ball")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="curvature"):
        project_poincare(z, curvature=-1.0)
    with pytest.raises(ValueError, match="eps"):
        project_poincare(z, eps=1.5)
    with pytest.raises(ValueError, match="reduction"):
        feature_orthogonality(z, reduction="none")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        decorrelation_penalty(z, mode="cross")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="z"):
        decorrelation_penalty(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="method"):
        sample_orthogonality(z, method="fft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tile_size"):
        sample_orthogonality(z, tile_size=0)
