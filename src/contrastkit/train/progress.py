"""A dependency-free progress bar and the append-only ``metrics.jsonl`` writer."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from contrastkit.train.checkpoint import atomic_write_text


def _fmt(value: float) -> str:
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))  # counts (skipped=12345) in full
    return f"{value:.4g}"


class ProgressBar:
    """``desc  37%|#######      | 370/1000 [00:12<00:20, 30.1 it/s, loss=0.412]``.

    ``update(**postfix)`` adds or replaces the ``name=value`` items after the rate
    (the trainer shows ``skipped=N`` there once a non-finite step has been skipped).

    On a terminal it redraws in place at most every ``min_interval`` seconds; on
    anything else (CI logs, pipes) it prints a line at every 10 % of progress, so a
    long run never floods the log.
    """

    def __init__(
        self,
        total: int,
        *,
        desc: str = "train",
        enabled: bool = True,
        stream: TextIO | None = None,
        min_interval: float = 0.2,
    ) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self.count = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._postfix: dict[str, float] = {}

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else math.inf
        frac = min(self.count / self.total, 1.0)
        bar = "#" * int(frac * 20)
        post = ", ".join(f"{k}={_fmt(v)}" for k, v in self._postfix.items())
        eta_s = _clock(eta) if math.isfinite(eta) else "?"
        return (
            f"{self.desc} {frac * 100:3.0f}%|{bar:<20}| {self.count}/{self.total} "
            f"[{_clock(elapsed)}<{eta_s}, {rate:.3g} it/s{', ' + post if post else ''}]"
        )

    def update(self, n: int = 1, **postfix: float) -> None:
        self.count += n
        self._postfix.update({k: float(v) for k, v in postfix.items()})
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= self.min_interval or self.count >= self.total:
                self.stream.write("\r" + self.line())
                self.stream.flush()
                self._last_draw = now
            return
        decile = int(10 * min(self.count / self.total, 1.0))
        if decile > self._last_decile:
            self._last_decile = decile
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN/inf; readers treat null as "missing"
    return value


class MetricsWriter:
    """Append one JSON object per line to ``metrics.jsonl``, flushed per line, so a
    killed run loses at most the line being written."""

    def __init__(
        self, path: str | os.PathLike[str], *, tensorboard_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tb: Any = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ValueError(
                    "output.tensorboard needs the tensorboard package: pip install tensorboard"
                ) from None
            self._tb = SummaryWriter(log_dir=str(tensorboard_dir))
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        clean = {k: _jsonable(v) for k, v in record.items()}
        self._fh.write(json.dumps(clean, allow_nan=False) + "\n")
        self._fh.flush()
        if self._tb is not None:
            kind, step = clean.get("kind", "train"), int(clean.get("step", 0))
            for key, value in clean.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    if key not in ("step", "epoch"):
                        self._tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def truncate_metrics(path: str | os.PathLike[str], last_step: int) -> None:
    """Keep only the readable records with ``step <= last_step`` (used on resume, so the
    log does not hold the steps after the checkpoint twice). Atomic rewrite."""
    source = Path(path)
    if not source.is_file():
        return
    kept = []
    for line in source.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the half-written line of a killed run
        if isinstance(record, dict) and int(record.get("step", 0)) <= last_step:
            kept.append(line)
    atomic_write_text(source, "".join(k + "\n" for k in kept))
