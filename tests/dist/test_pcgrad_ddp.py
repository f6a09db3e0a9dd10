"""PCGrad under data parallelism (2 gloo ranks, float64).

Each objective's gradient is taken on the rank's share with DDP's synchronisation off,
the per-objective gradients are averaged over ranks (one all-reduce of the ``[K, P]``
matrix) and projected: four SGD steps of in-batch InfoNCE (gathered, ``local``) plus a
push of each pair apart — objectives that conflict, so the projection acts —
equal single-process PCGrad on the combined batch to 1e-10, gradients and parameters.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.dist.workers import PCGRAD_STEPS, PER_RANK, pcgrad_steps, plain_sum_grads

ALL = slice(0, 2 * PER_RANK)


@pytest.fixture(scope="module")
def ranks(step_ranks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["pcgrad"] for r in step_ranks]


def test_two_ranks_equal_one_process_on_the_combined_batch(ranks: list[dict[str, Any]]) -> None:
    want = pcgrad_steps(ALL, distributed=False)
    for got in ranks:
        assert len(got["grads"]) == PCGRAD_STEPS
        for step, (g_steps, w_steps) in enumerate(zip(got["grads"], want["grads"], strict=True)):
            for g, w in zip(g_steps, w_steps, strict=True):
                assert torch.allclose(g, w, rtol=0, atol=1e-10), step
        for g, w in zip(got["params"], want["params"], strict=True):
            assert torch.allclose(g, w, rtol=0, atol=1e-10)
        assert abs(got["loss"] - want["loss"]) <= 1e-10


def test_the_objectives_conflict_so_the_projection_acts() -> None:
    projected = pcgrad_steps(ALL, distributed=False)["grads"][0]
    plain = plain_sum_grads(ALL)
    gap = max(float((a - b).abs().max()) for a, b in zip(projected, plain, strict=True))
    assert gap > 1e-3, gap
