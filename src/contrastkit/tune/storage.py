"""Where a study lives: an SQLite file, a journal file, or a PostgreSQL database.

========================  ==============================  ============================
``--storage``             Optuna storage                  for
========================  ==============================  ============================
``sqlite:///study.db``    ``RDBStorage``                  one worker (the default)
``journal:study.journal`` ``JournalStorage`` over a       several workers on one host
                          ``JournalFileBackend``
``postgresql://...``      ``RDBStorage`` with heartbeats  workers on many hosts
                          and a retry callback
========================  ==============================  ============================

SQLite takes a lock on the whole file for every write: parallel workers fail with
"database is locked" (Optuna's FAQ; optuna#820), so :func:`open_storage` refuses it
for more than one worker. A journal file is appended to under a file lock by any
number of processes on one host (a network file system's locks cannot be trusted,
hence one host). A database server serves many hosts; there a worker that dies
mid-trial stops its heartbeat, and the next worker to start marks the trial FAILED
and enqueues it again (``RetryHeartbeatStaleTrialCallback``, formerly
``RetryFailedTrialCallback``). A journal (and an SQLite file)
has no heartbeat: :func:`fail_orphaned_trials` fails the RUNNING trials whose worker
process on this host is gone.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contrastkit._process import process_alive
from contrastkit.typed_config import ConfigError

if TYPE_CHECKING:
    import optuna

JOURNAL_PREFIX = "journal:"
JOURNAL_SUFFIXES = (".journal", ".jsonl", ".log")
DEFAULT_HEARTBEAT_S = 60
#: how often a trial killed with its worker is enqueued again (PostgreSQL)
MAX_RETRY = 1


@dataclass(frozen=True)
class StorageSpec:
    """A parsed ``--storage``: ``kind`` ``"sqlite"``, ``"journal"`` or ``"postgresql"``;
    ``url`` the SQLAlchemy URL (RDB) or the journal file's path."""

    kind: str
    url: str

    @property
    def heartbeat(self) -> bool:
        """Whether trials of this storage send heartbeats (a database server's do; an
        SQLite file's heartbeat thread would contend for the file's one lock)."""
        return self.kind == "postgresql"

    def describe(self) -> str:
        if self.kind == "journal":
            return f"{JOURNAL_PREFIX}{self.url}"
        return _hide_password(self.url)


def _hide_password(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def parse_storage(text: str) -> StorageSpec:
    """``--storage`` read: ``sqlite:///PATH``, ``journal:PATH`` (or a path ending in
    ``.journal``/``.log``), ``postgresql://...`` (``postgresql+psycopg2://``, ...)."""
    value = text.strip()
    if not value:
        raise ConfigError("--storage must name a storage, got ''")
    if value.startswith(JOURNAL_PREFIX):
        path = value[len(JOURNAL_PREFIX) :]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ConfigError(f"--storage {text!r} names no journal file")
        return StorageSpec("journal", path)
    scheme = value.split("://", 1)[0].split("+", 1)[0] if "://" in value else ""
    if scheme == "sqlite":
        return StorageSpec("sqlite", value)
    if scheme in ("postgresql", "postgres"):
        if scheme == "postgres":  # SQLAlchemy knows only the long name
            value = "postgresql" + value[len("postgres") :]
        return StorageSpec("postgresql", value)
    if not scheme and value.endswith(JOURNAL_SUFFIXES):
        return StorageSpec("journal", value)
    raise ConfigError(
        f"--storage {text!r} is not a storage contrastkit tune knows: give sqlite:///FILE.db, "
        "journal:FILE.journal or postgresql://USER@HOST/DB"
    )


def default_storage(study_dir: Path, workers: int) -> StorageSpec:
    """An SQLite file for one worker, a journal file for several (in ``study_dir``)."""
    if workers > 1:
        return StorageSpec("journal", str(study_dir / "study.journal"))
    return StorageSpec("sqlite", f"sqlite:///{study_dir / 'study.db'}")


def existing_default_storage(study_dir: Path) -> StorageSpec:
    """The default storage a study in ``study_dir`` was written to (for ``tune best``,
    ``report``, ``worker`` without ``--storage``)."""
    found = [
        spec
        for spec in (default_storage(study_dir, 1), default_storage(study_dir, 2))
        if Path(spec.url.removeprefix("sqlite:///")).is_file()
    ]
    if len(found) != 1:
        what = "no" if not found else "both an SQLite and a journal"
        raise ConfigError(
            f"{what} study storage in {str(study_dir)!r} (study.db / study.journal); give --storage"
        )
    return found[0]


def check_workers(spec: StorageSpec, workers: int) -> None:
    """SQLite with more than one worker is refused (saying why and what to use)."""
    if workers > 1 and spec.kind == "sqlite":
        raise ConfigError(
            f"--workers {workers} with SQLite storage: SQLite locks the whole file on every "
            "write, so parallel workers fail with 'database is locked' (Optuna FAQ, optuna#820); "
            "use --storage journal:FILE for workers on one host, or postgresql://... for many"
        )


def open_storage(spec: StorageSpec, heartbeat_s: float = DEFAULT_HEARTBEAT_S) -> Any:
    """The Optuna storage of ``spec``. On PostgreSQL, trials record a heartbeat every
    ``heartbeat_s`` seconds; a RUNNING trial silent for twice that is failed and
    retried once when the next worker starts."""
    import optuna

    if spec.kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(spec.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if spec.kind == "sqlite":
        path = Path(spec.url.removeprefix("sqlite:///"))
        if spec.url.startswith("sqlite:///") and str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        return _rdb(spec, optuna.storages.RDBStorage, {})
    _check_driver(spec)
    interval = max(1, round(heartbeat_s))
    stale: dict[str, Any] = {}
    with warnings.catch_warnings():
        # heartbeats are "experimental" in Optuna since 2.8: said once here, not per worker
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
            stale["heartbeat_stale_trial_callback"] = retry
        else:
            retry = optuna.storages.RetryFailedTrialCallback(max_retry=MAX_RETRY)
            stale["failed_trial_callback"] = retry
        options = {"heartbeat_interval": interval, "grace_period": 2 * interval, **stale}
        # a server may drop idle connections between long trials
        options["engine_kwargs"] = {"pool_pre_ping": True}
        return _rdb(spec, optuna.storages.RDBStorage, options)


def _rdb(spec: StorageSpec, storage_class: Any, options: dict[str, Any]) -> Any:
    """``storage_class(spec.url, **options)``; a database that cannot be reached or
    read is a :class:`ConfigError` naming it, in one line."""
    import sqlalchemy.exc

    try:
        return storage_class(spec.url, **options)
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ConfigError(
            f"--storage {spec.describe()!r} cannot be opened: {lines[0] if lines else exc!r}"
        ) from None


def _check_driver(spec: StorageSpec) -> None:
    driver = spec.url.split("://", 1)[0].partition("+")[2] or "psycopg2"
    module = {"psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000"}.get(driver)
    if module is None:
        return
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(
            f"--storage {spec.describe()!r} needs the {module} driver: "
            'pip install "contrastkit[tune]"'
        ) from None


def worker_tag() -> str:
    """``host:pid`` of this process (a trial's ``worker`` user attribute)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_orphaned_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose worker (``host:pid`` user attribute) ran on this
    host and is gone: a journal's stand-in for the heartbeat. Returns their numbers."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = str(trial.user_attrs.get("worker", ""))
        where, _, pid = tag.rpartition(":")
        if where != host or not pid.isdigit() or process_alive(int(pid)):
            continue
        storage = study._storage
        storage.set_trial_user_attr(trial._trial_id, "failure", f"worker {tag} died")
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            failed.append(trial.number)
    return failed
