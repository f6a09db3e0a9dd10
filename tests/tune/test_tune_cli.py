"""``contrastkit tune`` end to end in one process (SQLite): trials, their run
directories and attributes, ``tune best`` reproduced by ``contrastkit train``, the
study report, continuing a study, and bad input as one-line errors (exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from contrastkit.cli import main
from tests.tune.conftest import tiny_config_file

SEARCH = {
    "optim.lr": {"float": [0.003, 0.1], "log": True},
    "miner.num_negatives": {"int": [2, 8]},
}


def _study(root: Path, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'study' / 'study.db'}")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-trial study of the tiny config (seed 5), run once for the module."""
    root = tmp_path_factory.mktemp("tuned")
    config = tiny_config_file(root, SEARCH)
    assert main(["tune", "--config", str(config), "--trials", "3", "--seed", "5"]) == 0
    return root


def test_trials_run_in_their_directories_with_their_seeds(tuned: Path) -> None:
    study = _study(tuned)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        run_dir = Path(trial.user_attrs["run_dir"])
        assert run_dir == tuned / "study" / f"trial_{trial.number:04d}"
        config = yaml.safe_load(trial.user_attrs["config"])
        assert config["loop"]["seed"] == 5 + trial.number
        assert config["optim"]["lr"] == trial.params["optim.lr"]
        assert config["miner"]["num_negatives"] == trial.params["miner.num_negatives"]
        assert config["search"] == {}
        final = json.loads((run_dir / "final_metrics.json").read_text())
        assert trial.value == final["train/map"]
        # the monitor was reported at every evaluation (epochs 2, 4, 6)
        assert sorted(trial.intermediate_values) == [2, 4, 6]
        assert trial.intermediate_values[6] == trial.value
    assert len({t.params["optim.lr"] for t in trials}) == 3


def test_best_config_reproduces_the_best_trial(tuned: Path, capsys: pytest.CaptureFixture) -> None:
    best_yaml = tuned / "best.yaml"
    code = main(["tune", "best", "--config", str(tuned / "tiny.yaml"), "--out", str(best_yaml)])
    assert code == 0
    best = _study(tuned).best_trial
    assert f"best trial {best.number}" in capsys.readouterr().out
    assert yaml.safe_load(best_yaml.read_text())["search"] == {}
    assert main(["train", "--config", str(best_yaml), "--no-report"]) == 0
    final = json.loads((tuned / "study" / "best" / "final_metrics.json").read_text())
    assert abs(final["train/map"] - best.value) <= 1e-6
    assert (tuned / "study" / f"trial_{best.number:04d}" / "final_metrics.json").is_file()


def test_the_study_report_has_its_plots(tuned: Path) -> None:
    page = (tuned / "study" / "study_report.html").read_text()
    for heading in ("Optimisation history", "Parameter importances", "Parallel coordinates"):
        assert heading in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 4
    assert "Omitted" not in page


def test_a_study_is_continued_with_the_same_settings_and_refused_with_others(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = str(tiny_config_file(tmp_path, SEARCH))
    assert main(["tune", "init", "--config", config]) == 0
    assert main(["tune", "--config", config, "--trials", "1"]) == 0
    assert main(["tune", "--config", config, "--trials", "1"]) == 0
    assert [t.number for t in _study(tmp_path).get_trials()] == [0, 1]
    capsys.readouterr()
    assert main(["tune", "--config", config, "--trials", "1", "--sampler", "random"]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists with other settings (sampler)" in err and "\n" not in err


def test_train_with_a_search_block_trains_its_own_values(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tiny_config_file(tmp_path, SEARCH)
    assert main(["train", "--config", str(config), "--no-report"]) == 0
    assert "search: block (2 keys) is for `contrastkit tune`" in capsys.readouterr().err


def _error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_bad_usage_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = str(tiny_config_file(tmp_path, SEARCH))
    plain = tiny_config_file(tmp_path, {}, name="plain")
    assert "needs --config" in _error(capsys, "tune", "--trials", "2")
    assert "needs --trials" in _error(capsys, "tune", "--config", config)
    assert "--trials must be > 0" in _error(capsys, "tune", "--config", config, "--trials", "0")
    assert "database is locked" in _error(
        capsys, "tune", "--config", config, "--trials", "2", "--workers", "2",
        "--storage", f"sqlite:///{tmp_path / 'x.db'}",
    )  # fmt: skip
    assert "optim.lr is a float range" in _error(
        capsys, "tune", "--config", config, "--trials", "2", "--sampler", "grid"
    )
    assert "no search block" in _error(capsys, "tune", "--config", str(plain), "--trials", "1")
    assert "invalid choice" in _error(capsys, "tune", "--config", config, "--pruner", "x")
    assert "set when the study is created" in _error(
        capsys, "tune", "worker", "--config", config, "--trials", "1", "--seed", "3"
    )
    assert "no study storage" in _error(capsys, "tune", "best", "--config", config, "--out", "b")
    journal = f"journal:{tmp_path / 's.journal'}"
    assert "no study 'nope'" in _error(
        capsys, "tune", "worker", "--storage", journal, "--study-name", "nope", "--trials", "1"
    )


def test_an_unknown_monitor_is_an_error_before_the_first_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    typo_file = tiny_config_file(tmp_path, SEARCH, name="typo")
    typo_file.write_text(typo_file.read_text().replace("monitor: train/map", "monitor: train/mapp"))
    typo = str(typo_file)
    assert "did you mean train/map?" in _error(capsys, "tune", "--config", typo, "--trials", "1")
    # a name the relations kind can report, but this run (no link split) never does
    silent = str(tiny_config_file(tmp_path, SEARCH, "eval.monitor=test/auc", name="silent"))
    err = _error(capsys, "tune", "--config", silent, "--trials", "1")
    assert "eval.monitor 'test/auc' is not among the metrics this run reports" in err
    assert not (tmp_path / "study" / "trial_0000").exists()


def test_timeout_stops_starting_trials(tmp_path: Path) -> None:
    config = str(tiny_config_file(tmp_path, SEARCH, "loop.epochs=2"))
    assert main(["tune", "--config", config, "--trials", "5", "--timeout", "0.001"]) == 0
    assert len(_study(tmp_path).get_trials()) == 1  # the running trial ends, no other starts
