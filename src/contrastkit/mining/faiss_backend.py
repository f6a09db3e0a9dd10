r"""FAISS behind the same interface as the exact tiled scan.

:class:`FaissIndex` wraps ``IndexFlatIP`` / ``IndexFlatL2`` (exact), ``IndexIVFFlat``
and ``IndexHNSWFlat`` (approximate, for pools of millions; Johnson et al. 2019,
Malkov & Yashunin 2018). Scores follow contrastkit's convention (larger =
closer): inner products as they are, :math:`-\|x - y\|^2` for ``sqeuclidean``
and :math:`-\|x - y\|` for ``euclidean``; cosine normalises both sides.
Poincaré has no FAISS metric and is refused.

FAISS returns candidate lists, not tiles, so :func:`faiss_scan` fetches
``k + (exclusions per row) + slack`` candidates, applies exclusions and bounds,
and re-searches rows still short of ``k`` with a doubled fetch, until they are
full or the whole pool was fetched. Bound removal counts are therefore counted
among the fetched candidates only. ``faiss`` is optional: install
``contrastkit[faiss]`` (``faiss-cpu``).

Example:
    >>> x = torch.randn(100, 8); q = torch.randn(4, 8)
    >>> s, i = FaissIndex(x, distance="dot").search(q, 3)
    >>> torch.equal(i, (q @ x.T).topk(3).indices)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_finite,
    check_float_tensor,
    check_positive_int,
)
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.pool import PoolLike, check_pool, pool_tile
from contrastkit.mining.tiles import Bound, apply_bounds, bounded_copy, check_bounds
from contrastkit.mining.topk import Head, TopK, empty_topk

IndexKind = Literal["flat", "ivf", "hnsw"]
_ADD_ROWS = 65536  # rows added per call, so a memmap pool is never fully resident twice


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the FAISS backend needs the faiss package: pip install 'contrastkit[faiss]'"
        ) from err
    return faiss


class FaissIndex:
    """A FAISS index over a pool ``[M, d]`` (tensor or numpy / memmap).

    Args:
        pool: the candidates.
        distance: ``cosine`` (default), ``dot``, ``sqeuclidean`` or ``euclidean``.
        index: ``"flat"`` (exact, default), ``"ivf"`` or ``"hnsw"``.
        nlist: IVF cells, at most ``M`` (default ``min(M, 4 sqrt(M))``); nprobe: IVF cells
            searched (default 16).
        hnsw_m: HNSW graph degree (32); ef_search: HNSW search breadth (128).
        seed: IVF training sample and k-means seed.
    """

    def __init__(
        self,
        pool: PoolLike,
        *,
        distance: str | Distance = "cosine",
        index: IndexKind = "flat",
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_search: int = 128,
        seed: int = 0,
    ) -> None:
        faiss = _import_faiss()
        check_choice("index", index, ("flat", "ivf", "hnsw"))
        self.distance = get_distance(distance)
        if self.distance.name not in ("cosine", "dot", "sqeuclidean", "euclidean"):
            raise ValueError(f"distance {self.distance.name!r} has no FAISS metric")
        m, d = check_pool(pool)
        if d == 0:
            raise ValueError(f"pool must have an embedding dimension >= 1, got shape {(m, d)}")
        check_positive_int("seed", seed, allow_zero=True)
        self.size, self.dim, self.kind = m, d, index
        ip = self.distance.is_inner_product
        metric = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
        if index == "flat":
            self.index = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
        elif index == "hnsw":
            check_positive_int("hnsw_m", hnsw_m)
            self.index = faiss.IndexHNSWFlat(d, hnsw_m, metric)
            self.index.hnsw.efSearch = check_positive_int("ef_search", ef_search)
        else:
            # the default never asks for more lists than there are points
            cells = nlist if nlist is not None else max(1, min(m, int(4 * np.sqrt(m))))
            check_positive_int("nlist", cells)
            if cells > m:
                raise ValueError(
                    f"nlist={cells} exceeds the number of points in the pool ({m}): IVF trains "
                    f"one k-means centroid per list, so it needs nlist <= {m} "
                    f"(or index='flat' for a pool this small)"
                )
            check_positive_int("nprobe", nprobe)
            quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
            self.index = faiss.IndexIVFFlat(quantizer, d, cells, metric)
            self.index.cp.seed = seed
            gen = torch.Generator().manual_seed(seed)
            sample = torch.randperm(m, generator=gen)[: min(m, 256 * cells)].sort().values
            self.index.train(self._prep(pool_tile_rows(pool, sample)))
            self.index.nprobe = check_positive_int("nprobe", nprobe)
            self._quantizer = quantizer  # keep it alive: the IVF index borrows it
        for m0 in range(0, m, _ADD_ROWS):
            self.index.add(
                self._prep(
                    pool_tile(pool, m0, min(m, m0 + _ADD_ROWS), torch.float32, torch.device("cpu"))
                )
            )

    def _prep(self, x: Tensor) -> np.ndarray:
        x = x.detach().to(device="cpu", dtype=torch.float32)
        if self.distance.name == "cosine":
            x = self.distance.prepare(x)
        return np.ascontiguousarray(x.numpy())

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Top-``k`` ``(scores [B, k], indices [B, k])``, scores larger = closer,
        ``-inf`` / ``-1`` where FAISS found nothing."""
        check_float_tensor("queries", queries, ndim=2)
        check_positive_int("k", k)
        if queries.shape[1] != self.dim:
            raise ValueError(
                f"queries has embedding dimension {queries.shape[1]} but the pool has {self.dim}"
            )
        check_finite("queries", queries)
        vals, idx = self.index.search(self._prep(queries), k)
        s = torch.from_numpy(vals).to(queries.dtype)
        if self.distance.name == "sqeuclidean":
            s = -s
        elif self.distance.name == "euclidean":
            s = -s.clamp_min(0).sqrt()
        i = torch.from_numpy(idx).to(torch.int64)
        s = s.masked_fill(i < 0, float("-inf"))
        return s.to(queries.device), i.to(queries.device)


def pool_tile_rows(pool: PoolLike, rows: Tensor) -> Tensor:
    """Sorted rows of a pool as a float32 CPU tensor (IVF training sample)."""
    if isinstance(pool, Tensor):
        return pool[rows.to(pool.device)].to("cpu", torch.float32)
    return torch.from_numpy(np.array(pool[rows.numpy()])).to(torch.float32)


def _rows(bounds: Sequence[Bound], rows: Tensor) -> list[Bound]:
    return [Bound(b.name, b.threshold[rows], b.upper, b.strict) for b in bounds]


@torch.no_grad()
def faiss_scan(
    queries: Tensor,
    index: FaissIndex,
    heads: Sequence[Head],
    *,
    exclusions: Exclusions | None = None,
    bounds: Sequence[Bound] = (),
    slack: int = 16,
) -> tuple[list[TopK], dict[str, Tensor]]:
    """:func:`~contrastkit.mining.topk.scan_topk` for score-ranked heads, on FAISS.

    Rows short of ``k`` valid candidates after exclusions and bounds are searched
    again with twice the fetch size until full or the whole pool was fetched.
    """
    if any(h.alpha is not None for h in heads):
        raise ValueError(
            "backend='faiss' ranks by score only; sampled strategies need backend='exact'"
        )
    n_q, dev, dt = queries.shape[0], queries.device, queries.dtype
    head_bounds = [b for h in heads for b in h.bounds]
    check_bounds([*bounds, *head_bounds], n_q)
    extra = 0 if exclusions is None else exclusions.max_pairs_per_row(n_q)
    first = min(index.size, max(h.k for h in heads) + extra + slack)
    fetch = torch.full((n_q,), first, dtype=torch.int64, device=dev)
    out = [empty_topk(n_q, h.k, dt, dev) for h in heads]
    removed = {b.name: torch.zeros(n_q, dtype=torch.int64, device=dev) for b in bounds}
    todo = torch.arange(n_q, device=dev)
    while todo.numel():
        f = int(fetch[todo].max())
        s, cand = index.search(queries[todo], f)
        if exclusions is not None:
            s = s.masked_fill(exclusions.banned(todo, cand, index.size), float("-inf"))
        # Counts are redone on each (larger) fetch of a row.
        counts = {n: torch.zeros(todo.numel(), dtype=torch.int64, device=dev) for n in removed}
        apply_bounds(s, _rows(bounds, todo), counts, 0, todo.numel())
        short = torch.zeros(todo.numel(), dtype=torch.bool, device=dev)
        for h, st in zip(heads, out, strict=True):
            s_h = bounded_copy(s, _rows(h.bounds, todo), 0, todo.numel()) if h.bounds else s
            keys, pos = s_h.topk(min(h.k, f), dim=1)
            kk = keys.shape[1]
            st.keys[todo, :kk] = keys
            st.scores[todo, :kk] = keys
            st.indices[todo, :kk] = cand.gather(1, pos)
            short |= (keys > float("-inf")).sum(1) < h.k
        for name, v in counts.items():
            removed[name][todo] = v
        todo = todo[short & (fetch[todo] < index.size)]
        fetch[todo] = torch.clamp(fetch[todo] * 2, max=index.size)
    return out, removed
