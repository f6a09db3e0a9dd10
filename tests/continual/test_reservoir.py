"""Reservoir replay: uniform over the stream, equal to one-by-one Algorithm R, checkpointed."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from contrastkit.continual.reservoir import ReservoirBuffer


def test_uniform_over_a_1e5_item_stream() -> None:
    # 20 independent reservoirs of 1000 over a stream of 10^5 items, offered in
    # batches of 2500: how often each of 100 stream segments is kept must be uniform
    n, cap, trials, bins = 100_000, 1000, 20, 100
    counts = torch.zeros(bins, dtype=torch.int64)
    stream = torch.arange(n).view(-1, 1)
    for seed in range(trials):
        buf = ReservoirBuffer(cap, width=1)
        gen = torch.Generator().manual_seed(seed)
        for lo in range(0, n, 2500):
            buf.add(stream[lo : lo + 2500], gen)
        assert len(buf) == cap and buf.seen == n
        kept = buf.items[:, 0]
        assert kept.unique().numel() == cap  # without replacement
        counts += torch.bincount(kept // (n // bins), minlength=bins)
    expected = trials * cap / bins
    stat, p = chisquare(counts.numpy(), [expected] * bins)
    assert p > 1e-3, (stat, p)
    # a biased reservoir (keeping only the first items) fails the same test
    biased = torch.zeros(bins, dtype=torch.int64)
    biased[: cap // (n // bins)] = trials * (n // bins)
    assert chisquare(biased.numpy(), [expected] * bins).pvalue < 1e-10


def _algorithm_r(items: torch.Tensor, cap: int, u: torch.Tensor) -> torch.Tensor:
    """Vitter's Algorithm R one item at a time, with the given uniform draws."""
    buf = torch.zeros(cap, items.shape[1], dtype=torch.int64)
    for i in range(items.shape[0]):
        if i < cap:
            buf[i] = items[i]
        else:
            j = int((u[i] * (i + 1)).floor())
            if j < cap:
                buf[j] = items[i]
    return buf


@pytest.mark.parametrize("batch", [1, 7, 64, 500])
def test_batched_equals_one_by_one(batch: int) -> None:
    items = torch.randint(0, 10**6, (500, 2), generator=torch.Generator().manual_seed(1))
    buf = ReservoirBuffer(40)
    gen = torch.Generator().manual_seed(3)
    for lo in range(0, 500, batch):
        buf.add(items[lo : lo + batch], gen)
    # the draws the buffer consumed, one float64 per offered item
    ref_gen = torch.Generator().manual_seed(3)
    u = torch.cat(
        [
            torch.rand(min(batch, 500 - lo), generator=ref_gen, dtype=torch.float64)
            for lo in range(0, 500, batch)
        ]
    )
    assert torch.equal(buf.items, _algorithm_r(items, 40, u))


def test_state_round_trip_and_sampling() -> None:
    gen = torch.Generator().manual_seed(0)
    buf = ReservoirBuffer(8)
    buf.add(torch.arange(30).view(15, 2), gen)
    other = ReservoirBuffer(8)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.items, buf.items) and other.seen == 15
    drawn = buf.sample(100, gen)
    assert drawn.shape == (100, 2)
    assert set(map(tuple, drawn.tolist())) <= set(map(tuple, buf.items.tolist()))
    with pytest.raises(ValueError, match="items must have shape"):
        buf.add(torch.zeros(3, 3, dtype=torch.int64), gen)
    with pytest.raises(ValueError, match="buffer state"):
        ReservoirBuffer(4).load_state_dict(buf.state_dict())
    assert ReservoirBuffer(3).sample(5, gen).shape == (0, 2)
