"""Reading a run directory: required and optional files, unreadable inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from contrastkit.report.run_files import read_run
from tests.report.synthetic_run import CLASS_NAMES, write_run


def test_reads_every_file(tmp_path: Path) -> None:
    run = read_run(write_run(tmp_path / "run", steps=60))
    assert run.config_text is not None and "objectives" in run.config_text
    assert run.final_metrics is not None and run.final_metrics["map"] == 0.83
    assert run.similarities_start is not None and run.similarities_start.pos.shape == (2000,)
    assert run.similarities_end is not None and run.similarities_end.neg.shape == (20000,)
    assert run.difficulty is not None and run.difficulty.ndim == 1
    emb = run.embedding
    assert emb is not None and emb.z.shape == (600, 16) and emb.manifold == "euclidean"
    assert emb.labels is not None and emb.label_names == list(CLASS_NAMES)
    assert run.problems == []


def test_only_metrics(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    run = read_run(tmp_path)
    assert run.config_text is None and run.final_metrics is None and run.embedding is None
    assert run.similarities_start is None and run.difficulty is None and run.problems == []


def test_missing_run_dir_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        read_run(tmp_path / "does-not-exist")


def test_run_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(ValueError, match="run_dir"):
        read_run(f)


def test_missing_metrics_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "metrics.jsonl"))):
        read_run(tmp_path)


def test_unreadable_optional_files_become_problems(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", steps=20)
    snap = run_dir / "snapshots"
    (snap / "similarities_end.npz").write_bytes(b"PK\x03\x04 truncated zip")
    (snap / "difficulty.npy").write_bytes(b"\x93NUMPY garbage")
    np.savez(snap / "similarities_start.npz", pos=np.zeros(3))  # no "neg"
    # An object array needs pickle, which must never be loaded from a run directory.
    np.savez(snap / "embedding_end.npz", z=np.array([[1.0, 2.0]], dtype=object))
    (run_dir / "final_metrics.json").write_text("[1, 2]")
    run = read_run(run_dir)
    assert run.similarities_end is None and run.difficulty is None
    assert run.similarities_start is None and run.embedding is None
    assert run.final_metrics is None
    joined = "\n".join(run.problems)
    for name in (
        "similarities_end.npz",
        "difficulty.npy",
        "similarities_start.npz",
        "embedding_end.npz",
        "final_metrics.json",
    ):
        assert name in joined


def test_embedding_variants(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    snap = tmp_path / "snapshots"
    snap.mkdir()
    np.savez(
        snap / "embedding_end.npz",
        z=np.ones((5, 3)),
        labels=np.arange(4),
        manifold=np.array("Poincare"),
    )
    run = read_run(tmp_path)
    assert run.embedding is not None and run.embedding.labels is None
    assert run.embedding.manifold == "poincare"
    assert any("labels" in p for p in run.problems)
    np.savez(snap / "embedding_end.npz", z=np.ones(4))
    emb = read_run(tmp_path).embedding
    assert emb is not None and emb.z.shape == (4, 1)


def test_snapshot_drops_nonfinite_scores(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    (tmp_path / "snapshots").mkdir()
    np.savez(
        tmp_path / "snapshots" / "similarities_end.npz",
        pos=np.array([0.5, np.nan, 0.7]),
        neg=np.array([[np.inf, 0.1]]),
    )
    snap = read_run(tmp_path).similarities_end
    assert snap is not None
    assert snap.pos.tolist() == [0.5, 0.7] and snap.neg.tolist() == [0.1]


def test_final_metrics_nesting_is_flattened(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    (tmp_path / "final_metrics.json").write_text(json.dumps({"test": {"map": 0.5}, "auc": 0.9}))
    assert read_run(tmp_path).final_metrics == {"test/map": 0.5, "auc": 0.9}
