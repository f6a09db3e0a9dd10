"""``torchrun --nproc_per_node=2 -m contrastkit train`` killed with SIGKILL at a random
moment and resumed with ``--resume`` ends bit-identical to the run never killed (the
encoder and the optimiser state of the last checkpoint, and the losses logged after
the resume). Slow: three 2-process runs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from contrastkit.train.checkpoint import load_checkpoint
from tests.dist.trainer_workers import KARATE_IN_BATCH

pytestmark = pytest.mark.slow


def _torchrun(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "contrastkit",
        "train",
        *args,
    ]


def _config_args(run_dir: Path) -> list[str]:
    out = ["--run-dir", str(run_dir)]
    for item in KARATE_IN_BATCH:
        out += ["--set", item]
    return out


def _env() -> dict[str, str]:
    src = str(Path(__file__).parents[2] / "src")
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}


def _losses(run_dir: Path) -> dict[int, float]:
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


def test_sigkill_and_resume_bit_identical(tmp_path: Path) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_torchrun(*_config_args(full)), env=_env(), check=True, capture_output=True)
    proc = subprocess.Popen(
        _torchrun(*_config_args(killed)),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: torchrun and both ranks
    )
    target = random.Random(os.getpid()).randint(8, 45)
    log = killed / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and log.read_text().count('"kind": "train"') >= target:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(
        _torchrun("--resume", str(killed)), env=_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    want = load_checkpoint(full / "checkpoints" / "last.pt")["trainer"]
    got = load_checkpoint(killed / "checkpoints" / "last.pt")["trainer"]
    assert got["step"] == want["step"]
    for name, value in want["encoder"].items():
        assert torch.equal(got["encoder"][name], value), name
    opt_want = want["schedules"]["optimizer"]["state"]
    opt_got = got["schedules"]["optimizer"]["state"]
    for key, state in opt_want.items():
        for field, value in state.items():
            assert torch.equal(torch.as_tensor(opt_got[key][field]), torch.as_tensor(value))
    assert _losses(killed) == _losses(full)
