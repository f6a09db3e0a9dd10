"""The trainer on 2 gloo ranks (DDP, the distributed sampler, rank-0 files).

* A 52-step run's loss curve (rank 0's metrics.jsonl, losses averaged over ranks)
  equals one process trained on the same global batches to 1e-6.
* A run killed right after its checkpoint at step 25 and resumed in fresh processes
  ends with the encoder of the uninterrupted run bit for bit, and logs the same
  losses after the resume.
* Only rank 0 writes the run directory (every step logged once).
* The ranks split the ranking by anchors and rank 0 alone does the rest of the
  evaluation; every rank receives the same metrics (the same early-stopping state
  everywhere), equal to the single-process run's and, exactly, to a single process's
  evaluation of the final encoder.
* A run under PCGrad (each objective's gradient averaged over ranks, then projected;
  the step-level equality with conflicting objectives is tests/dist/test_pcgrad_ddp.py)
  equals single-process PCGrad on the combined batches, loss curve and encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from contrastkit.train.distributed_sampler import DistributedBatchSampler
from contrastkit.train.progress import MetricsWriter
from contrastkit.train.trainer import Trainer
from tests.dist.spawn import run_ranks
from tests.dist.trainer_workers import (
    PCGRAD,
    budget_run,
    config_for,
    eval_records,
    interrupted,
    losses,
    resume,
)

STOP_AT = 25


@pytest.fixture(scope="module")
def runs(default_ranks: tuple[Path, list[dict[str, Any]]]) -> dict[str, Any]:
    base, results = default_ranks  # run A, spawned with the step-level checks (conftest)
    return {"base": base, "a": [r["a"] for r in results]}


@pytest.fixture(scope="module")
def resumed(runs: dict[str, Any]) -> list[dict[str, Any]]:
    base = runs["base"]
    run_ranks(interrupted, base, str(base), STOP_AT)
    return run_ranks(resume, base, str(base))


def single_process_run(run_dir: Path, *extra: str) -> Trainer:
    """Run A's config (plus ``extra``) in one process on the same global batches."""
    config = config_for(run_dir, *extra)
    trainer = Trainer(config, run_dir)
    n = trainer.task.num_examples()
    trainer.use_sampler(DistributedBatchSampler(n, config.loop.batch_size, 1, 0, config.loop.seed))
    run_dir.mkdir(parents=True)
    with MetricsWriter(run_dir / "metrics.jsonl") as writer:
        trainer.fit(writer)
    return trainer


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run A in one process: its run directory."""
    run_dir = tmp_path_factory.mktemp("single") / "run"
    single_process_run(run_dir)
    return run_dir


def test_loss_curve_equals_single_process(runs: dict[str, Any], single: Path) -> None:
    got = runs["a"][0]["losses"]
    want = losses(single)
    assert len(got) >= 50 and sorted(got) == sorted(want)
    worst = max(abs(got[s] - want[s]) for s in want)
    print(f"largest loss difference over {len(want)} steps: {worst:.3g}")
    assert worst <= 1e-6, worst
    assert abs(want[1] - want[len(want)]) > 1e-2  # it trained


def test_ranks_hold_the_same_encoder(runs: dict[str, Any]) -> None:
    a0, a1 = (r["encoder"] for r in runs["a"])
    for name in a0:
        assert torch.equal(a0[name], a1[name]), name


@pytest.mark.slow
def test_kill_and_resume_is_bit_identical(
    runs: dict[str, Any], resumed: list[dict[str, Any]]
) -> None:
    full = runs["a"][0]
    for rank, result in enumerate(resumed):
        assert result["step"] == full["step"]
        for name, value in full["encoder"].items():
            assert torch.equal(result["encoder"][name], value), (rank, name)
    got, want = resumed[0]["losses"], full["losses"]
    assert sorted(got) == sorted(want)
    assert all(got[s] == want[s] for s in want if s > STOP_AT)


def test_only_rank_zero_writes(runs: dict[str, Any]) -> None:
    a = runs["base"] / "a"
    assert {"config.yaml", "metrics.jsonl", "final_metrics.json", "checkpoints"} <= {
        p.name for p in a.iterdir()
    }
    assert not [p for p in a.rglob("*") if ".tmp-" in p.name]


@pytest.mark.slow
def test_time_budget_stops_every_rank_at_one_step(tmp_path: Path) -> None:
    steps = run_ranks(budget_run, tmp_path, str(tmp_path))
    assert steps[0] == steps[1] < 50 * 13  # no rank left waiting in a collective


def test_ranks_split_the_ranking_and_rank_zero_does_the_rest(runs: dict[str, Any]) -> None:
    steps = [r["step"] for r in eval_records(runs["base"] / "a")]
    assert len(steps) == 4  # the end of each of the 4 epochs
    a0, a1 = runs["a"]
    # rank 0 alone: the validation loss, the training-loss record, the probe
    assert a0["measured"] == steps and a1["measured"] == []
    assert a0["probes"] == 4 and a1["probes"] == 0
    # the reconstruction ranking of each evaluation: every anchor once, half each
    assert len(a0["ranked"]) == len(a1["ranked"]) == 4
    for (n0, total), (n1, total1) in zip(a0["ranked"], a1["ranked"], strict=True):
        assert total == total1 == 34 and n0 + n1 == total and abs(n0 - n1) <= 1


def test_every_rank_decides_from_the_same_metrics(runs: dict[str, Any]) -> None:
    a0, a1 = runs["a"]
    assert a0["final_metrics"] == a1["final_metrics"]
    assert a0["stopper"] == a1["stopper"]
    assert a0["stopper"]["best"] == max(r["train/map"] for r in eval_records(runs["base"] / "a"))


def test_metrics_equal_single_process(runs: dict[str, Any], single: Path, tmp_path: Path) -> None:
    got, want = eval_records(runs["base"] / "a"), eval_records(single)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert sorted(g) == sorted(w)
        for key, value in w.items():
            if isinstance(value, float):
                assert abs(g[key] - value) <= 1e-6, (g["step"], key, g[key], value)
            else:
                assert g[key] == value, key
    # the final encoder evaluated by one process gives the metrics every rank received
    trainer = Trainer(config_for(tmp_path / "eval"), tmp_path / "eval")
    trainer.encoder.load_state_dict(runs["a"][0]["encoder"])
    final = runs["a"][1]["final_metrics"]
    for key, value in trainer.evaluate().items():
        # a shard's per-anchor AP may round differently in its last bit (its tile)
        assert abs(final[key] - value) <= (1e-15 if key.endswith("map") else 0.0), key


def test_pcgrad_equals_single_process_pcgrad(
    default_ranks: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    got = [r["pcgrad"] for r in default_ranks[1]]
    single = single_process_run(tmp_path / "single", *PCGRAD)
    want = losses(tmp_path / "single")
    curve = got[0]["losses"]
    assert len(curve) >= 26 and sorted(curve) == sorted(want)
    worst = max(abs(curve[s] - want[s]) for s in want)
    assert worst <= 1e-6, worst
    for name, value in single.encoder.state_dict().items():
        assert torch.equal(got[0]["encoder"][name], got[1]["encoder"][name]), name
        assert torch.allclose(got[0]["encoder"][name], value, rtol=0, atol=1e-5), name
