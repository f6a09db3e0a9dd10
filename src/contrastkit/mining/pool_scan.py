"""Every node's ``P`` closest pool nodes, by one of three scans of the embedding.

``exact`` is the tiled :func:`~contrastkit.mining.topk.exact_topk` of the embedding
against itself; ``memmap`` the same scan over the embedding written to a temporary
``.npy`` memory map (one tile resident at a time: a table larger than memory); ``faiss``
an exact flat :class:`~contrastkit.mining.faiss_backend.FaissIndex` (cosine, dot and
(squared) Euclidean distances only). All three apply the same exclusions and return
the same neighbours up to ties.
"""

from __future__ import annotations

import os
import tempfile
from typing import Literal

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch import Tensor

from contrastkit.functional.distances import Distance, get_distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.faiss_backend import FaissIndex, faiss_scan
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.mining.topk import Head, exact_topk

PoolBackend = Literal["exact", "memmap", "faiss"]
FAISS_DISTANCES = ("cosine", "dot", "sqeuclidean", "euclidean")


def scan_pool(
    emb: Tensor,
    distance: Distance,
    excl: Exclusions,
    pool_size: int,
    backend: PoolBackend,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """``(scores [N, P], ids [N, P])``: the ``P = pool_size`` closest rows of ``emb
    [N, d]`` to each row outside ``excl``, closest first (``-inf`` / ``-1`` where a row
    has fewer), through ``backend``."""
    p, budget = pool_size, memory_budget
    if backend == "exact":
        return exact_topk(emb, emb, p, distance=distance, exclusions=excl, memory_budget=budget)
    if backend == "memmap":
        host = emb.detach().cpu()
        if host.dtype not in (torch.float32, torch.float64):
            host = host.float()
        with tempfile.TemporaryDirectory(prefix="contrastkit-pool-") as tmp:
            path = os.path.join(tmp, "embeddings.npy")
            out = open_memmap(path, mode="w+", dtype=host.numpy().dtype, shape=tuple(host.shape))
            out[:] = host.numpy()
            out.flush()
            del out
            pool = np.load(path, mmap_mode="r")
            try:
                return exact_topk(
                    emb, pool, p, distance=distance, exclusions=excl, memory_budget=budget
                )
            finally:
                del pool
    dist = get_distance(distance)
    if dist.name not in FAISS_DISTANCES:
        raise ValueError(
            f"pool_backend='faiss' needs a {', '.join(FAISS_DISTANCES)} distance, "
            f"got {dist.name!r}; use pool_backend='exact' or 'memmap'"
        )
    (top,), _ = faiss_scan(emb, FaissIndex(emb, distance=dist), [Head(p)], exclusions=excl)
    empty = top.keys == float("-inf")
    return top.scores.masked_fill(empty, float("-inf")), top.indices.masked_fill(empty, -1)
