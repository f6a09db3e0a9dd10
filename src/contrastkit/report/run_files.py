"""Reading a training run directory into typed records.

Layout (every file optional except ``metrics.jsonl``)::

    run_dir/
      config.yaml                          resolved config, shown verbatim
      metrics.jsonl                        see :mod:`contrastkit.report.metrics_log`
      final_metrics.json                   {"metric": value, ...}
      snapshots/similarities_start.npz     "pos" [P], "neg" [Q]
      snapshots/similarities_end.npz       "pos" [P], "neg" [Q]
      snapshots/difficulty.npy             [T] mining difficulty sim(a,n) - sim(a,p) + 1
      snapshots/embedding_end.npz          "z" [N, d], "labels" [N], "label_names" [C], "manifold"

A missing optional file gives ``None``; an unreadable one gives ``None`` and a
line in :attr:`RunFiles.problems`, so a report can say why a section is absent.
Arrays are loaded with ``allow_pickle=False``: a run directory may come from
someone else, and pickles execute code.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contrastkit.report.metrics_log import MetricsLog, read_metrics

# Errors numpy raises for truncated, foreign or pickled files.
_LOAD_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


@dataclass(frozen=True)
class SimilaritySnapshot:
    """Similarity scores (larger = closer) of sampled pairs: positive ``pos`` [P],
    negative ``neg`` [Q]."""

    pos: np.ndarray
    neg: np.ndarray


@dataclass(frozen=True)
class EmbeddingSnapshot:
    """Final embedding ``z`` [N, d], optional ``labels`` [N] and ``label_names`` [C]."""

    z: np.ndarray
    labels: np.ndarray | None = None
    label_names: list[str] | None = None
    manifold: str = "euclidean"


@dataclass
class RunFiles:
    """Everything read from one run directory; absent inputs are ``None``."""

    run_dir: Path
    metrics: MetricsLog
    config_text: str | None = None
    final_metrics: dict[str, Any] | None = None
    similarities_start: SimilaritySnapshot | None = None
    similarities_end: SimilaritySnapshot | None = None
    difficulty: np.ndarray | None = None
    embedding: EmbeddingSnapshot | None = None
    problems: list[str] = field(default_factory=list)


def _finite_1d(array: np.ndarray) -> np.ndarray:
    flat = np.asarray(array, dtype=np.float64).reshape(-1)
    return flat[np.isfinite(flat)]


def _read_similarities(path: Path, problems: list[str]) -> SimilaritySnapshot | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            pos, neg = _finite_1d(data["pos"]), _finite_1d(data["neg"])
    except _LOAD_ERRORS as exc:
        problems.append(f"{path.name}: unreadable ({type(exc).__name__}: {exc})")
        return None
    return SimilaritySnapshot(pos=pos, neg=neg)


def _read_difficulty(path: Path, problems: list[str]) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        return _finite_1d(np.load(path, allow_pickle=False))
    except _LOAD_ERRORS as exc:
        problems.append(f"{path.name}: unreadable ({type(exc).__name__}: {exc})")
        return None


def _read_embedding(path: Path, problems: list[str]) -> EmbeddingSnapshot | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            z = np.asarray(data["z"], dtype=np.float64)
            labels = np.asarray(data["labels"]).reshape(-1) if "labels" in data else None
            names = (
                [str(s) for s in data["label_names"].reshape(-1)]
                if ("label_names" in data)
                else None
            )
            manifold = str(data["manifold"]) if "manifold" in data else "euclidean"
    except _LOAD_ERRORS as exc:
        problems.append(f"{path.name}: unreadable ({type(exc).__name__}: {exc})")
        return None
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[0] == 0:
        problems.append(f"{path.name}: 'z' must be a non-empty [N, d] array, got {z.shape}")
        return None
    if labels is not None and (labels.shape[0] != z.shape[0] or labels.dtype.kind not in "iu"):
        problems.append(
            f"{path.name}: 'labels' ignored (need {z.shape[0]} integers, "
            f"got shape {labels.shape} dtype {labels.dtype})"
        )
        labels = None
    return EmbeddingSnapshot(z=z, labels=labels, label_names=names, manifold=manifold.lower())


def _read_final_metrics(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name}: expected a JSON object, got {type(data).__name__}")
        return None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        # One level of nesting ({"test": {"map": ..}}) is common; show it as "test/map".
        if isinstance(value, dict):
            flat.update({f"{key}/{k}": v for k, v in value.items()})
        else:
            flat[str(key)] = value
    return flat


def read_run(run_dir: str | Path) -> RunFiles:
    """Read a run directory; only ``metrics.jsonl`` is required.

    Raises ``FileNotFoundError`` naming the path when ``run_dir`` or its
    ``metrics.jsonl`` does not exist, ``ValueError`` when ``run_dir`` is not a
    directory.

    >>> run = read_run("runs/exp1")  # doctest: +SKIP
    >>> run.metrics.series("loss")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise FileNotFoundError(f"run_dir does not exist: {run_dir}")
    if not run_dir.is_dir():
        raise ValueError(f"run_dir must be a directory, got a file: {run_dir}")
    metrics = read_metrics(run_dir / "metrics.jsonl")
    problems: list[str] = []
    config_path = run_dir / "config.yaml"
    config_text: str | None = None
    if config_path.is_file():
        config_text = config_path.read_text(encoding="utf-8", errors="replace")
    snap = run_dir / "snapshots"
    return RunFiles(
        run_dir=run_dir,
        metrics=metrics,
        config_text=config_text,
        final_metrics=_read_final_metrics(run_dir / "final_metrics.json", problems),
        similarities_start=_read_similarities(snap / "similarities_start.npz", problems),
        similarities_end=_read_similarities(snap / "similarities_end.npz", problems),
        difficulty=_read_difficulty(snap / "difficulty.npy", problems),
        embedding=_read_embedding(snap / "embedding_end.npz", problems),
        problems=problems,
    )
