"""A continual run directory through ``train_continual`` (what ``contrastkit train`` calls)."""

from __future__ import annotations

import json
from pathlib import Path

from contrastkit.continual.run import train_continual
from tests.continual.test_learner import config


def test_cli_run_directory(tmp_path: Path) -> None:
    cfg = config(
        "continual.num_tasks=2", f"output.run_dir={tmp_path / 'run'}", "output.report=true"
    )
    train_continual(cfg)
    run = tmp_path / "run"
    for name in (
        "continual.json",
        "final_metrics.json",
        "metrics.jsonl",
        "checkpoints/last.pt",
        "plots/continual.png",
    ):
        assert (run / name).is_file(), name
    again = train_continual(config("continual.num_tasks=2", f"output.run_dir={run}"), resume=True)
    assert again.task == 2  # finished: nothing left to train
    summary = json.loads((run / "continual.json").read_text())
    assert len(summary["R"]) == 2 and {"acc", "bwt", "fwt", "forgetting"} <= set(summary)
