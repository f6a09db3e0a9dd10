"""Writing a report file atomically: to a temporary name beside it, then renamed.

A reader (a browser refreshing ``report.html``, a second ``contrastkit report``)
sees the old file or the new one, never half of one; a write that fails leaves
the old file and no temporary behind. The temporary is ``.<name>.<pid>.tmp``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Create ``path``'s folder, call ``write(tmp)`` on a temporary name beside ``path``
    and rename it over ``path`` (``os.replace``, atomic on POSIX); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
