"""Reading ``metrics.jsonl`` into typed training and evaluation records.

A run that was killed may leave a half-written last line, and a resumed run
re-logs the steps between its last checkpoint and the kill. Reading therefore
skips unreadable lines (counting them) and merges records that share a step,
later values winning, so every step appears once in the plots.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Record = dict[str, Any]


@dataclass(frozen=True)
class StageSegment:
    """A run of consecutive training records in one curriculum stage, ``[start, end]`` steps."""

    name: str
    index: int
    start: float
    end: float


@dataclass
class MetricsLog:
    """The parsed contents of ``metrics.jsonl``.

    ``train`` and ``eval`` are sorted by step, one merged record per step.
    ``bad_lines`` counts lines that were not a JSON object (e.g. a truncated
    last line); ``last_line_truncated`` says whether the final line was one.
    """

    path: Path
    train: list[Record] = field(default_factory=list)
    eval: list[Record] = field(default_factory=list)
    bad_lines: int = 0
    last_line_truncated: bool = False
    merged_records: int = 0

    def keys(self, kind: str = "train", prefix: str = "") -> list[str]:
        """Sorted numeric keys starting with ``prefix`` seen in records of ``kind``."""
        records = self.train if kind == "train" else self.eval
        found = {k for r in records for k, v in r.items() if k.startswith(prefix) and _is_number(v)}
        return sorted(found - {"step", "epoch"})

    def series(self, key: str, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` float arrays of the records of ``kind`` holding a number at ``key``.

        Non-finite values become NaN so that line plots show a gap instead of
        stretching the axis to infinity.
        """
        records = self.train if kind == "train" else self.eval
        pairs = [(r["step"], r[key]) for r in records if _is_number(r.get(key))]
        if not pairs:
            return np.empty(0), np.empty(0)
        arr = np.asarray(pairs, dtype=np.float64)
        values = arr[:, 1]
        values[~np.isfinite(values)] = np.nan
        return arr[:, 0], values

    def has(self, key: str, kind: str = "train") -> bool:
        """Whether some record of ``kind`` holds a finite number at ``key``."""
        _, values = self.series(key, kind)
        return bool(np.isfinite(values).any())

    def stage_segments(self) -> list[StageSegment]:
        """Contiguous curriculum stages of the training records (``stage`` / ``stage_index``)."""
        segments: list[StageSegment] = []
        for r in self.train:
            name, index = r.get("stage"), r.get("stage_index")
            if name is None and not _is_number(index):
                continue
            idx = int(index) if isinstance(index, (int, float)) else -1
            label = str(name) if name is not None else f"stage {idx}"
            step = float(r["step"])
            last = segments[-1] if segments else None
            if last is not None and last.name == label and last.index == idx:
                segments[-1] = StageSegment(label, idx, last.start, step)
            else:
                segments.append(StageSegment(label, idx, step, step))
        return segments


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _merge_by_step(records: Sequence[Record]) -> tuple[list[Record], int]:
    """One record per step (later keys win), sorted by step; also the number merged away."""
    by_step: dict[float, Record] = {}
    for r in records:
        by_step.setdefault(float(r["step"]), {}).update(r)
    return [by_step[s] for s in sorted(by_step)], len(records) - len(by_step)


def read_metrics(path: str | Path) -> MetricsLog:
    """Parse a ``metrics.jsonl`` file.

    Each line is a JSON object with ``"kind"`` (``"train"`` — the default when
    absent — or ``"eval"``) and an integer ``"step"``; other kinds and records
    without a numeric step are ignored. Unparseable lines are skipped, counted in
    :attr:`MetricsLog.bad_lines`, and reported once with a ``RuntimeWarning``.

    Raises ``FileNotFoundError`` naming the path when the file does not exist.

    >>> log = read_metrics("runs/exp1/metrics.jsonl")  # doctest: +SKIP
    >>> steps, loss = log.series("loss")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    log = MetricsLog(path=path)
    train: list[Record] = []
    evals: list[Record] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    last_nonempty = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            log.bad_lines += 1
            log.last_line_truncated |= i == last_nonempty
            continue
        step = record.get("step")
        if not isinstance(step, (int, float)) or isinstance(step, bool) or not math.isfinite(step):
            continue
        kind = record.get("kind", "train")
        if kind == "train":
            train.append(record)
        elif kind == "eval":
            evals.append(record)
    log.train, merged_train = _merge_by_step(train)
    log.eval, merged_eval = _merge_by_step(evals)
    log.merged_records = merged_train + merged_eval
    if log.bad_lines:
        where = " (including a truncated last line)" if log.last_line_truncated else ""
        warnings.warn(
            f"{path}: skipped {log.bad_lines} unreadable line(s){where}",
            RuntimeWarning,
            stacklevel=2,
        )
    return log
