"""Reading metrics.jsonl: typed records, truncated lines, resumed runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contrastkit.report.metrics_log import StageSegment, read_metrics
from tests.report.synthetic_run import write_metrics


def _write(path: Path, records: list[dict[str, object]], tail: str = "") -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n" + tail, encoding="utf-8")
    return path


def test_reads_synthetic_log(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    write_metrics(path, steps=120, eval_every=40)
    log = read_metrics(path)
    assert len(log.train) == 120 and len(log.eval) == 3
    assert log.bad_lines == 0 and not log.last_line_truncated
    assert log.keys(prefix="loss/") == ["loss/info_nce", "loss/spectral", "loss/triplet"]
    assert "map" in log.keys(kind="eval") and "step" not in log.keys(kind="eval")
    steps, values = log.series("loss")
    assert steps.tolist() == list(range(1, 121)) and np.isfinite(values).all()


def test_truncated_last_line_is_skipped_with_warning(tmp_path: Path) -> None:
    records = [{"kind": "train", "step": s, "loss": 1.0 / s} for s in range(1, 6)]
    path = _write(tmp_path / "metrics.jsonl", records, tail='{"kind": "train", "step": 6, "lo')
    with pytest.warns(RuntimeWarning, match="1 unreadable line"):
        log = read_metrics(path)
    assert log.bad_lines == 1 and log.last_line_truncated
    assert [r["step"] for r in log.train] == [1, 2, 3, 4, 5]


def test_bad_line_in_the_middle_is_counted_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\nnot json\n[1, 2]\n{"step": 2, "loss": 1.0}\n')
    with pytest.warns(RuntimeWarning, match="2 unreadable"):
        log = read_metrics(path)
    assert log.bad_lines == 2 and not log.last_line_truncated
    # A record without "kind" counts as a training record.
    assert log.series("loss")[1].tolist() == [2.0, 1.0]


def test_resumed_run_steps_are_merged_later_wins(tmp_path: Path) -> None:
    first = [{"kind": "train", "step": s, "loss": 10.0 + s} for s in range(1, 6)]
    resumed = [{"kind": "train", "step": s, "loss": float(s), "lr": 0.1} for s in range(4, 8)]
    log = read_metrics(_write(tmp_path / "metrics.jsonl", first + resumed))
    steps, loss = log.series("loss")
    assert steps.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert loss.tolist() == [11.0, 12.0, 13.0, 4.0, 5.0, 6.0, 7.0]
    assert log.merged_records == 2


def test_nonfinite_values_become_nan_and_odd_records_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"step": 1, "loss": Infinity, "stage": "a"}\n'
        '{"step": 2, "loss": NaN}\n'
        '{"step": 3, "loss": 0.5, "flag": true}\n'
        '{"loss": 9.0}\n'
        '{"step": "x", "loss": 9.0}\n'
        '{"kind": "event", "step": 4, "loss": 9.0}\n'
    )
    log = read_metrics(path)
    steps, loss = log.series("loss")
    assert steps.tolist() == [1, 2, 3]
    assert np.isnan(loss[:2]).all() and loss[2] == 0.5
    assert log.has("loss") and not log.has("flag") and "flag" not in log.keys()


def test_stage_segments(tmp_path: Path) -> None:
    stages = ["easy"] * 3 + ["hard"] * 2 + ["easy"]
    records = [
        {"step": s, "stage": name, "stage_index": int(name == "hard") * 1}
        for s, name in enumerate(stages)
    ]
    log = read_metrics(_write(tmp_path / "metrics.jsonl", records))
    assert log.stage_segments() == [
        StageSegment("easy", 0, 0.0, 2.0),
        StageSegment("hard", 1, 3.0, 4.0),
        StageSegment("easy", 0, 5.0, 5.0),
    ]
    only_index = read_metrics(_write(tmp_path / "m2.jsonl", [{"step": 1, "stage_index": 2}]))
    assert only_index.stage_segments() == [StageSegment("stage 2", 2, 1.0, 1.0)]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "metrics.jsonl"
    with pytest.raises(FileNotFoundError, match="nope"):
        read_metrics(missing)


def test_empty_file_gives_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n\n")
    log = read_metrics(path)
    assert log.train == [] and log.eval == [] and log.bad_lines == 0
    assert log.series("loss")[0].size == 0 and log.stage_segments() == []
