"""``counter_uniform``: the 16-bit-halves product and the mixer against Python's exact
integers, the range, uniformity (chi-square), determinism and bad input."""

from __future__ import annotations

import pytest
import torch

from contrastkit.graph.rng import _mix32, _mul32, counter_uniform


def _mix_reference(v: int) -> int:
    m = 2**32
    v ^= v >> 16
    v = (v * 0x7FEB352D) % m
    v ^= v >> 15
    v = (v * 0x846CA68B) % m
    return v ^ (v >> 16)


def test_products_and_mixer_equal_exact_integer_arithmetic() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2**32, (2000,), generator=gen)
    x[:3] = torch.tensor([0, 2**32 - 1, 2**31])
    for c in (0x7FEB352D, 0x846CA68B, 0x9E3779B9, 2**32 - 1):
        assert _mul32(x, c).tolist() == [(int(v) * c) % 2**32 for v in x]
    assert _mix32(x).tolist() == [_mix_reference(int(v)) for v in x]


def test_draws_are_uniform_in_range_and_a_function_of_the_key() -> None:
    gen = torch.Generator().manual_seed(1)
    keys = torch.randint(0, 2**32, (3000,), generator=gen)
    high = torch.randint(1, 50, (3000,), generator=gen)
    u = counter_uniform(keys, 40, high)
    assert u.shape == (3000, 40) and u.dtype == torch.int64
    assert bool((u >= 0).all()) and bool((u < high[:, None]).all())
    assert torch.equal(u[5:9], counter_uniform(keys[5:9], 40, high[5:9]))
    assert torch.equal(u[:, :7], counter_uniform(keys, 7, high))  # a prefix of the counter
    # uniform for every bound, pooled over the rows through the probability integral
    # transform: (u + 0.5) / high falls in each twentieth of (0, 1) as the bound's
    # grid of centres does
    frac = ((u.double() + 0.5) / high[:, None].double()).flatten()
    counts = torch.histc(frac, bins=20, min=0.0, max=1.0)
    # rows of small bound give a lumpy transform: compare with the exact expectation
    expected = torch.zeros(20, dtype=torch.float64)
    for n in high.unique().tolist():
        centres = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        per = torch.histc(centres, bins=20, min=0.0, max=1.0) / n
        expected += per * int((high == n).sum()) * 40
    chi2 = float(((counts.double() - expected) ** 2 / expected).sum())
    assert chi2 < 45.3  # 19 degrees of freedom: p ~ 0.001


def test_counter_uniform_refuses_bad_input() -> None:
    k = torch.zeros(3, dtype=torch.int64)
    with pytest.raises(TypeError, match="int64"):
        counter_uniform(k.int(), 2, k + 1)
    with pytest.raises(ValueError, match="one shape"):
        counter_uniform(k, 2, torch.ones(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="count must be >= 0"):
        counter_uniform(k, -1, k + 1)
    with pytest.raises(ValueError, match=r"high must lie in \[1, 2\*\*31\)"):
        counter_uniform(k, 2, k)
    with pytest.raises(ValueError, match="keys must lie"):
        counter_uniform(k - 1, 2, k + 1)
