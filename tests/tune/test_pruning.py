"""Pruning: a config whose learning rates run from far too small to far too large
(the large ones diverge to a poor embedding, the small ones barely move) is pruned by
the median pruner at its intermediate evaluations; with ``--pruner none`` nothing is."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from contrastkit.cli import main
from tests.tune.conftest import tiny_config_file

PRUNABLE = {"optim.lr": {"float": [1e-4, 10.0], "log": True}}
EVERY_EPOCH = ("loop.epochs=4", "eval.every_epochs=1")


def _tune(tmp_path: Path, trials: int, pruner: str) -> list[optuna.trial.FrozenTrial]:
    config = tiny_config_file(tmp_path, PRUNABLE, *EVERY_EPOCH)
    argv = ["tune", "--config", str(config), "--trials", str(trials), "--sampler", "random"]
    assert main([*argv, "--pruner", pruner]) == 0
    storage = f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    return optuna.load_study(study_name="tiny", storage=storage).get_trials()


def test_the_median_pruner_prunes_a_fifth_of_12_trials(tmp_path: Path) -> None:
    trials = _tune(tmp_path, 12, "median")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(trials) == 12
    assert len(pruned) >= 0.2 * 12, [(t.number, t.state.name, t.params) for t in trials]
    assert all(t.number >= 5 for t in pruned)  # MedianPruner's 5 start-up trials run out
    for trial in pruned:
        # stopped where the pruner said: fewer evaluations, no final metrics
        assert len(trial.intermediate_values) < 4
        assert trial.user_attrs["pruned_at_epoch"] == max(trial.intermediate_values)
        assert not (Path(trial.user_attrs["run_dir"]) / "final_metrics.json").exists()
        step = max(trial.intermediate_values)
        earlier = [
            t.intermediate_values[step]
            for t in trials
            if t.number < trial.number and step in t.intermediate_values
        ]
        # a pruned trial was worse than the median of those before it at that epoch
        assert trial.intermediate_values[step] < sorted(earlier)[len(earlier) // 2]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    print(f"{len(pruned)} of {len(trials)} trials pruned, {len(complete)} complete")
    for trial in complete:
        final = json.loads((Path(trial.user_attrs["run_dir"]) / "final_metrics.json").read_text())
        assert trial.value == final["train/map"]


@pytest.mark.slow
def test_without_a_pruner_every_trial_completes(tmp_path: Path) -> None:
    trials = _tune(tmp_path, 12, "none")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 12


@pytest.mark.slow
def test_hyperband_prunes_too(tmp_path: Path) -> None:
    trials = _tune(tmp_path, 12, "hyperband")
    assert [t for t in trials if t.state == TrialState.PRUNED]
