"""A run killed with SIGKILL and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from contrastkit.train.checkpoint import load_checkpoint

ARGS = [
    "--dataset",
    "karate",
    "--epochs",
    "150",
    "--batch-size",
    "16",
    "--dim",
    "4",
    "--no-progress",
    "--no-report",
    "--set",
    "output.checkpoint_every=40",
    "--set",
    "eval.every_epochs=50",
    "--set",
    "loop.burn_in_epochs=3",
    "--set",
    "loop.num_threads=1",
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "contrastkit.cli", "train", *args]


def _final_embedding(run_dir: Path) -> torch.Tensor:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")["trainer"]
    assert state["epoch"] == 150
    (weight,) = [v for k, v in state["encoder"].items() if k.endswith("weight")]
    return weight


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume_is_bit_identical(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    straight = tmp_path / "straight"
    subprocess.run(
        _cli(*ARGS, "--run-dir", str(straight)), check=True, env=env, capture_output=True
    )

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(*ARGS, "--run-dir", str(killed)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 600  # generous: on a loaded machine the run starts slowly
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = load_checkpoint(ckpt)["trainer"]["step"]
    assert 0 < step_at_kill < 150 * 10

    resumed = subprocess.run(
        _cli("--resume", str(killed), "--no-progress"), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert torch.equal(_final_embedding(killed), _final_embedding(straight))


def test_resume_with_another_learning_rate_uses_it(tmp_path: Path) -> None:
    from contrastkit.train.config import DEFAULT_RECIPE, load_config, resume_config
    from contrastkit.train.run import train

    base = ["data.name=karate", "loop.epochs=2", "loop.progress=false", "output.report=false"]
    base += ["optim.lr_schedule=constant", "loop.burn_in_epochs=0", "encoder.dim=4"]
    train(load_config(DEFAULT_RECIPE, [*base, f"output.run_dir={tmp_path}", "optim.lr=5.0"]))
    config = resume_config(tmp_path, ["loop.epochs=3", "optim.lr=0.5"])
    trainer = train(config, resume=True)
    assert trainer.epoch == 3
    lrs = {g["lr"] for g in trainer.schedules.optimizer.param_groups}
    assert lrs == {0.5}, lrs
