"""One 2-rank gloo spawn for every default test of tests/dist (spawning and joining a
group costs seconds; the checks themselves take milliseconds): the step-level checks
the trainer's run A and its PCGrad variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dist.spawn import run_ranks
from tests.dist.trainer_workers import full_run, pcgrad_run
from tests.dist.workers import step_level_worker


def default_worker(rank: int, world: int, base: str) -> dict[str, Any]:
    return {
        "steps": step_level_worker(rank, world),
        "a": full_run(rank, world, base),
        "pcgrad": pcgrad_run(rank, world, base),
    }


@pytest.fixture(scope="session")
def default_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    base = tmp_path_factory.mktemp("ddp")
    return base, run_ranks(default_worker, base, str(base))


@pytest.fixture(scope="session")
def step_ranks(default_ranks: tuple[Path, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r["steps"] for r in default_ranks[1]]
