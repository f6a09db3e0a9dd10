"""Checkpoints that survive a kill: written to a temporary name, then renamed.

``save_checkpoint`` writes ``path.tmp-<pid>`` in the target directory, flushes and
fsyncs it, then ``os.replace``s it over ``path`` (atomic on POSIX), so a reader
sees either the old complete file or the new complete file, never half of one.
``load_checkpoint`` uses ``torch.load(weights_only=True)``: only tensors and plain
containers are accepted, and a truncated or foreign file raises
:class:`CheckpointError` (a ``ValueError``) naming the path.

A process killed between writing and renaming leaves its ``.name.tmp-<pid>``
behind; :func:`remove_stale_temporaries` deletes those of dead processes (a run
calls it when it starts or resumes). :func:`check_state_tensors` checks the tensors
a checkpoint holds against the ones the config builds (names, shapes, finiteness)
before anything is loaded, so a checkpoint of another run or of a diverged one is a
:class:`CheckpointError` naming the file and what does not match.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from contrastkit._process import process_alive

#: Marker stored in every checkpoint so that a foreign ``.pt`` file is recognised.
FORMAT = "contrastkit-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, foreign, of an unsupported version, or does
    not fit the run (other shapes, missing entries, non-finite values)."""


#: ``.<name>.tmp-<pid>``: the temporary of :func:`atomic_write_bytes`
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")


def _temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(target)
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


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.<name>.tmp-<pid>`` files that :func:`atomic_write_bytes` left in
    ``directory`` (not recursive) when process ``pid`` was killed before its rename;
    temporaries of a live process and every other file are kept. Returns the removed
    paths; a missing directory has none."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    removed = []
    for entry in sorted(folder.iterdir()):
        match = _TEMPORARY.match(entry.name)
        if match is None or not entry.is_file() or process_alive(int(match.group(1))):
            continue
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


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


def check_state_tensors(
    section: str,
    saved: object,
    expected: Mapping[str, Tensor],
    source: str,
    *,
    finite: bool = True,
) -> None:
    """Check the tensors ``saved`` (a module's ``state_dict`` from a checkpoint) against
    ``expected`` (the state dict this run's config builds) before loading them.

    Raises :class:`CheckpointError` naming ``source`` (the checkpoint file) and what
    does not match: entries missing or unexpected, the first tensor whose shape differs
    (``encoder.table.weight has shape [34, 5], this run's config gives [1182, 5]``) and,
    with ``finite``, every floating tensor holding NaN/Inf with its count.
    """
    if not isinstance(saved, Mapping):
        raise CheckpointError(
            f"checkpoint {source}: {section} is a {type(saved).__name__}, not a state dict"
        )
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(f'{section}.{k}' for k in missing)}")
        if unexpected:
            parts.append(
                f"has {', '.join(f'{section}.{k}' for k in unexpected)} that this "
                "run's config does not"
            )
        raise CheckpointError(f"checkpoint {source} does not fit this run: {'; '.join(parts)}")
    nonfinite = []
    for key, want in expected.items():
        got = saved[key]
        if key.rpartition(".")[2] == "_extra_state":
            continue  # a module's own state (an EWC objective's Fisher): it checks it on load
        if not isinstance(got, Tensor):
            raise CheckpointError(
                f"checkpoint {source}: {section}.{key} is a {type(got).__name__}, not a tensor"
            )
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"checkpoint {source} does not fit this run: {section}.{key} has shape "
                f"{list(got.shape)}, this run's config gives {list(want.shape)}"
            )
        if finite and got.is_floating_point():
            bad = int((~torch.isfinite(got)).sum())
            if bad:
                nonfinite.append(f"{section}.{key} ({bad} of {got.numel()} entries)")
    if nonfinite:
        raise CheckpointError(
            f"checkpoint {source} holds NaN/Inf values in {', '.join(nonfinite)}: "
            "the run diverged before it was saved"
        )
