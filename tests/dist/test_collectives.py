"""How many collectives a data-parallel step takes, and the packed gather they rest on.

On gloo every collective is a rendezvous of the ranks and a round of the transport
thread, whatever its size, so the step keeps them few:

* :func:`~contrastkit.dist.gather.all_gather_riding` gathers the embeddings and the
  ids, labels and masks riding along in one all-gather, bit-exact for every dtype (a
  float32 signalling-NaN pattern and int64 ids near 2^62 included), with the
  gradient of :class:`~contrastkit.dist.gather.AllGatherWithGrad` (``grad=True``: every
  rank's loss reaches each rank's rows) or of the live slice alone (``grad=False``);
* work computed on rank 0 alone (an evaluation) reaches every rank in one broadcast,
  and so does its exception; a ranking split over the ranks by anchors equals one
  process's (mean rank exactly, MAP to 1e-15);
* a step of in-batch InfoNCE with a learnable temperature takes one all-gather
  (forward), one all-reduce for the gather's backward, DDP's bucket all-reduce, and one
  all-reduce carrying the temperature's gradient *and* the loss: the trainer's mean
  loss then costs no collective of its own, and is the exact mean of the ranks' losses.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch


@pytest.fixture(scope="module")
def riding(step_ranks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["riding"] for r in step_ranks]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.uint8) if t.numel() else t


@pytest.mark.parametrize("grad", [True, False])
def test_riders_bit_exact_in_one_all_gather(riding: list[dict[str, Any]], grad: bool) -> None:
    for result in riding:
        got = result[grad]
        assert got["counts"] == {"all_gather": 1}
        for rider, want in zip(got["riders"], result["plain"], strict=True):
            assert rider.dtype == want.dtype and rider.shape == want.shape
            assert torch.equal(_bits(rider), _bits(want))


@pytest.mark.parametrize("grad", [True, False])
def test_riding_x_and_its_gradient(riding: list[dict[str, Any]], grad: bool) -> None:
    w = torch.arange(12, dtype=torch.float64).view(4, 3)
    xs = [r[grad]["x"] for r in riding]
    for rank, result in enumerate(riding):
        got = result[grad]
        assert torch.equal(got["x_all"], torch.cat(xs))
        own = w[rank * 2 : (rank + 1) * 2]
        # with grad: both ranks' losses read this rank's rows (summed); without: its own
        want = 2 * own if grad else own
        assert torch.equal(got["grad"], want)


@pytest.fixture(scope="module")
def steps(step_ranks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["collectives"] for r in step_ranks]


def test_step_collectives_counted(steps: list[dict[str, Any]]) -> None:
    for result in steps:
        # forward gather; the gather's backward (an all-to-all); DDP's bucket (its hook
        # calls all_reduce from Python too), the temperature's gradient with the loss
        assert result["buckets"] == 1
        assert result["counts"] == {"all_gather": 1, "all_to_all_single": 1, "all_reduce": 2}


def test_mean_loss_rides_with_the_gradients(steps: list[dict[str, Any]]) -> None:
    mean = (steps[0]["loss"] + steps[1]["loss"]) / 2
    assert steps[0]["loss"] != steps[1]["loss"]  # a mean of one rank's loss would fail
    for result in steps:
        assert result["mean"] == mean
    # the temperature's gradient is averaged: equal on both ranks
    for a, b in zip(steps[0]["temperature_grad"], steps[1]["temperature_grad"], strict=True):
        assert torch.equal(a, b)


def test_rank_zero_work_runs_once_and_reaches_every_rank(
    step_ranks: list[dict[str, Any]],
) -> None:
    got = [r["rank_zero"] for r in step_ranks]
    assert got[0]["ran"] == [0, 0] and got[1]["ran"] == []  # both calls on rank 0 alone
    assert got[0]["got"] == got[1]["got"] == {"map": 0.5, "mean_rank": 3.0}
    # rank 0's failure is raised on every rank (no rank left waiting in the broadcast)
    assert got[0]["raised"] == got[1]["raised"] == "collapsed on rank 0"


def test_sharded_ranking_equals_one_process(
    step_ranks: list[dict[str, Any]],
) -> None:
    from contrastkit.eval.reconstruction import filtered_ranking
    from tests.dist.workers import RANKING_SETTINGS

    gen = torch.Generator().manual_seed(4)  # the workers' graph
    x = 0.3 * torch.randn(90, 4, generator=gen, dtype=torch.float64)
    edges = torch.randint(0, 90, (2, 400), generator=gen)
    known = torch.randint(0, 90, (2, 100), generator=gen)
    for i, (d, m, t) in enumerate(RANKING_SETTINGS):
        want = filtered_ranking(x, edges, known, distance=d, mode=m, ties=t, chunk_size=8)
        for ranks in step_ranks:
            got = ranks["ranking"][i]
            assert got.mean_rank == want.mean_rank, (d, m, t)  # counts: exact
            assert abs(got.map - want.map) <= 1e-15, (d, m, t)
            ap, ap_want = got.average_precision, want.average_precision
            assert torch.allclose(ap, ap_want, rtol=0, atol=1e-15), (d, m, t)
