"""``_atomic_dir.write_directory``: a writer killed partway leaves its temporary
``.<name>.tmp-<pid>-<hex>`` beside the target, and the next write of that target
removes it (never a live writer's, never another target's or a user's folder)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contrastkit._atomic_dir import remove_stale_directories, write_directory

SRC = str(Path(__file__).parents[1] / "src")
# a writer that fills part of the directory, then is killed before its rename
KILLED_WRITER = """
import os, signal, sys
from contrastkit._atomic_dir import write_directory

def fill(tmp):
    (tmp / "weights.bin").write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)

write_directory(sys.argv[1], fill)
"""


def _killed_write(target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], env=env)
    assert done.returncode == -signal.SIGKILL


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _fill(tmp: Path) -> None:
    (tmp / "config.json").write_text("{}")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "enc"
    _killed_write(target)
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".enc.tmp-")  # the leftover
    assert (left[0] / "weights.bin").read_bytes() == b"half"
    assert not target.exists()
    write_directory(target, _fill)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]
    assert (target / "config.json").read_text() == "{}"


def test_only_dead_writers_temporaries_of_the_target_are_removed(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getppid()
    stale = tmp_path / f".enc.tmp-{dead}-0a1b2c3d4e5f"
    kept = [
        tmp_path / f".enc.tmp-{live}-0a1b2c3d4e5f",  # a write under way
        tmp_path / f".enc.tmp-{os.getpid()}-00ff",  # this process's own
        tmp_path / f".encoder.tmp-{dead}-0a1b2c3d4e5f",  # another target's
        tmp_path / f".enc.tmp-{dead}-notahex",  # not our name
        tmp_path / ".enc.0a1b2c3d4e5f",  # no pid: nothing tells whether it is dead
        tmp_path / "enc.tmp-1-00",  # a user's folder
    ]
    for folder in [stale, *kept]:
        folder.mkdir()
        (folder / "f").write_text("x")
    (tmp_path / f".enc.tmp-{dead}-abcd").write_text("a file, not a directory")
    assert remove_stale_directories(tmp_path / "enc") == [stale]
    assert not stale.exists()
    assert all((folder / "f").is_file() for folder in kept)
    assert (tmp_path / f".enc.tmp-{dead}-abcd").is_file()


def test_a_failed_fill_leaves_nothing_and_a_success_no_temporary(tmp_path: Path) -> None:
    def failing(tmp: Path) -> None:
        (tmp / "part").write_text("x")
        raise RuntimeError("fill failed")

    with pytest.raises(RuntimeError, match="fill failed"):
        write_directory(tmp_path / "enc", failing)
    assert not list(tmp_path.iterdir())
    write_directory(tmp_path / "enc", _fill)
    assert [p.name for p in tmp_path.iterdir()] == ["enc"]
