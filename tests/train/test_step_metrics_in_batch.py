"""Similarity gap and violation rate of a batch without explicit negatives: measured
against the in-batch negatives (brute force), with the false-negative mask."""

from __future__ import annotations

import torch

from contrastkit.functional.distances import get_distance
from contrastkit.objectives.batch import Batch
from contrastkit.train.step_metrics import batch_statistics


def _batch(u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> Batch:
    b = u.numel()
    empty = torch.empty(b, 0, dtype=torch.long)
    return Batch.from_ids(u, v, empty, empty.bool(), 0.1).with_z(z)


def test_in_batch_statistics_match_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(12, 5, generator=g), dim=1)
    batch = _batch(torch.arange(6), torch.arange(6, 12), z)
    stats, difficulty = batch_statistics(batch, get_distance("cosine"))
    a, p = z[:6], z[6:]
    pos, s = (a * p).sum(1), a @ p.T
    off = ~torch.eye(6, dtype=torch.bool)
    assert abs(stats["sim_gap"] - float(pos.mean() - s[off].mean())) < 1e-6
    want = float((s >= pos[:, None])[off].float().mean())
    assert abs(stats["violation_rate"] - want) < 1e-6
    assert difficulty.numel() == 30


def test_in_batch_statistics_skip_masked_keys() -> None:
    # rows 0 and 1 share a positive item: neither is the other's negative
    z = torch.nn.functional.normalize(torch.randn(5, 4, generator=torch.Generator()), dim=1)
    batch = _batch(torch.tensor([0, 1, 2]), torch.tensor([3, 3, 4]), z)
    _, difficulty = batch_statistics(batch, get_distance("cosine"))
    assert difficulty.numel() == 6 - 2
