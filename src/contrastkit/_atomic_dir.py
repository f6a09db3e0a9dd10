"""Directories written whole or not at all: filled under a temporary name beside the
target and renamed onto it (what :func:`~contrastkit.train.checkpoint.atomic_write_bytes`
does for one file), so a reader never sees a half-written model directory.

The temporary is ``.<name>.tmp-<pid>-<hex>``: a writer killed before its rename (no
``except`` runs on SIGKILL or an unhandled SIGTERM) leaves it behind, and the next
write of the same target removes it once process ``pid`` is gone
(:func:`remove_stale_directories`, as a run's start removes a killed checkpoint
writer's ``.<name>.tmp-<pid>``). Only that target's temporaries are looked at: the
folder beside it is the user's, not ours to sweep.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from contrastkit._process import process_alive


def check_new_directory(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` when it is absent or an empty directory.

    Raises:
        FileExistsError: naming ``path`` when it is a file or a non-empty directory."""
    target = Path(path)
    if target.is_dir():
        if any(target.iterdir()):
            raise FileExistsError(f"{str(target)!r} exists and is not empty")
    elif target.exists() or target.is_symlink():
        raise FileExistsError(f"{str(target)!r} exists and is not a directory")
    return target


def write_directory(path: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path:
    """Create the directory ``path`` by calling ``fill(tmp)`` on a fresh temporary
    directory beside it, then renaming ``tmp`` to ``path``; on any error the temporary
    is removed and ``path`` is left as it was. ``path`` may be an empty directory
    (replaced); anything else there is a ``FileExistsError`` (:func:`check_new_directory`).
    Temporaries of ``path`` that killed writers left are removed first."""
    target = check_new_directory(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_directories(target)
    tmp = _fresh_directory(target)
    try:
        fill(tmp)
        check_new_directory(target)  # nothing appeared there meanwhile
        if target.is_dir():
            target.rmdir()
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def remove_stale_directories(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries ``.<name>.tmp-<pid>-<hex>`` of target ``path`` that
    :func:`write_directory` left beside it when process ``pid`` was killed before its
    rename; a live process's (a write under way) and everything else are kept.
    Returns the removed paths."""
    target = Path(path)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.tmp-(\d+)-[0-9a-f]+$")
    if not target.parent.is_dir():
        return []
    removed = []
    for entry in sorted(target.parent.iterdir()):
        match = pattern.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        if process_alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _fresh_directory(target: Path) -> Path:
    """A new empty directory ``.<name>.tmp-<pid>-<random>`` beside ``target``, made by
    ``os.mkdir`` so the umask gives it a plain directory's mode (``tempfile.mkdtemp``
    makes it private, 0700, and the rename would keep that)."""
    while True:
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(6)}")
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp
