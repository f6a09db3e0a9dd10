"""The PCA output head: agreement with scikit-learn's PCA, orthogonality (full-width
cosines unchanged), the optimality of its prefixes, and its sentence-transformers
export on a tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from contrastkit.models.pca_head import PCAHead, pair_pca_basis, pca_basis


def _anisotropic(n: int = 400, d: int = 24, seed: int = 0) -> torch.Tensor:
    """Rows with a non-zero mean and variances spread over an arbitrary basis (the
    largest ones NOT on the first coordinates), L2-normalised like sentence embeddings."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.linspace(0.05, 1.0, d)  # the last raw axes carry the most variance
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * scales
    x = x @ q[:, torch.randperm(d, generator=gen)] * 0.5 + 0.3 * q[:, 0]
    return torch.nn.functional.normalize(x, dim=1)


@pytest.mark.parametrize("k", [3, 8, 24])
def test_components_and_variance_match_sklearn(k: int) -> None:
    sklearn = pytest.importorskip("sklearn.decomposition")
    z = _anisotropic()
    fit = pca_basis(z, k)
    ref = sklearn.PCA(n_components=k, svd_solver="full").fit(z.numpy())
    # the same axes (up to sign) and the same variance along each
    dots = np.abs(np.sum(fit.components.numpy() * ref.components_, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)
    np.testing.assert_allclose(fit.eigenvalues[:k].numpy(), ref.explained_variance_, rtol=1e-8)
    assert fit.captured(k) == pytest.approx(ref.explained_variance_ratio_.sum(), rel=1e-8)
    # the sign is fixed: each axis' largest-magnitude entry is positive
    top = fit.components.abs().argmax(dim=1)
    assert (fit.components[torch.arange(k), top] > 0).all()


def test_uncentred_axes_are_those_of_the_second_moment() -> None:
    z = _anisotropic()
    fit = pca_basis(z, centered=False)
    # Eckart-Young on the raw rows: the axes are z's right singular vectors
    _, s, vh = torch.linalg.svd(z, full_matrices=False)
    np.testing.assert_allclose(fit.eigenvalues.numpy(), (s**2 / z.shape[0]).numpy(), rtol=1e-8)
    dots = (fit.components * vh).sum(dim=1).abs()
    np.testing.assert_allclose(dots.numpy(), 1.0, atol=1e-8)


def test_full_rotation_is_orthogonal_and_keeps_every_cosine() -> None:
    z = _anisotropic()
    head = PCAHead(z.shape[1]).double()
    head.fit(z)
    w = head.weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0], dtype=w.dtype), atol=1e-12, rtol=0)
    y = head(z)
    torch.testing.assert_close(y @ y.T, z @ z.T, atol=1e-12, rtol=0)


def test_leading_coordinates_hold_the_most_variance() -> None:
    # the first k rotated coordinates hold the PCA-optimal variance: the sum of the k
    # largest eigenvalues, more than the raw first k and than random k-subspaces
    z = _anisotropic()
    head = PCAHead(z.shape[1]).double()
    fit = head.fit(z)
    y = head(z).detach()
    centred = y - y.mean(dim=0)
    gen = torch.Generator().manual_seed(1)
    for k in (2, 6, 12):
        held = float(centred[:, :k].pow(2).sum() / (z.shape[0] - 1))
        assert held == pytest.approx(float(fit.eigenvalues[:k].sum()), rel=1e-9)
        raw = z - z.mean(dim=0)
        assert held > float(raw[:, :k].pow(2).sum() / (z.shape[0] - 1))
        for _ in range(20):
            q, _ = torch.linalg.qr(torch.randn(z.shape[1], k, generator=gen, dtype=torch.float64))
            assert held >= float((raw @ q).pow(2).sum() / (z.shape[0] - 1)) - 1e-12


def test_reduced_head_and_unfitted_identity() -> None:
    z = _anisotropic()
    head = PCAHead(z.shape[1], 5, trainable=False).double()
    assert not head.trainable and not bool(head.fitted)
    torch.testing.assert_close(head(z), z[:, :5])  # before a fit: the first 5 coordinates
    head.fit(z)
    assert bool(head.fitted) and head(z).shape == (z.shape[0], 5)
    torch.testing.assert_close(head.weight.detach(), pca_basis(z, 5).components)


def _paired(n: int = 2000, d: int = 16, shared: int = 3, seed: int = 0):
    """Anchors and positives sharing a signal on ``shared`` LOW-variance axes, with
    large independent noise (wording) on the others: the variance PCA sees first is
    noise, the cross-covariance only the shared signal."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    signal = torch.randn(n, shared, generator=gen, dtype=torch.float64)
    scales = torch.cat([torch.full((shared,), 0.0), torch.full((d - shared,), 1.5)])

    def side() -> torch.Tensor:
        x = torch.randn(n, d, generator=gen, dtype=torch.float64) * scales
        x[:, :shared] += signal
        return x @ q.T

    return side(), side()


def test_pair_axes_match_a_numpy_eigendecomposition() -> None:
    a, p = _paired()
    fit = pair_pca_basis(a, p)
    x, y = a.numpy() - a.numpy().mean(0), p.numpy() - p.numpy().mean(0)
    cross = x.T @ y / (len(x) - 1)
    values, vectors = np.linalg.eigh((cross + cross.T) / 2)
    np.testing.assert_allclose(fit.eigenvalues.numpy(), values[::-1], atol=1e-10)
    dots = np.abs(np.sum(fit.components.numpy() * vectors[:, ::-1].T, axis=1))
    np.testing.assert_allclose(dots[:3], 1.0, atol=1e-8)  # the separated, shared axes
    w = fit.components
    torch.testing.assert_close(w @ w.T, torch.eye(16, dtype=w.dtype), atol=1e-12, rtol=0)


def test_pair_axes_keep_the_shared_signal_that_pca_prefixes_drop() -> None:
    # on the first 3 axes: how alike each anchor is to its own positive (cosine), and
    # how often that positive is its nearest among 200 positives
    a, p = _paired()

    def agreement(w: torch.Tensor) -> tuple[float, float]:
        qa = torch.nn.functional.normalize(a @ w[:3].T, dim=1)
        qp = torch.nn.functional.normalize(p @ w[:3].T, dim=1)
        own = float((qa * qp).sum(dim=1).mean())
        best = (qa[:200] @ qp[:200].T).argmax(dim=1)
        return own, float((best == torch.arange(200)).double().mean())

    pair_cos, pair_hit = agreement(pair_pca_basis(a, p).components)
    plain_cos, plain_hit = agreement(pca_basis(torch.cat([a, p])).components)
    assert pair_cos > 0.9 and plain_cos < 0.3
    assert pair_hit > plain_hit + 0.3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pca_basis(torch.ones(1, 4)), "at least 2 rows"),
        (lambda: pca_basis(torch.ones(4)), "z must be"),
        (lambda: pca_basis(torch.randn(5, 4), 5), "out_dim must be <= .* 4, got 5"),
        (lambda: pca_basis(torch.randn(5, 4), 0), "out_dim"),
        (lambda: pca_basis(torch.full((5, 4), float("nan"))), "non-finite"),
        (lambda: PCAHead(4, 6), "out_dim must be <= in_dim 4, got 6"),
        (lambda: PCAHead(4).fit(torch.randn(5, 3)), r"z must be \[N, 4\], got \(5, 3\)"),
        (lambda: PCAHead(4, pairs=True).fit(torch.randn(5, 4)), "pairs=True"),
        (lambda: PCAHead(4).fit(torch.randn(5, 4), torch.randn(5, 4)), "pairs=False"),
        (lambda: pair_pca_basis(torch.randn(5, 4), torch.randn(6, 4)), "same shape"),
    ],
)
def test_bad_arguments_raise_value_error(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_export_round_trip_reproduces_the_embeddings(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    from contrastkit.models.text import TextEncoder
    from tests.text_tiny import all_texts, tiny_model

    texts = all_texts()
    for dim, name in ((None, "rotation"), (12, "reduced")):
        enc = TextEncoder(tiny_model(tmp_path))
        enc.head = PCAHead(enc.dim, dim)
        fit = enc.fit_head(texts[:100])
        # fitted to the model's own embeddings, not to the head's unfitted prefix
        torch.testing.assert_close(
            fit.components,
            pca_basis(TextEncoder(enc.model_path).encode(texts[:100]), dim).components,
        )
        assert enc.dim == (dim or 32)
        ours = enc.encode(texts)
        path = enc.save(tmp_path / name)
        theirs = SentenceTransformer(str(path), device="cpu", local_files_only=True).encode(
            texts, convert_to_tensor=True
        )
        assert theirs.shape == ours.shape
        torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)
        with pytest.raises(FileExistsError, match=name):
            enc.save(path)
