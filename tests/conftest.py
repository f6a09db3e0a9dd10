"""Shared fixtures: dtypes, seeded generators, and a small deterministic default."""

from __future__ import annotations

import pytest
import torch

# Tests use tiny tensors: one thread avoids contention on the 2-core CI machine.
torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def tol(dtype: torch.dtype) -> dict[str, float]:
    """Comparison tolerances for ``torch.testing.assert_close`` by dtype."""
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-8}
