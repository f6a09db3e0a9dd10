"""The sparse table step and gradient caching on 2 gloo ranks.

* Sparse table step (Poincaré, float64, RSGD and row-wise Adagrad): 5 steps where each
  rank takes half of every relation batch and the touched rows are summed over ranks
  leave the table equal to 5 single-process steps on the whole batches.
* Gradient caching under DDP: one gradient all-reduce per step whatever the number
  of chunks (counted by a DDP comm hook), and the same gradients as without chunks.
* Mining: the hard-negative pool (and the k-means clusters) is built on rank 0 only and
  every rank holds rank 0's, equal to a single-process refresh of that embedding.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.dist.workers import RELATIONS, SPARSE_STEPS, pool_refresh, sparse_run


@pytest.mark.parametrize("optimizer", ["rsgd", "radagrad"])
def test_sparse_step_equals_single_process(
    step_ranks: list[dict[str, Any]], optimizer: str
) -> None:
    reference = sparse_run(slice(0, 2 * RELATIONS), SPARSE_STEPS, False, optimizer)
    start = sparse_run(slice(0, 2 * RELATIONS), 0, False, optimizer)
    assert (reference - start).abs().max() > 1e-3  # the steps moved the table
    for result in step_ranks:
        torch.testing.assert_close(result["sparse"][optimizer], reference, rtol=0, atol=1e-12)


def test_sparse_step_halves_differ(step_ranks: list[dict[str, Any]]) -> None:
    """A rank's half alone would not give the combined result (the test can fail)."""
    alone = sparse_run(slice(0, RELATIONS), SPARSE_STEPS, False, "rsgd")
    assert (alone - step_ranks[0]["sparse"]["rsgd"]).abs().max() > 1e-4


def test_grad_cache_syncs_once_per_step(step_ranks: list[dict[str, Any]]) -> None:
    for result in step_ranks:
        once, grads_once = result["grad_cache"][1]
        cached, grads_cached = result["grad_cache"][3]
        assert once >= 1
        assert cached == once  # 3 chunks replayed, the all-reduce only on the last
        for a, b in zip(grads_once, grads_cached, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("strategy", ["hardest", "cluster"])
def test_pool_built_once_and_broadcast(step_ranks: list[dict[str, Any]], strategy: str) -> None:
    want = pool_refresh(False, strategy)
    key = "clusters" if strategy == "cluster" else "pool"
    assert [r["pool"][strategy]["embedded"] for r in step_ranks] == [1, 0]  # rank 0 alone
    for result in step_ranks:
        got = result["pool"][strategy]
        assert torch.equal(got[key], want[key])
        assert got["last_refresh"] == want["last_refresh"] == 7
        if strategy == "hardest":
            assert torch.equal(got["pool_scores"], want["pool_scores"])
