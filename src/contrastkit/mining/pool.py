"""Candidate pools: in-memory tensors or memory-mapped arrays read tile by tile.

A pool is ``[M, d]``: a floating-point ``torch.Tensor`` or a ``numpy.ndarray``
(including ``numpy.memmap``, which may be larger than RAM — only one tile is
resident at a time). :func:`pool_tile` reads rows ``m0:m1`` as a tensor of the
query dtype; :func:`tile_sizes` picks the query and pool tile so that the score
tile and its temporaries stay inside a memory budget.

Example:
    >>> bq, bm = tile_sizes(20_000, 200_000, 128, torch.float32, 512 * 2**20)
    >>> bq <= 20_000 and bm <= 200_000
    True
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch
from torch import Tensor

from contrastkit._validation import check_finite, check_positive_int

PoolLike = Union[Tensor, np.ndarray]  # noqa: UP007 - a runtime alias usable on Python 3.10

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes
# Query rows and pool rows per tile: 4096 x 2048 (a 32 MB float32 score tile)
# measured fastest for GEMM + threshold merge on CPU (FAISS blocks 4096 x 1024);
# the merge after each tile touches only the few entries above the running
# threshold, so moderately narrow pool tiles cost little.
_QUERY_TILE = 4096
_POOL_TILE_CAP = 2048
# Shrink the query tile before letting the pool tile fall below this width.
_MIN_POOL_TILE = 64
# Bytes per score-tile element on top of the scores themselves: a validity mask,
# topk scratch and, for sampled heads, noise and keys.
_PER_SCORE_OVERHEAD = 3


def check_pool(pool: object, dim: int | None = None, name: str = "pool") -> tuple[int, int]:
    """Validate a pool's type and shape; return ``(M, d)``. Values are checked per tile."""
    if isinstance(pool, Tensor):
        if not pool.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {pool.dtype}")
    elif isinstance(pool, np.ndarray):
        if not np.issubdtype(pool.dtype, np.floating):
            raise TypeError(f"{name} must be a floating-point array, got dtype {pool.dtype}")
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(pool).__name__}")
    if pool.ndim != 2:
        raise ValueError(f"{name} must have 2 dimensions [M, d], got shape {tuple(pool.shape)}")
    m, d = int(pool.shape[0]), int(pool.shape[1])
    if dim is not None and d != dim:
        raise ValueError(f"{name} has embedding dimension {d} but the queries have {dim}")
    return m, d


def pool_tile(
    pool: PoolLike, m0: int, m1: int, dtype: torch.dtype, device: torch.device, name: str = "pool"
) -> Tensor:
    """Rows ``m0:m1`` of ``pool`` as a ``[m1 - m0, d]`` tensor (finite values checked)."""
    if isinstance(pool, Tensor):
        tile = pool[m0:m1].to(device=device, dtype=dtype)
    else:
        # np.array copies: a read-only memmap slice cannot back a tensor safely.
        tile = torch.from_numpy(np.array(pool[m0:m1])).to(device=device, dtype=dtype)
    check_finite(name, tile)
    return tile


def pool_rows(pool: PoolLike, index: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Gather arbitrary rows ``pool[index]`` (``index`` any shape) -> ``[*index.shape, d]``."""
    flat = index.reshape(-1).to(torch.int64)
    if isinstance(pool, Tensor):
        rows = pool[flat.to(pool.device)].to(device=device, dtype=dtype)
    else:
        rows = torch.from_numpy(np.array(pool[flat.cpu().numpy()])).to(device=device, dtype=dtype)
    return rows.reshape(*index.shape, rows.shape[-1])


def tile_sizes(
    num_queries: int,
    pool_size: int,
    dim: int,
    dtype: torch.dtype,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    extra_per_score: int = 0,
) -> tuple[int, int]:
    """Query and pool tile sizes ``(bq, bm)`` for a budget in bytes.

    Resident per tile: the pool tile and its prepared copy (``2 bm d`` elements)
    and the score tile with temporaries (``bq bm (esz + overhead + extra)`` bytes).
    """
    check_positive_int("memory_budget", memory_budget)
    esz = torch.empty((), dtype=dtype).element_size()

    def per_col(bq: int) -> int:
        return bq * (esz + _PER_SCORE_OVERHEAD + extra_per_score) + 2 * dim * esz

    bq = max(1, min(num_queries, _QUERY_TILE))
    while bq > 1 and memory_budget // per_col(bq) < min(pool_size, _MIN_POOL_TILE):
        bq //= 2
    bm = memory_budget // per_col(bq)
    if bm < 1:
        raise ValueError(
            f"memory_budget={memory_budget} bytes is too small for one pool row; "
            f"need at least {per_col(bq)}"
        )
    return bq, int(max(1, min(pool_size, bm, _POOL_TILE_CAP)))
