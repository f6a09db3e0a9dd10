"""Embedding diagnostics and training-stability measures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastkit.eval.diagnostics import (
    alignment,
    batch_diagnostics,
    distribution_summary,
    margin_violation_rate,
    norm_summary,
    pairwise_distance_summary,
    sample_pairs,
    similarity_gap,
    uniformity,
)
from contrastkit.eval.stability import embedding_drift, loss_stability


def test_distribution_summary_matches_numpy(gen: torch.Generator) -> None:
    v = torch.randn(1001, generator=gen, dtype=torch.float64)
    s = distribution_summary(v, bins=10)
    a = v.numpy()
    assert s["count"] == 1001
    assert s["mean"] == pytest.approx(a.mean()) and s["std"] == pytest.approx(a.std())
    assert s["q50"] == pytest.approx(np.quantile(a, 0.5)) and s["q5"] == pytest.approx(
        np.quantile(a, 0.05)
    )
    assert s["q0"] == a.min() and s["q100"] == a.max()
    counts, edges = np.histogram(a, bins=10)
    assert s["hist_counts"] == counts.tolist()
    assert s["hist_edges"] == pytest.approx(edges.tolist())
    # A point mass and non-finite entries are handled.
    point = distribution_summary(torch.tensor([2.0, 2.0, float("inf")]))
    assert point["count"] == 2 and point["std"] == 0.0 and sum(point["hist_counts"]) == 2
    with pytest.raises(ValueError, match="values"):
        distribution_summary(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="quantiles"):
        distribution_summary(v, quantiles=(1.5,))
    with pytest.raises(ValueError, match="bins"):
        distribution_summary(v, bins=0)


def test_norm_and_pairwise_summaries(gen: torch.Generator) -> None:
    x = torch.randn(30, 4, generator=gen)
    assert norm_summary(x)["mean"] == pytest.approx(float(x.norm(dim=1).mean()), rel=1e-6)
    full = pairwise_distance_summary(x, "euclidean")
    assert full["count"] == 30 * 29 // 2
    assert full["mean"] == pytest.approx(float(torch.pdist(x).mean()), rel=1e-5)
    sampled = pairwise_distance_summary(torch.randn(2000, 4, generator=gen), max_pairs=5000, seed=1)
    assert sampled["count"] == 5000
    cos = pairwise_distance_summary(x, "cosine")
    assert -1.0 <= cos["q0"] <= cos["q100"] <= 1.0
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_distance_summary(x[:1])


def test_sample_pairs_properties() -> None:
    p = sample_pairs(1000, 20_000, seed=3)
    assert p.shape == (2, 20_000) and bool((p[0] != p[1]).all())
    assert torch.equal(p, sample_pairs(1000, 20_000, seed=3))
    assert sample_pairs(4, 10).shape == (2, 6)  # all pairs when few
    # Roughly uniform over first indices.
    counts = torch.bincount(p[0], minlength=1000).double()
    assert float(counts.std() / counts.mean()) < 0.3


def test_alignment_and_uniformity_match_wang_isola(
    gen: torch.Generator, dtype: torch.dtype
) -> None:
    x = torch.randn(300, 8, generator=gen, dtype=dtype)
    y = x + 0.1 * torch.randn(300, 8, generator=gen, dtype=dtype)
    fx, fy = F.normalize(x, dim=1), F.normalize(y, dim=1)
    # The reference code of Wang & Isola (2020).
    want_align = (fx - fy).norm(p=2, dim=1).pow(2).mean()
    want_unif = torch.pdist(fx.double(), p=2).pow(2).mul(-2).exp().mean().log()
    assert alignment(x, y) == pytest.approx(float(want_align), rel=1e-5)
    assert uniformity(x) == pytest.approx(float(want_unif), rel=1e-6)
    assert uniformity(x, chunk_size=7) == pytest.approx(float(want_unif), rel=1e-9)
    assert alignment(x, y, alpha=1.0, normalize=False) == pytest.approx(
        float((x - y).norm(dim=1).mean()), rel=1e-5
    )
    # Collapse is the least uniform configuration: log E exp(0) = 0.
    assert uniformity(torch.ones(10, 3)) == pytest.approx(0.0, abs=1e-12)
    assert uniformity(torch.zeros(10, 3)) == pytest.approx(0.0, abs=1e-12)  # zero rows stay finite
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(x[:1])
    with pytest.raises(ValueError, match="y"):
        alignment(x, y[:5])
    with pytest.raises(ValueError, match="t"):
        uniformity(x, t=0.0)


def test_gap_and_violation_rate_brute_force(gen: torch.Generator) -> None:
    pos = torch.randn(20, generator=gen, dtype=torch.float64)
    neg = torch.randn(20, 7, generator=gen, dtype=torch.float64)
    mask = torch.rand(20, 7, generator=gen) > 0.3
    vals = [
        (p, n)
        for i, p in enumerate(pos.tolist())
        for j, n in enumerate(neg[i].tolist())
        if mask[i, j]
    ]
    assert similarity_gap(pos, neg, mask) == pytest.approx(
        float(pos.mean()) - np.mean([n for _, n in vals])
    )
    for m in (0.0, 0.5):
        want = np.mean([n + m > p for p, n in vals])
        assert margin_violation_rate(pos, neg, m, mask) == pytest.approx(want)
    with pytest.raises(ValueError, match="neg_mask"):
        similarity_gap(pos, neg, mask[:, :3])
    with pytest.raises(ValueError, match="pair"):
        margin_violation_rate(pos, neg, 0.1, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="margin"):
        margin_violation_rate(pos, neg, -1.0)
    with pytest.raises(ValueError, match="neg_scores"):
        similarity_gap(pos, neg[:5])


def test_batch_diagnostics_in_batch_and_explicit(gen: torch.Generator) -> None:
    a = torch.randn(16, 8, generator=gen)
    p = a + 0.05 * torch.randn(16, 8, generator=gen)
    d = batch_diagnostics(a, p)
    assert d["similarity_gap"] > 0.5 and d["violation_rate"] == 0.0
    assert all(math.isfinite(v) for v in d.values())
    n = torch.randn(16, 4, 8, generator=gen)
    e = batch_diagnostics(a, p, n, distance="euclidean", margin=100.0)
    assert e["violation_rate"] == 1.0
    with pytest.raises(ValueError, match="in-batch"):
        batch_diagnostics(a[:1], p[:1])
    with pytest.raises(ValueError, match="negative"):
        batch_diagnostics(a, p, n[:, :, :3])


def test_loss_stability() -> None:
    flat = loss_stability(torch.full((50,), 2.0))
    assert flat["cv"] == 0.0 and flat["relative_slope"] == 0.0 and flat["mean"] == 2.0
    ramp = loss_stability(torch.arange(10.0, 0.0, -1.0), window=10)
    assert ramp["relative_slope"] == pytest.approx(-1.0 / 5.5)
    v = torch.tensor([1.0, float("nan"), 3.0, float("inf")])
    s = loss_stability(v)
    assert s["num_nonfinite"] == 2.0 and s["cv"] == pytest.approx(0.5)
    assert loss_stability(torch.tensor([float("nan")]))["cv"] == 0.0
    assert loss_stability(torch.tensor([], dtype=torch.float32))["mean"] == 0.0
    with pytest.raises(ValueError, match="window"):
        loss_stability(v, window=0)


def test_embedding_drift(gen: torch.Generator) -> None:
    x = torch.randn(100, 5, generator=gen, dtype=torch.float64)
    rot, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    same = embedding_drift(x, 3.0 * x @ rot, k=5)
    assert same["knn_overlap"] == 1.0 and same["relative_displacement"] > 0.5
    assert embedding_drift(x, x)["mean_displacement"] == 0.0
    noisy = embedding_drift(x, torch.randn(100, 5, generator=gen, dtype=torch.float64), k=5)
    assert noisy["knn_overlap"] < 0.3
    sampled = embedding_drift(x, x + 0.01, k=5, max_queries=10)
    assert sampled["knn_overlap"] == 1.0
    with pytest.raises(ValueError, match="k \\+ 1"):
        embedding_drift(x[:3], x[:3], k=5)
    with pytest.raises(ValueError, match="after"):
        embedding_drift(x, x[:50])
