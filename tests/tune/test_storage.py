"""Storage URLs, the SQLite-with-workers refusal, and failing a dead worker's trials."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from contrastkit.tune.storage import (
    check_workers,
    default_storage,
    existing_default_storage,
    fail_orphaned_trials,
    open_storage,
    parse_storage,
)
from contrastkit.typed_config import ConfigError


@pytest.mark.parametrize(
    ("text", "kind", "url"),
    [
        ("sqlite:///a/b.db", "sqlite", "sqlite:///a/b.db"),
        ("journal:runs/s.journal", "journal", "runs/s.journal"),
        ("journal:///tmp/s.journal", "journal", "/tmp/s.journal"),
        ("runs/s.journal", "journal", "runs/s.journal"),
        ("postgresql://u@h/db", "postgresql", "postgresql://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql", "postgresql+psycopg2://u@h/db"),
        ("postgres://u@h/db", "postgresql", "postgresql://u@h/db"),
    ],
)
def test_storage_urls(text: str, kind: str, url: str) -> None:
    spec = parse_storage(text)
    assert (spec.kind, spec.url) == (kind, url)


@pytest.mark.parametrize("text", ["", "mysql://u@h/db", "study.db", "journal:"])
def test_unknown_storages_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--storage"):
        parse_storage(text)


def test_passwords_are_not_printed() -> None:
    spec = parse_storage("postgresql://me:secret@db.example/tune")
    assert "secret" not in spec.describe()
    assert spec.describe() == "postgresql://me:***@db.example/tune"


def test_sqlite_is_refused_for_several_workers_saying_why(tmp_path: Path) -> None:
    check_workers(parse_storage("sqlite:///x.db"), 1)
    check_workers(parse_storage("journal:x.journal"), 4)
    with pytest.raises(ConfigError, match="database is locked") as err:
        check_workers(parse_storage("sqlite:///x.db"), 2)
    assert "journal:FILE" in str(err.value)
    assert default_storage(tmp_path, 1).kind == "sqlite"
    assert default_storage(tmp_path, 2).kind == "journal"


def test_the_existing_default_storage_is_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no study storage"):
        existing_default_storage(tmp_path)
    (tmp_path / "study.journal").touch()
    assert existing_default_storage(tmp_path).kind == "journal"
    (tmp_path / "study.db").touch()
    with pytest.raises(ConfigError, match="both"):
        existing_default_storage(tmp_path)


def test_a_running_trial_of_a_dead_worker_is_failed(tmp_path: Path) -> None:
    storage = open_storage(parse_storage(f"journal:{tmp_path / 's.journal'}"))
    study = optuna.create_study(storage=storage, study_name="s")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    orphan, alive, elsewhere = study.ask(), study.ask(), study.ask()
    orphan.set_user_attr("worker", f"{host}:{dead.pid}")
    alive.set_user_attr("worker", f"{host}:{os.getpid()}")
    elsewhere.set_user_attr("worker", f"another-host:{dead.pid}")  # cannot be checked here
    assert fail_orphaned_trials(study) == [orphan.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {
        orphan.number: TrialState.FAIL,
        alive.number: TrialState.RUNNING,
        elsewhere.number: TrialState.RUNNING,
    }
    assert "died" in study.get_trials()[orphan.number].user_attrs["failure"]


def test_a_database_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = parse_storage(f"postgresql+psycopg2://u@127.0.0.1:{port}/db")
    with pytest.raises(ConfigError, match="cannot be opened") as err:
        open_storage(spec)
    assert "\n" not in str(err.value)
    (tmp_path / "bad.db").write_text("not a database")
    with pytest.raises(ConfigError, match="cannot be opened"):
        open_storage(parse_storage(f"sqlite:///{tmp_path / 'bad.db'}"))
