"""What runs on NCCL, smoke-tested when a CUDA machine is there (skipped otherwise):
the gather with gradients (forward rows, backward all-reduce and slice), the gather
without, and a DDP forward/backward of the MLP encoder, on every visible GPU (one
rank each, up to 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from tests.dist.spawn import run_ranks
from tests.dist.workers import nccl_worker

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and dist.is_nccl_available()),
    reason="needs CUDA and NCCL",
)


def test_nccl_gather_and_ddp(tmp_path: Path) -> None:
    world = min(2, torch.cuda.device_count())
    results = run_ranks(nccl_worker, tmp_path, world=world, backend="nccl")
    for result in results:
        assert result["grad_ok"] and result["rows_ok"] and result["no_grad_ok"]
        assert result["grads"]
    for a, b in zip(results[0]["grads"], results[-1]["grads"], strict=True):
        assert torch.equal(a, b)  # DDP's all-reduce left every rank the same gradients
