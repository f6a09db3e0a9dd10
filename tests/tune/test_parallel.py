"""Several worker processes on one study: a journal file, a PostgreSQL server, a grid
that no point of is run twice, and workers killed mid-trial (SIGKILL) whose trials
end FAILED (and, on PostgreSQL, are retried) instead of RUNNING for ever."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from contrastkit.cli import main
from contrastkit.tune.worker import share_trials
from tests.tune.conftest import tiny_config_file

SEARCH = {
    "optim.lr": {"float": [0.003, 0.1], "log": True},
    "miner.num_negatives": {"int": [2, 8]},
}
#: what a storage conflict between workers prints
CONFLICTS = ("database is locked", "IntegrityError", "UniqueViolation", "Traceback")


def _study(storage: str, name: str) -> optuna.Study:
    if storage.startswith("journal:"):
        from contrastkit.tune.storage import open_storage, parse_storage

        return optuna.load_study(study_name=name, storage=open_storage(parse_storage(storage)))
    return optuna.load_study(study_name=name, storage=storage)


def _tune(config: Path, storage: str, name: str, trials: int, *extra: str) -> None:
    argv = ["tune", "--config", str(config), "--storage", storage, "--study-name", name]
    assert main([*argv, "--trials", str(trials), "--workers", "2", *extra]) == 0


def _check_complete(study: optuna.Study, trials: int, err: str) -> None:
    states = [t.state for t in study.get_trials()]
    assert len(states) == trials
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}  # none FAILED or RUNNING
    assert TrialState.COMPLETE in states
    assert [t.number for t in study.get_trials()] == list(range(trials))
    workers = {t.user_attrs["worker"] for t in study.get_trials()}
    assert len(workers) == 2  # both processes ran trials
    assert not [c for c in CONFLICTS if c in err], err[-2000:]
    counts = {s.name: states.count(s) for s in set(states)}
    print(f"{trials} trials over {len(workers)} workers: {counts}, no storage conflicts")


def _grid(tmp_path: Path, lrs: list[float], negatives: list[int], trials: int) -> None:
    search = {"optim.lr": {"choice": lrs}, "miner.num_negatives": {"choice": negatives}}
    config = tiny_config_file(tmp_path, search, "loop.epochs=2")
    storage = f"journal:{tmp_path / 'grid.journal'}"
    _tune(config, storage, "grid", trials, "--sampler", "grid", "--pruner", "none")
    trials_run = _study(storage, "grid").get_trials()
    points = [(t.params["optim.lr"], t.params["miner.num_negatives"]) for t in trials_run]
    assert all(t.state == TrialState.COMPLETE for t in trials_run)
    assert sorted(points) == sorted(itertools.product(lrs, negatives))  # each exactly once
    print(f"{len(points)} trials, {len(set(points))} distinct grid points")


def test_trials_are_shared_out_exactly() -> None:
    assert share_trials(20, 2) == [10, 10]
    assert share_trials(7, 3) == [3, 2, 2]
    assert share_trials(2, 4) == [1, 1]
    assert all(sum(share_trials(n, w)) == n for n in range(1, 30) for w in range(1, 6))


def test_two_workers_run_each_grid_point_once(tmp_path: Path) -> None:
    # 10 trials asked, the grid's 4 points run
    _grid(tmp_path, [0.003, 0.03], [2, 4], 10)


def test_a_study_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """One worker in this process (two run in the slow tests): trials, best, report."""
    config = tiny_config_file(tmp_path, SEARCH, "loop.epochs=2")
    argv = ["--storage", postgres_url, "--study-name", "pg_small"]
    assert main(["tune", "--config", str(config), "--trials", "2", *argv]) == 0
    study = _study(postgres_url, "pg_small")
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
    best = tmp_path / "best.yaml"
    assert main(["tune", "best", *argv, "--out", str(best)]) == 0
    assert f"trial {study.best_trial.number}" in best.read_text()
    assert main(["tune", "report", *argv, "--out", str(tmp_path / "r.html")]) == 0
    assert "Optimisation history" in (tmp_path / "r.html").read_text()


@pytest.mark.slow
def test_two_workers_20_trials_on_postgresql(
    tmp_path: Path, postgres_url: str, capfd: pytest.CaptureFixture
) -> None:
    config = tiny_config_file(tmp_path, SEARCH)
    _tune(config, postgres_url, "pg20", 20)
    _check_complete(_study(postgres_url, "pg20"), 20, capfd.readouterr().err)


@pytest.mark.slow
def test_two_workers_20_trials_on_a_journal(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    config = tiny_config_file(tmp_path, SEARCH)
    storage = f"journal:{tmp_path / 'j.journal'}"
    _tune(config, storage, "j20", 20)
    _check_complete(_study(storage, "j20"), 20, capfd.readouterr().err)


@pytest.mark.slow
def test_two_workers_run_each_point_of_a_12_point_grid_once(tmp_path: Path) -> None:
    _grid(tmp_path, [0.003, 0.01, 0.03, 0.1], [2, 4, 8], 12)


def _worker(storage: str, name: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "contrastkit.cli", "tune", "worker", "--storage", storage]
    return subprocess.Popen(
        [*command, "--study-name", name, "--trials", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_mid_trial(storage: str, name: str) -> int:
    """Start a worker, SIGKILL it once its trial has trained a while; the trial's number."""
    worker = _worker(storage, name)
    deadline = time.monotonic() + 120
    running: list[optuna.trial.FrozenTrial] = []
    while not running:
        assert worker.poll() is None and time.monotonic() < deadline, "the worker never started"
        time.sleep(0.2)
        running = _study(storage, name).get_trials(states=(TrialState.RUNNING,))
    metrics = Path(_wait_attr(storage, name, running[0].number, "run_dir")) / "metrics.jsonl"
    while not metrics.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    return running[0].number


def _wait_attr(storage: str, name: str, number: int, attr: str) -> str:
    for _ in range(600):
        trial = _study(storage, name).get_trials()[number]
        if attr in trial.user_attrs:
            return str(trial.user_attrs[attr])
        time.sleep(0.1)
    raise AssertionError(f"trial {number} never set {attr}")


# each trial trains for 6 s of its time budget (then evaluates): long enough to be killed
LONG = ("loop.epochs=100000", "loop.time_budget_s=6", "eval.every_epochs=100000")


@pytest.mark.slow
def test_a_killed_worker_on_postgresql_fails_and_its_trial_is_retried(
    tmp_path: Path, postgres_url: str
) -> None:
    config = tiny_config_file(tmp_path, SEARCH, *LONG)
    argv = ["tune", "init", "--config", str(config), "--storage", postgres_url]
    assert main([*argv, "--study-name", "kill", "--heartbeat", "1", "--pruner", "none"]) == 0
    killed = _kill_mid_trial(postgres_url, "kill")
    assert _study(postgres_url, "kill").get_trials()[killed].state == TrialState.RUNNING
    time.sleep(3)  # past the grace period (2 heartbeats)
    second = _worker(postgres_url, "kill")
    assert second.wait(timeout=300) == 0, second.stderr.read() if second.stderr else ""
    trials = _study(postgres_url, "kill").get_trials()
    assert trials[killed].state == TrialState.FAIL
    retried = [t for t in trials if t.number > killed]
    assert [t.state for t in retried] == [TrialState.COMPLETE]  # numbering continues
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    retry = retry or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        assert retry.retried_trial_number(retried[0]) == killed
    assert retried[0].params == trials[killed].params
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.slow
def test_a_killed_worker_on_a_journal_fails_its_trial(tmp_path: Path) -> None:
    config = tiny_config_file(tmp_path, SEARCH, *LONG)
    storage = f"journal:{tmp_path / 'k.journal'}"
    argv = ["tune", "init", "--config", str(config), "--storage", storage]
    assert main([*argv, "--study-name", "kill", "--pruner", "none"]) == 0
    killed = _kill_mid_trial(storage, "kill")
    second = _worker(storage, "kill")
    assert second.wait(timeout=300) == 0, second.stderr.read() if second.stderr else ""
    trials = _study(storage, "kill").get_trials()
    assert trials[killed].state == TrialState.FAIL
    assert "died" in trials[killed].user_attrs["failure"]
    assert [t.state for t in trials if t.number > killed] == [TrialState.COMPLETE]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
