"""Checkpoints that survive a kill: written to a temporary name, then renamed.

``save_checkpoint`` writes ``path.tmp-<pid>`` in the target directory, flushes and
fsyncs it, then ``os.replace``s it over ``path`` (atomic on POSIX), so a reader
sees either the old complete file or the new complete file, never half of one.
``load_checkpoint`` uses ``torch.load(weights_only=True)``: only tensors and plain
containers are accepted, and a truncated or foreign file raises
:class:`CheckpointError` (a ``ValueError``) naming the path.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

#: Marker stored in every checkpoint so that a foreign ``.pt`` file is recognised.
FORMAT = "contrastkit-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, foreign or of an unsupported version."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


CHECKPOINT = Path("checkpoints") / "last.pt"


def checkpoint_path(run_dir: str | os.PathLike[str]) -> Path:
    """Where a run directory keeps its last checkpoint."""
    return Path(run_dir) / CHECKPOINT


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Atomically save ``state`` (tensors and plain containers only) to ``path``."""
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "state": state}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    target = Path(path)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {str(source)!r} does not exist")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors differ by torch version; all mean "unreadable"
        raise CheckpointError(
            f"checkpoint {str(source)!r} is unreadable (truncated or not a torch file): "
            f"{type(exc).__name__}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(source)!r} is not a contrastkit checkpoint")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(source)!r} has version {payload.get('version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    state = payload.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(source)!r} has no state")
    return state
