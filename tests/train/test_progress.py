from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from contrastkit.train.progress import MetricsWriter, ProgressBar, truncate_metrics


def test_progress_bar_non_tty_prints_at_most_eleven_lines() -> None:
    out = io.StringIO()
    with ProgressBar(1000, desc="fit", stream=out) as bar:
        for _ in range(1000):
            bar.update(1, loss=0.123456)
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 11
    assert lines[-1].startswith("fit 100%") and "1000/1000" in lines[-1]
    assert "loss=0.1235" in lines[-1]


def test_progress_bar_disabled_prints_nothing() -> None:
    out = io.StringIO()
    bar = ProgressBar(10, enabled=False, stream=out)
    bar.update(10)
    bar.close()
    assert out.getvalue() == ""


def test_metrics_writer_round_trip_and_non_finite(tmp_path: Path) -> None:
    path = tmp_path / "m" / "metrics.jsonl"
    with MetricsWriter(path) as writer:
        writer.write({"step": 1, "loss": torch.tensor(0.5), "stage": "easy"})
        writer.write({"step": 2, "loss": float("nan")})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"step": 1, "loss": 0.5, "stage": "easy"}, {"step": 2, "loss": None}]


def test_truncate_metrics_keeps_steps_up_to_checkpoint_and_drops_partial_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "lo')
    truncate_metrics(path, 2)
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    truncate_metrics(tmp_path / "absent.jsonl", 1)  # nothing to do, no error
