"""Gather modes on 2 gloo ranks against one process on the concatenated batch.

For every in-batch objective (InfoNCE in-batch, symmetric, multi-positive, learnable
temperature; MNR with and without hard-negative columns, symmetric) and every gather
mode, the loss averaged over ranks and the parameter gradients after DDP's all-reduce
equal the single-process ones to 1e-10 in float64: ``local`` and ``full`` those of the
global batch, ``none`` the average of each rank's batch alone. The global batch draws
one positive item on both ranks and repeats labels across ranks, so the masks by
global id and label are exercised.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.dist.workers import CASES, PER_RANK, loss_and_grads

TOL = 1e-10


@pytest.fixture(scope="module")
def ranks(step_ranks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["gather"] for r in step_ranks]


def _close(got: tuple[float, list[torch.Tensor]], want: tuple[float, list[torch.Tensor]]) -> None:
    assert abs(got[0] - want[0]) <= TOL, (got[0], want[0])
    for g, w in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("mode", ["local", "full"])
def test_gathered_equals_single_process(ranks: list[dict], case, mode: str) -> None:
    reference = loss_and_grads(case, "none", slice(0, 2 * PER_RANK), ddp=False)
    for result in ranks:  # every rank holds the same all-reduced gradients
        _close(result[(case.name, mode)], reference)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_none_is_each_rank_alone(ranks: list[dict], case) -> None:
    alone = [
        loss_and_grads(case, "none", slice(r * PER_RANK, (r + 1) * PER_RANK), ddp=False)
        for r in range(2)
    ]
    mean = (
        (alone[0][0] + alone[1][0]) / 2,
        [(a + b) / 2 for a, b in zip(alone[0][1], alone[1][1], strict=True)],
    )
    for result in ranks:
        _close(result[(case.name, "none")], mean)


def test_in_batch_cases_differ_from_local_only(ranks: list[dict]) -> None:
    """Gathering changes what an in-batch loss sees: the test could fail."""
    got = ranks[0][("infonce_in_batch", "local")][0]
    alone = ranks[0][("infonce_in_batch", "none")][0]
    assert abs(got - alone) > 1e-3
