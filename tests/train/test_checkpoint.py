from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from contrastkit.train.checkpoint import (
    CheckpointError,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)


def test_round_trip_preserves_tensors_and_containers(tmp_path: Path) -> None:
    state = {
        "model": {"weight": torch.randn(5, 3)},
        "step": 7,
        "rng": torch.get_rng_state(),
        "history": [1.5, 2.5],
        "name": "run",
    }
    path = save_checkpoint(tmp_path / "ckpt.pt", state)
    loaded = load_checkpoint(path)
    torch.testing.assert_close(loaded["model"]["weight"], state["model"]["weight"])
    assert loaded["step"] == 7
    assert torch.equal(loaded["rng"], state["rng"])
    assert loaded["history"] == [1.5, 2.5]
    # no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    inode_before = os.stat(path).st_ino
    save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 2
    assert os.stat(path).st_ino != inode_before  # a new file was renamed over the old


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.randn(100, 100)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_foreign_checkpoint_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a contrastkit checkpoint"):
        load_checkpoint(path)


class Evil:
    """An arbitrary class: weights_only loading must refuse to instantiate it."""


def test_arbitrary_objects_are_refused_by_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "contrastkit-checkpoint", "version": 1, "state": {"x": Evil()}}, path)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_atomic_write_text(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.yaml"
    atomic_write_text(path, "a: 1\n")
    assert path.read_text() == "a: 1\n"
