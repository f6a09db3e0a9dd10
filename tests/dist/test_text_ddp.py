"""The text pairs task (tiny random BERT, cached MNR) on 2 gloo ranks.

* No ``find_unused_parameters`` needed: BERT's pooler, which mean pooling never
  reads, is frozen by the text encoder, so DDP sees only parameters that get a
  gradient.
* ``loop.batch_size`` is global: the 2-rank run takes ``ceil(46 / 16) = 3`` steps per
  epoch, as one process does (the short last batch padded, ``distributed.drop_last``
  false).
* Its per-step losses (averaged over ranks) and final encoder equal one process on
  the same global batches, with the in-batch candidates gathered across ranks.
* One hard negative per anchor is mined from the pool of training texts, embedded on
  rank 0 and broadcast (the same negatives as one process mines).
* Gradient caching replays 4 chunks per rank and step under ``no_sync()`` except the
  last: exactly one gradient all-reduce per optimiser step (a counting comm hook).
* The evaluation's encode of the 128 texts is split over the ranks (every other
  length-sorted batch of 24: 72 and 56 texts), each rank's batches being the ones one
  process runs, so the gathered embedding equals a whole encode bit for bit; the
  retrieval over held-out texts then runs on rank 0 alone, and both ranks receive
  its metrics, equal to one process's.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.dist.spawn import run_ranks
from tests.dist.text_workers import EPOCHS, text_ranks, text_single
from tests.text_tiny import compositional_pairs, tiny_model, write_jsonl


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("ddp_text")
    # the equality needs dropout off: each rank draws its own dropout masks (per-rank
    # seeds), one process draws them from one stream; the dropout run checks the rest
    models = {
        "plain": str(tiny_model(base, dropout=0.0)),
        "dropout": str(tiny_model(base, dropout=0.1)),
    }
    pairs = str(write_jsonl(base / "pairs.jsonl", compositional_pairs()))  # type: ignore[arg-type]
    # forked, not spawned: a spawned rank spent most of its time importing
    # sentence-transformers, which this process has done (the run's checks are the
    # same; tests/dist/test_torchrun_kill.py starts real torchrun processes). Forked
    # before this process's own run, so the ranks inherit no trainer of it.
    import sentence_transformers  # noqa: F401

    ranks = run_ranks(text_ranks, base, str(base), pairs, models, start_method="fork")
    return {"ranks": ranks, "single": text_single(base, pairs, models["plain"])}


def test_steps_per_epoch_equal_single_process(runs: dict[str, Any]) -> None:
    assert [r["plain"]["steps"] for r in runs["ranks"]] == [runs["single"]["steps"]] * 2
    assert runs["single"]["steps"] == EPOCHS * 3  # 46 examples, global batch 16


def test_losses_and_encoder_equal_single_process(runs: dict[str, Any]) -> None:
    want = runs["single"]
    for result in (r["plain"] for r in runs["ranks"]):
        worst = max(abs(a - b) for a, b in zip(result["losses"], want["losses"], strict=True))
        params = max(
            float((result["encoder"][n] - v).abs().max()) for n, v in want["encoder"].items()
        )
        print(f"over {len(want['losses'])} steps: loss {worst:.3g}, parameters {params:.3g}")
        assert worst <= 1e-10, worst
        assert params <= 1e-10, params
    assert abs(want["losses"][0] - want["losses"][-1]) > 1e-2  # it trained


@pytest.mark.parametrize("model", ["plain", "dropout"])
def test_one_gradient_sync_per_step(runs: dict[str, Any], model: str) -> None:
    first, second = (r[model] for r in runs["ranks"])
    for result in (first, second):
        assert result["syncs"] == result["steps"] == EPOCHS * 3  # 4 cached chunks each
    for name, value in first["encoder"].items():  # the ranks stay in step
        assert torch.equal(second["encoder"][name], value), name


def test_dropout_is_on(runs: dict[str, Any]) -> None:
    """The dropout run's first loss differs from the dropout-free one's (same
    weights, same batch): its masks were drawn."""
    plain, dropout = runs["ranks"][0]["plain"], runs["ranks"][0]["dropout"]
    assert abs(plain["losses"][0] - dropout["losses"][0]) > 1e-6


def test_rank_zero_alone_evaluates_and_both_get_the_single_process_metrics(
    runs: dict[str, Any],
) -> None:
    r0, r1 = (r["plain"] for r in runs["ranks"])
    assert (r0["task_evaluations"], r1["task_evaluations"]) == (1, 0)
    assert r0["metrics"] == r1["metrics"]
    want = runs["single"]["metrics"]
    held_out = [k for k in want if k.startswith(("test/", "validation/"))]
    assert held_out and runs["single"]["task_evaluations"] == 1
    for key in held_out:
        assert abs(r0["metrics"][key] - want[key]) <= 1e-9, key


def test_the_evaluation_encode_is_split_over_the_ranks_bit_for_bit(
    runs: dict[str, Any],
) -> None:
    r0, r1 = (r["plain"] for r in runs["ranks"])
    single = runs["single"]
    n = single["evaluated"].shape[0]
    assert single["encoded"] == n == 128  # one process encodes every text once
    assert (r0["encoded"], r1["encoded"]) == (72, 56)  # batches 0, 2, 4 and 1, 3, 5
    for result in (r0, r1):  # the gathered embedding, on every rank: a whole encode's
        assert torch.equal(result["evaluated"], result["whole"])
    assert torch.equal(r0["evaluated"], r1["evaluated"])
    # against one process (its weights equal the ranks' to 1e-10: the steps' rounding)
    gap = float((r0["evaluated"] - single["evaluated"]).abs().max())
    print(f"embedding: 2 ranks against one process {gap:.3g}")
    assert gap <= 1e-9, gap
