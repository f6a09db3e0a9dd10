"""Thin modules for spectral smoothness and the regularisers equal their functional core."""

from __future__ import annotations

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
from contrastkit.functional.spectral import laplacian_smoothness
from contrastkit.losses.regularizers import (
    DecorrelationLoss,
    EmbeddingNormLoss,
    EmbeddingProjection,
    OrthogonalityLoss,
)
from contrastkit.losses.spectral import SpectralSmoothnessLoss


@pytest.fixture
def z(gen: torch.Generator) -> torch.Tensor:
    return torch.randn(10, 4, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("normalization", ["none", "sym"])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_spectral_module(
    gen: torch.Generator, z: torch.Tensor, normalization: str, reduction: str
) -> None:
    ei = torch.randint(0, 10, (2, 30), generator=gen)
    w = torch.rand(30, generator=gen, dtype=torch.float64)
    loss = SpectralSmoothnessLoss(0.05, normalization=normalization, reduction=reduction)
    ref = laplacian_smoothness(z, ei, w, normalization=normalization, reduction=reduction)
    torch.testing.assert_close(loss(z, ei, w), 0.05 * ref)
    assert "normalization" in repr(loss)
    zz = z.clone().requires_grad_(True)
    SpectralSmoothnessLoss()(zz, ei).backward()
    assert zz.grad is not None and torch.isfinite(zz.grad).all()


def test_norm_module(z: torch.Tensor) -> None:
    w = torch.rand(10, dtype=torch.float64)
    loss = EmbeddingNormLoss(2.0, mode="max", lambda_=0.5, reduction="sum")
    torch.testing.assert_close(
        loss(z, w), 0.5 * embedding_norm_penalty(z, 2.0, mode="max", reduction="sum", weight=w)
    )
    torch.testing.assert_close(EmbeddingNormLoss()(z), embedding_norm_penalty(z))


def test_orthogonality_and_decorrelation_modules(z: torch.Tensor) -> None:
    torch.testing.assert_close(OrthogonalityLoss(lambda_=2.0)(z), 2.0 * feature_orthogonality(z))
    sample = OrthogonalityLoss("sample", reduction="sum", method="gram", tile_size=3)
    torch.testing.assert_close(sample(z), sample_orthogonality(z, reduction="sum"))
    corr = DecorrelationLoss("correlation", lambda_=0.1)
    torch.testing.assert_close(corr(z), 0.1 * decorrelation_penalty(z, mode="correlation"))
    torch.testing.assert_close(DecorrelationLoss()(z), decorrelation_penalty(z))


def test_projection_module(z: torch.Tensor) -> None:
    torch.testing.assert_close(EmbeddingProjection(max_norm=0.5)(z), project_norm(z, 0.5))
    torch.testing.assert_close(EmbeddingProjection("sphere")(z), project_norm(z, mode="sphere"))
    torch.testing.assert_close(
        EmbeddingProjection("poincare", curvature=2.0)(z), project_poincare(z, 2.0)
    )
    param = torch.nn.Parameter(z * 10)
    with torch.no_grad():
        param.copy_(EmbeddingProjection()(param))
    assert (param.norm(dim=1) <= 1.0 + 1e-12).all()


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="lambda_"):
        SpectralSmoothnessLoss(-1.0)
    with pytest.raises(ValueError, match="normalization"):
        SpectralSmoothnessLoss(normalization="rw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicates"):
        SpectralSmoothnessLoss(duplicates="min")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        SpectralSmoothnessLoss(reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target_norm"):
        EmbeddingNormLoss(-2.0)
    with pytest.raises(ValueError, match="reduction"):
        EmbeddingNormLoss(reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="form"):
        OrthogonalityLoss("column")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tile_size"):
        OrthogonalityLoss("sample", tile_size=0)
    with pytest.raises(ValueError, match="lambda_"):
        DecorrelationLoss(lambda_=-1.0)
    with pytest.raises(ValueError, match="kind"):
        EmbeddingProjection("cube")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_norm"):
        EmbeddingProjection(max_norm=0.0)
