"""Directories written whole or not at all: filled under a temporary name beside the
target and renamed onto it (what :func:`~contrastkit.train.checkpoint.atomic_write_bytes`
does for one file), so a reader never sees a half-written model directory."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


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
    (replaced); anything else there is a ``FileExistsError`` (:func:`check_new_directory`)."""
    target = check_new_directory(path)
    target.parent.mkdir(parents=True, exist_ok=True)
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


def _fresh_directory(target: Path) -> Path:
    """A new empty directory ``.<name>.<random>`` beside ``target``, made by
    ``os.mkdir`` so the umask gives it a plain directory's mode (``tempfile.mkdtemp``
    makes it private, 0700, and the rename would keep that)."""
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp
