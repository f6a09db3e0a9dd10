"""Workers: one runs trials in its own process; :func:`launch_workers` starts several.

A worker runs ``trials`` trials of an existing study (Optuna's ``n_trials``: per
process), or fewer when ``timeout`` seconds have passed or a grid is exhausted.
``contrastkit tune --workers W --trials N`` shares the N trials out among W worker
processes (``N // W``, the first ``N % W`` one more), so that the study ends with
exactly N trials; a grid caps N at its size.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from contrastkit.tune.objective import Objective, trial_failures
from contrastkit.tune.storage import StorageSpec, fail_orphaned_trials, open_storage
from contrastkit.tune.study import load_study


def run_worker(
    spec: StorageSpec,
    name: str,
    *,
    trials: int,
    timeout: float | None = None,
    worker_index: int = 0,
) -> Any:
    """Run ``trials`` trials of study ``name`` in this process; returns the study.

    First, trials left RUNNING by a dead worker are failed: on a journal or SQLite
    file, those of this host whose process is gone
    (:func:`~.storage.fail_orphaned_trials`); on PostgreSQL, Optuna fails those whose
    heartbeat stopped, and retries them, when :meth:`optuna.Study.optimize` starts.
    """
    import optuna

    optuna.logging.set_verbosity(logging.INFO)
    storage = open_storage(spec)
    study, settings = load_study(storage, name, worker_index)
    if spec.heartbeat:  # the study's heartbeat, which the first opening could not know
        storage = open_storage(spec, settings.heartbeat_s)
        study, settings = load_study(storage, name, worker_index)
    else:
        for number in fail_orphaned_trials(study):
            print(f"contrastkit: trial {number} failed: its worker died", file=sys.stderr)
    if trials <= 0:
        return study
    objective = Objective(settings)
    study.optimize(
        objective,
        n_trials=trials,
        timeout=timeout,
        catch=trial_failures(),
        gc_after_trial=True,
    )
    return study


def share_trials(trials: int, workers: int) -> list[int]:
    """``trials`` split among ``workers``: ``trials // workers`` each, the first
    ``trials % workers`` one more (zeros dropped)."""
    base, extra = divmod(trials, workers)
    return [n for n in (base + (i < extra) for i in range(workers)) if n > 0]


def worker_command(
    spec: StorageSpec, name: str, trials: int, worker_index: int, timeout: float | None
) -> list[str]:
    storage = spec.describe() if spec.kind == "journal" else spec.url
    command = [sys.executable, "-m", "contrastkit.cli", "tune", "worker"]
    command += ["--storage", storage, "--study-name", name, "--trials", str(trials)]
    command += ["--worker-index", str(worker_index)]
    if timeout is not None:
        command += ["--timeout", repr(timeout)]
    return command


def launch_workers(
    spec: StorageSpec, name: str, shares: Sequence[int], timeout: float | None = None
) -> list[int]:
    """Start one worker process per share (``contrastkit tune worker``), wait for all;
    returns their exit codes. Interrupted, the workers are stopped too."""
    env = dict(os.environ)
    procs = [
        subprocess.Popen(worker_command(spec, name, n, i, timeout), env=env)
        for i, n in enumerate(shares)
    ]
    try:
        return [p.wait() for p in procs]
    except BaseException:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
