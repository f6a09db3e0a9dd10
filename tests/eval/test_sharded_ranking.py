"""The ranking split by anchors: shards of :func:`ranking_parts` put back together give
:func:`filtered_ranking`: the same ranks (the mean rank exactly) and each anchor's AP to
the rounding of its sum over a tile's padded width (one process here; two gloo ranks
through :func:`sharded_filtered_ranking` in tests/dist/test_collectives.py)."""

from __future__ import annotations

import pytest
import torch

from contrastkit.eval.reconstruction import filtered_ranking, ranking_parts
from contrastkit.eval.sharded_ranking import sharded_filtered_ranking


def _graph(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(120, 4, generator=gen, dtype=torch.float64)
    edges = torch.randint(0, 120, (2, 600), generator=gen)
    known = torch.randint(0, 120, (2, 200), generator=gen)
    return x, edges, known


@pytest.mark.parametrize("shards", [1, 2, 3, 7])
@pytest.mark.parametrize(("mode", "ties"), [("directed", "average"), ("undirected", "optimistic")])
def test_shards_put_together_equal_the_whole(shards: int, mode: str, ties: str) -> None:
    x, edges, known = _graph()
    opts = {"distance": "poincare", "mode": mode, "ties": ties, "chunk_size": 16}
    whole = filtered_ranking(x, edges, known, **opts)
    parts = [ranking_parts(x, edges, known, shard=(i, shards), **opts) for i in range(shards)]
    assert sum(p.average_precision.numel() for p in parts) == parts[0].anchors.numel()
    ap = torch.empty(parts[0].anchors.numel(), dtype=torch.float64)
    for i, p in enumerate(parts):
        ap[i::shards] = p.average_precision
    got = parts[0].result(ap, sum(p.rank_sum for p in parts))
    assert got.mean_rank == whole.mean_rank  # ranks are counts: exact
    assert torch.equal(got.anchors, whole.anchors)
    assert torch.allclose(got.average_precision, whole.average_precision, rtol=0, atol=1e-15)
    assert abs(got.map - whole.map) <= 1e-15


def test_one_process_is_filtered_ranking_and_bad_shards_are_named() -> None:
    x, edges, known = _graph(1)
    a = sharded_filtered_ranking(x, edges, known, distance="cosine")
    b = filtered_ranking(x, edges, known, distance="cosine")
    assert (a.mean_rank, a.map) == (b.mean_rank, b.map)
    with pytest.raises(ValueError, match=r"shard must be \(i, W\)"):
        ranking_parts(x, edges, shard=(2, 2))
    with pytest.raises(ValueError, match="per-relation ranks"):
        sharded_filtered_ranking(x, edges, return_ranks=True)
