"""Rank-0 input/output: one process writes files, prints and shows progress.

Under data parallelism every rank runs the same program; files in the run directory,
lines on the terminal and the progress bar come from rank 0 alone (the others'
copies would race on the same paths and repeat every line ``WORLD_SIZE`` times).
Reads are done by every rank (each needs the data), writes by rank 0 followed by a
:func:`~contrastkit.dist.collectives.barrier` where the others read them back.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from contrastkit.dist.env import rank

R = TypeVar("R")


def is_main() -> bool:
    """Whether this process is rank 0 (always, for a single process)."""
    return rank() == 0


def rank_zero_only(fn: Callable[..., R]) -> Callable[..., R | None]:
    """``fn`` run on rank 0; ``None`` without calling it elsewhere."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> R | None:
        return fn(*args, **kwargs) if is_main() else None

    return wrapped


def print_main(*args: Any, file: Any = None, **kwargs: Any) -> None:
    """``print`` on rank 0 only (to stderr by default: progress and notices)."""
    if is_main():
        print(*args, file=sys.stderr if file is None else file, **kwargs)
