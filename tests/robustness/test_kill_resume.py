"""SIGKILL a training run at random moments, resume it, and end bit-identical to a run
that was never interrupted — with no temporary file left and no checkpoint corrupt.

Each trial starts ``contrastkit train`` in a subprocess, kills it after a delay drawn
uniformly over the uninterrupted run's wall time (stratified: trial ``i`` of ``n``
draws from the ``i``-th ``n``-th of it, so early, middle and late kills all occur;
checkpoints every 3 steps), and one or more kills the moment a checkpoint's temporary
file appears after a random delay (during a checkpoint write), checks that
the checkpoint left behind (if any) loads, then ``contrastkit train --resume``. A kill
before the first checkpoint leaves nothing to resume: the resume must say so (exit 2,
no checkpoint) and the trial starts the run afresh. A kill after the run finished
resumes to "already finished". Either way the final encoder weights and final metrics
must equal the uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from contrastkit.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

COMMON = ["--no-progress", "--no-report", "--set", "output.checkpoint_every=3"]
COMMON += ["--set", "loop.num_threads=1"]
# the default recipe on the karate club: a Poincaré table, the sparse RSGD step, mixed
# mining with a refreshed pool, a burn-in; 10 steps an epoch
TABLE = ["--dataset", "karate", "--batch-size", "16", "--dim", "4"]
TABLE += ["--set", "eval.every_epochs=4", "--set", "burn_in.epochs=2"]
# an MLP over identity features: the autograd step, Adam, cosine InfoNCE; 5 steps an epoch
MLP = ["--dataset", "karate", "--batch-size", "32", "--dim", "8", "--lr", "0.01"]
for _kv in (
    "encoder.kind=mlp",
    "encoder.manifold=euclidean",
    "encoder.hidden=16",
    "objective.distance=cosine",
    "objective.temperature=0.2",
    "optim.name=adam",
    "burn_in.epochs=0",
    "miner.num_negatives=8",
    "miner.strategy=random",
    "eval.every_epochs=5",
):
    MLP += ["--set", _kv]

RUN_TIMEOUT = 300  # seconds; generous for a loaded 2-core machine, never a hang
ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "contrastkit.cli", "train", *args]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli(*args), env=ENV, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def _temporaries(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob(".*.tmp-*") if p.is_file())


@dataclass
class Finished:
    weights: dict[str, torch.Tensor]
    metrics: dict[str, float]
    step: int


def _finished(run_dir: Path) -> Finished:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")["trainer"]
    metrics = json.loads((run_dir / "final_metrics.json").read_text())
    return Finished(dict(state["encoder"]), metrics, int(state["step"]))


def _straight(args: list[str], run_dir: Path) -> tuple[Finished, float]:
    start = time.perf_counter()
    done = _run(*args, "--run-dir", str(run_dir))
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    return _finished(run_dir), elapsed


def _kill_during_a_write(proc: subprocess.Popen[bytes], run_dir: Path, after: float) -> None:
    """SIGKILL ``proc`` as soon as a checkpoint's temporary file is seen ``after``
    seconds or later."""
    folder = run_dir / "checkpoints"
    try:
        proc.wait(timeout=after)
        return
    except subprocess.TimeoutExpired:
        pass
    deadline = time.perf_counter() + RUN_TIMEOUT
    while proc.poll() is None and time.perf_counter() < deadline:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            time.sleep(0.001)
            continue
        if any(".tmp-" in name for name in names):
            break
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)


def _trial(
    args: list[str], run_dir: Path, delay: float, want: Finished, *, at_write: bool = False
) -> str:
    """One kill at ``delay`` seconds (``at_write``: during the first checkpoint write
    seen from then on), the resume, the checks; returns what happened."""
    proc = subprocess.Popen(
        _cli(*args, "--run-dir", str(run_dir)),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if at_write:
            _kill_during_a_write(proc, run_dir, delay)
        else:
            proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL)
    during_write = bool(_temporaries(run_dir))
    ckpt = run_dir / "checkpoints" / "last.pt"
    at_kill = None
    if ckpt.exists():
        at_kill = int(load_checkpoint(ckpt)["trainer"]["step"])  # never half a file

    resumed = _run("--resume", str(run_dir), "--no-progress")
    if at_kill is None:
        # nothing to resume: said in one line (no config.yaml yet, or no checkpoint)
        assert resumed.returncode == 2, resumed.stderr
        assert "cannot resume" in resumed.stderr and "Traceback" not in resumed.stderr
        fresh = _run(*args, "--run-dir", str(run_dir))
        assert fresh.returncode == 0, fresh.stderr
        outcome = "fresh start"
    else:
        assert resumed.returncode == 0, resumed.stderr
        finished = "already finished" in resumed.stderr
        assert finished == (at_kill == want.step), resumed.stderr
        if not finished:
            assert f"from step {at_kill} " in resumed.stderr, resumed.stderr
        outcome = "after the end" if finished else f"resumed from step {at_kill}"
    if during_write:
        outcome += ", killed mid-write"

    assert _temporaries(run_dir) == [], outcome
    got = _finished(run_dir)
    assert got.weights.keys() == want.weights.keys()
    for name, value in want.weights.items():
        assert torch.equal(got.weights[name], value), f"{name} differs ({outcome})"
    assert got.metrics == want.metrics, outcome
    assert got.step == want.step
    return outcome


def _kill_trials(
    tmp_path: Path, args: list[str], trials: int, seed: int, mid_write: int = 1
) -> list[str]:
    """``trials`` kills at random delays, then ``mid_write`` kills at the first
    checkpoint's temporary file seen after a random delay, each against one
    uninterrupted run."""
    want, duration = _straight(args, tmp_path / "straight")
    rng = random.Random(seed)
    outcomes = []
    for i in range(trials + mid_write):
        at_write = i >= trials
        delay = (i + rng.random()) / trials * duration if not at_write else rng.random() * duration
        outcome = _trial(args, tmp_path / f"trial{i}", delay, want, at_write=at_write)
        outcomes.append(f"{delay:.2f}s{', next write' if at_write else ''}: {outcome}")
    print(f"\n{len(outcomes)} kills over {duration:.2f}s:", *outcomes, sep="\n  ")
    return outcomes


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    start = time.perf_counter()
    args = [*TABLE, "--epochs", "20", *COMMON]
    outcomes = _kill_trials(tmp_path, args, trials=3, seed=0, mid_write=1)
    assert len(outcomes) == 4
    assert time.perf_counter() - start < 120  # about 20 s on an idle 2-core machine


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "args", "seed"),
    [("table", [*TABLE, "--epochs", "100"], 1), ("mlp", [*MLP, "--epochs", "160"], 2)],
)
def test_sigkill_many_times_then_resume(
    tmp_path: Path, name: str, args: list[str], seed: int
) -> None:
    outcomes = _kill_trials(tmp_path, [*args, *COMMON], trials=10, seed=seed, mid_write=3)
    # the kills must have exercised the resume, not only fresh starts
    assert any("resumed from step" in o for o in outcomes), outcomes
