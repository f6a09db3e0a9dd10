"""One 2-rank gloo spawn for every step-level test of tests/dist (spawning costs
seconds; the checks themselves milliseconds)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dist.spawn import run_ranks
from tests.dist.workers import step_level_worker


@pytest.fixture(scope="session")
def step_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return run_ranks(step_level_worker, tmp_path_factory.mktemp("steps"))
