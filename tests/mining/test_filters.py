"""False-negative filters: thresholds (sign-aware), removal counts, rank window."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.distances import get_distance
from contrastkit.mining.filters import FalseNegativeFilters, drop_members
from contrastkit.mining.miner import mine
from contrastkit.mining.topk import TopK


@pytest.mark.parametrize("dist", ["cosine", "sqeuclidean"])
def test_margins_and_counts_match_brute_force(dist, gen):
    pool = torch.randn(120, 4, generator=gen, dtype=torch.float64)
    a = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    p = a + 0.5 * torch.randn(6, 4, generator=gen, dtype=torch.float64)
    D = get_distance(dist)
    full, s_p = D.score_pairwise(a, pool), D.score_paired(a, p)
    # max_score sits between scores: the tile and the reference may round the median apart
    f = FalseNegativeFilters(
        absolute_margin=0.05, relative_margin=0.1, max_score=float(full.median()) + 1e-9
    )
    res = mine(a, pool, 5, "hardest", positives=p, filters=f, distance=dist, memory_budget=5_000)
    t_abs = s_p - 0.05
    t_rel = s_p - 0.1 * s_p.abs()
    assert res.report.removed["absolute_margin"] == int((full >= t_abs[:, None]).sum())
    assert res.report.removed["relative_margin"] == int((full >= t_rel[:, None]).sum())
    assert res.report.removed["max_score"] == int((full > f.max_score).sum())
    ok = (full < t_abs[:, None]) & (full < t_rel[:, None]) & (full <= f.max_score)
    ref = full.masked_fill(~ok, float("-inf")).topk(5)
    assert torch.equal(res.indices[res.mask], ref.indices[torch.isfinite(ref.values)])
    if dist == "sqeuclidean":  # scores < 0: relative margin must still tighten the bound
        assert (t_rel < s_p).all()
        naive = (1 - 0.1) * s_p
        assert (naive > s_p).all()  # the sentence-transformers form would loosen it


def test_skip_top_rank_window(gen):
    pool = torch.randn(60, 3, generator=gen)
    a = torch.randn(4, 3, generator=gen)
    full = get_distance("cosine").score_pairwise(a, pool)
    res = mine(a, pool, 5, "hardest", filters=FalseNegativeFilters(skip_top=3))
    assert torch.equal(res.indices, full.topk(8).indices[:, 3:])
    assert res.report.removed["skip_top"] == 12
    for name in ("weighted", "random", "mixed", "semi_hard", "cluster"):
        kw = {"positives": a + 0.1} if name == "semi_hard" else {}
        r = mine(a, pool, 5, name, filters=FalseNegativeFilters(skip_top=3), generator=1, **kw)
        top3 = full.topk(3).indices
        assert not (r.indices.unsqueeze(2) == top3.unsqueeze(1)).any(), name
        assert r.report.removed["skip_top"] == 12, name


def test_drop_members_keeps_order_and_pads():
    top = TopK(
        torch.tensor([[5.0, 4.0, 3.0, float("-inf")]]),
        torch.tensor([[5.0, 4.0, 3.0, 0.0]]),
        torch.tensor([[7, 2, 9, -1]]),
    )
    out = drop_members(top, torch.tensor([[2, -1]]), 3)
    assert out.indices.tolist() == [[7, 9, -1]]
    assert torch.isinf(out.keys[0, 2])
    wide = drop_members(top, torch.tensor([[7]]), 6)
    assert wide.indices.shape == (1, 6) and wide.indices[0, :2].tolist() == [2, 9]


def test_bad_filters():
    with pytest.raises(ValueError, match="absolute_margin"):
        FalseNegativeFilters(absolute_margin=-1.0)
    with pytest.raises(ValueError, match="skip_top"):
        FalseNegativeFilters(skip_top=-2)
    with pytest.raises(ValueError, match="positive"):
        mine(
            torch.randn(2, 3),
            torch.randn(5, 3),
            1,
            filters=FalseNegativeFilters(relative_margin=0.1),
        )
