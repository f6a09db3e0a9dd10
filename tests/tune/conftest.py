"""A throwaway PostgreSQL server for the tune tests, and small tuning configs.

The session fixture :func:`postgres_url` starts a cluster of Debian's ``postgresql``
package (which the README's test command installs) in a temporary directory,
listening on loopback at a free port: ``initdb`` (run as the ``postgres`` user when
we are root: initdb refuses root), ``pg_ctl start``, ``createdb``; it is stopped and
removed at the end of the session. Tests that need it are skipped, with the reason,
only when no server can be started (no binaries, no driver, a failed start).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contrastkit.train.config import DEFAULT_RECIPE
from tests.karate_mlp import KARATE_MLP

#: a tiny relations run (the karate club under an MLP, ~0.3 s per trial)
TINY = [
    *KARATE_MLP,
    "loop.epochs=6",
    "eval.every_epochs=2",
    "miner.num_negatives=4",
]


def tiny_config_file(
    tmp_path: Path, search: dict[str, Any], *extra: str, name: str = "tiny"
) -> Path:
    """A config file: the default recipe under :data:`TINY` (and ``extra``), resolved,
    with the ``search`` block, its study directory ``tmp_path/study``."""
    from contrastkit.train.config import load_config
    from contrastkit.typed_config import dump_yaml, to_dict

    config = load_config(DEFAULT_RECIPE, [*TINY, f"output.run_dir={tmp_path / 'study'}", *extra])
    data = to_dict(config)
    data["search"] = search
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_yaml(data))
    return path


def _bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and createdb (Debian keeps them off PATH)."""
    tools = ("initdb", "pg_ctl", "createdb")
    found = shutil.which("pg_ctl")
    candidates = [Path(os.path.realpath(found)).parent] if found else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(d) for d in sorted(versions, key=lambda d: int(d.split("/")[-2]))[::-1]]
    return next((d for d in candidates if all((d / t).is_file() for t in tools)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(bin_dir: Path, root: Path) -> tuple[str, list[str]]:
    """Start a cluster in ``root``; returns (URL, the command prefix to run as)."""
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged user
        runner = shutil.which("runuser")
        if runner is None:
            raise RuntimeError("running as root and runuser (util-linux) is missing")
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            user = pwd.getpwnam("nobody")
        as_user = [runner, "-u", user.pw_name, "--"]
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        done = subprocess.run(
            [*as_user, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeError(f"{Path(command[0]).name} failed: {lines[-1] if lines else ''}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = str(root / "log")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "tune")
    except (RuntimeError, subprocess.TimeoutExpired):
        _stop(bin_dir, root, as_user)
        raise
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/tune", as_user


def _stop(bin_dir: Path, root: Path, as_user: list[str]) -> None:
    subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a running PostgreSQL database (skipped with the reason when none)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests: the psycopg2 driver is not installed (contrastkit[tune])")
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL tests: no PostgreSQL binaries (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="contrastkit-pg-"))
    as_user: list[str] = []
    try:
        url, as_user = _start(bin_dir, root)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests: no server could be started ({exc})")
    try:
        yield url
    finally:
        _stop(bin_dir, root, as_user)
        shutil.rmtree(root, ignore_errors=True)
