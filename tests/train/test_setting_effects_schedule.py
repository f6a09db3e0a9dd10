"""``schedule.curriculum_stages`` and ``schedule.curriculum_patience`` act as they
claim through a run: a linear curriculum of N stages spends ``loop.epochs // N`` epochs
in each, and a patience moves it on early when the monitored metric stops improving.

(scripts/config_settings.py found no test of these through a run.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contrastkit.train.run import train
from tests.karate_mlp import karate_mlp_config


def _stage_by_epoch(tmp_path: Path, *extra: str) -> list[int]:
    """The curriculum stage each epoch of the run trained in (its logged steps')."""
    config = karate_mlp_config(
        tmp_path, "schedule.curriculum=linear", "loop.log_every=1", "eval.every_epochs=1", *extra
    )
    train(config)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    stage: dict[int, set[int]] = {}
    for r in rows:
        if r["kind"] == "train":
            stage.setdefault(r["epoch"], set()).add(r["stage_index"])
    assert all(len(s) == 1 for s in stage.values())  # stages change between epochs
    return [stage[e].pop() for e in sorted(stage)]


@pytest.mark.parametrize(("stages", "expected"), [(2, [0, 0, 1, 1]), (4, [0, 1, 2, 3])])
def test_curriculum_stages_split_the_epochs(
    tmp_path: Path, stages: int, expected: list[int]
) -> None:
    assert _stage_by_epoch(tmp_path, "loop.epochs=4", f"schedule.curriculum_stages={stages}") == (
        expected
    )


def test_curriculum_patience_moves_on_when_the_monitor_is_flat(tmp_path: Path) -> None:
    # SGD at a rate that changes no ranking: train/map is flat from the first evaluation
    frozen = ("optim.name=sgd", "optim.lr=1e-12", "loop.epochs=6", "schedule.curriculum_stages=2")
    assert _stage_by_epoch(tmp_path / "a", *frozen) == [0, 0, 0, 1, 1, 1]
    # the first evaluation (end of epoch 0) sets the best, the second is flat: move on
    early = _stage_by_epoch(tmp_path / "b", *frozen, "schedule.curriculum_patience=1")
    assert early == [0, 0, 1, 1, 1, 1]
