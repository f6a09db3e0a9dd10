"""Softmax over similarities at several temperatures (GATE notebook analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastkit.report.plots_temperature import (
    CANONICAL_SIMILARITIES,
    example_similarities,
    softmax_over_temperatures,
)
from contrastkit.report.run_files import SimilaritySnapshot
from tests.conftest import tol


def test_matches_brute_force(dtype: torch.dtype) -> None:
    sims = torch.tensor(CANONICAL_SIMILARITIES, dtype=dtype)
    taus = [0.05, 0.1, 0.5, 1.0]
    probs, entropy = softmax_over_temperatures(sims, taus)
    for t, tau in enumerate(taus):
        e = [math.exp(s / tau) for s in sims.tolist()]
        p = [v / sum(e) for v in e]
        h = -sum(v * math.log(v) for v in p)
        torch.testing.assert_close(probs[t], torch.tensor(p, dtype=dtype), **tol(dtype))
        torch.testing.assert_close(entropy[t], torch.tensor(h, dtype=dtype), **tol(dtype))


def test_tiny_temperature_is_finite_and_sharp() -> None:
    probs, entropy = softmax_over_temperatures(torch.tensor([0.9, 0.7, -0.1]), [1e-4])
    assert torch.isfinite(probs).all() and torch.isfinite(entropy).all()
    assert probs[0, 0] == 1.0 and entropy[0] == 0.0


def test_positive_probability_falls_as_temperature_rises() -> None:
    sims = torch.tensor(CANONICAL_SIMILARITIES, dtype=torch.float64)
    probs, entropy = softmax_over_temperatures(sims, [0.01, 0.05, 0.1, 0.5, 1.0])
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(5, dtype=torch.float64))
    assert torch.all(probs[1:, 0] < probs[:-1, 0])
    assert torch.all(entropy[1:] > entropy[:-1]) and float(entropy[-1]) < math.log(6)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="temperatures"):
        softmax_over_temperatures(torch.tensor([0.1, 0.2]), [0.1, 0.0])
    with pytest.raises(ValueError, match="similarities"):
        softmax_over_temperatures(torch.tensor([]), [0.1])
    with pytest.raises(ValueError, match="similarities"):
        softmax_over_temperatures(torch.ones(2, 2), [0.1])


def test_example_vector_from_snapshot() -> None:
    rng = np.random.default_rng(0)
    snap = SimilaritySnapshot(pos=rng.normal(0.7, 0.1, 500), neg=rng.normal(0.1, 0.2, 5000))
    sims, source = example_similarities(snap)
    assert sims.shape == (10,) and "end-of-run" in source
    assert sims[0].item() == pytest.approx(float(np.median(snap.pos)))
    assert torch.all(sims[2:] <= sims[1:-1])  # negatives hardest first
    canonical, src = example_similarities(SimilaritySnapshot(pos=np.empty(0), neg=np.ones(3)))
    assert canonical.tolist() == list(CANONICAL_SIMILARITIES) and "canonical" in src
