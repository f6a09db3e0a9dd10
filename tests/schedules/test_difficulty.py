"""Difficulty gating and weighted sampling: properties and determinism."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.schedules.difficulty import difficulty_weights, sample_by_difficulty


def test_hard_gate_and_soft_weights() -> None:
    d = torch.tensor([0.0, 0.3, 0.31, 1.0], dtype=torch.float64)
    assert difficulty_weights(d, 0.3).tolist() == [1.0, 1.0, 0.0, 0.0]
    soft = difficulty_weights(d, 0.3, softness=0.1)
    assert soft[1] == pytest.approx(0.5)
    assert bool((soft[:-1] > soft[1:]).all())  # easier -> more weight


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-1.0, 2.0, allow_nan=False), min_size=1, max_size=40),
    threshold=st.floats(-0.5, 1.5),
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 30),
)
def test_hard_sampling_only_returns_admitted_items(
    values: list[float], threshold: float, seed: int, n: int
) -> None:
    d = torch.tensor(values)
    idx = sample_by_difficulty(d, n, threshold, generator=torch.Generator().manual_seed(seed))
    assert idx.shape == (n,) and idx.dtype == torch.long
    assert bool(((idx >= 0) & (idx < d.numel())).all())
    admitted = d <= threshold
    if bool(admitted.any()):
        assert bool(admitted[idx].all())
    else:  # starvation fallback: the easiest items
        assert bool((d[idx] == d.min()).all())
    again = sample_by_difficulty(d, n, threshold, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(idx, again)


def test_sampling_frequencies_follow_soft_weights(gen: torch.Generator) -> None:
    d = torch.tensor([0.0, 0.5, 1.0])
    w = difficulty_weights(d, 0.5, softness=0.2)
    idx = sample_by_difficulty(d, 20000, 0.5, softness=0.2, generator=gen)
    freq = torch.bincount(idx, minlength=3).double() / idx.numel()
    torch.testing.assert_close(freq, (w / w.sum()).double(), atol=0.02, rtol=0)


def test_without_replacement_is_unique_and_capped(gen: torch.Generator) -> None:
    d = torch.tensor([0.1, 0.2, 0.9, 0.05])
    idx = sample_by_difficulty(d, 10, 0.5, replacement=False, generator=gen)
    assert sorted(idx.tolist()) == [0, 1, 3]


def test_bad_input(gen: torch.Generator) -> None:
    with pytest.raises(ValueError, match="num_samples"):
        sample_by_difficulty(torch.rand(3), 0, 0.5, generator=gen)
    with pytest.raises(ValueError, match="softness"):
        difficulty_weights(torch.rand(3), 0.5, softness=-1.0)
    with pytest.raises(ValueError, match="difficulty"):
        sample_by_difficulty(torch.rand(0), 2, 0.5, generator=gen)
    with pytest.raises(ValueError, match="difficulty"):
        difficulty_weights(torch.rand(2, 2), 0.5)
    with pytest.raises(TypeError, match="difficulty"):
        difficulty_weights(torch.arange(3), 0.5)
    with pytest.raises(ValueError, match="difficulty"):
        sample_by_difficulty(torch.tensor([0.1, float("nan")]), 2, 0.5, generator=gen)
    with pytest.raises(TypeError, match="generator"):
        sample_by_difficulty(torch.rand(3), 2, 0.5, generator=None)  # type: ignore[arg-type]
