"""The FAISS backend agrees with the exact tiled scan."""

from __future__ import annotations

import pytest
import torch

from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.filters import FalseNegativeFilters
from contrastkit.mining.miner import mine
from contrastkit.mining.topk import exact_topk

faiss_backend = pytest.importorskip("contrastkit.mining.faiss_backend")
pytest.importorskip("faiss")
FaissIndex = faiss_backend.FaissIndex


@pytest.mark.parametrize("dist", ["cosine", "dot", "sqeuclidean", "euclidean"])
def test_flat_agrees_with_exact(dist, gen):
    pool = torch.randn(400, 16, generator=gen)
    q = torch.randn(30, 16, generator=gen)
    s_ref, i_ref = exact_topk(q, pool, 7, distance=dist)
    s, i = FaissIndex(pool, distance=dist).search(q, 7)
    assert torch.equal(i, i_ref)
    torch.testing.assert_close(s, s_ref, atol=1e-3, rtol=1e-4)


def test_flat_with_exclusions_and_semi_hard_matches_exact(gen):
    pool = torch.randn(300, 8, generator=gen)
    labels = torch.randint(0, 3, (300,), generator=gen)
    ids = torch.arange(20)
    q = pool[ids] + 0.05 * torch.randn(20, 8, generator=gen)
    p = pool[ids + 20]
    ex = build_exclusions(20, 300, query_ids=ids, query_labels=labels[ids], pool_labels=labels)
    index = FaissIndex(pool)
    f = FalseNegativeFilters(absolute_margin=0.02)
    for strat in ("hardest", "semi_hard"):
        a = mine(q, pool, 5, strat, positives=p, exclusions=ex, filters=f)
        b = mine(q, index, 5, strat, positives=p, exclusions=ex, filters=f)
        assert torch.equal(a.mask, b.mask), strat
        assert torch.equal(a.indices, b.indices), strat
        torch.testing.assert_close(a.scores, b.scores, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_have_high_recall(kind, gen):
    pool = torch.randn(2000, 16, generator=gen)
    q = torch.randn(50, 16, generator=gen)
    _, i_ref = exact_topk(q, pool, 10)
    index = FaissIndex(pool, index=kind, nlist=16, nprobe=8)
    _, i = index.search(q, 10)
    recall = (i.unsqueeze(2) == i_ref.unsqueeze(1)).any(2).float().mean()
    assert recall > 0.8


def test_faiss_refusals(gen):
    pool = torch.randn(20, 4, generator=gen)
    with pytest.raises(ValueError, match="poincare"):
        FaissIndex(pool, distance="poincare")
    with pytest.raises(ValueError, match="index"):
        FaissIndex(pool, index="lsh")  # type: ignore[arg-type]
    index = FaissIndex(pool)
    with pytest.raises(ValueError, match="weighted"):
        mine(torch.randn(2, 4), index, 2, "weighted")
    with pytest.raises(ValueError, match="pool"):
        mine(torch.randn(2, 5), index, 2)
    with pytest.raises(ValueError, match="k"):
        index.search(torch.randn(2, 4), 0)
