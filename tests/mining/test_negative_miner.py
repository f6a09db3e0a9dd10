"""NegativeMiner (stateful generator) and in-batch triplet mining with labels."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.mining.negative_miner import NegativeMiner, mine_in_batch, random_positives
from contrastkit.mining.strategies import SemiHard


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), c=st.integers(1, 10), seed=st.integers(0, 999))
def test_random_positives_same_label_never_self(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    p = random_positives(y, g)
    counts = torch.bincount(y, minlength=c)
    single = counts[y] == 1
    assert (p[single] == -1).all()
    ok = ~single
    assert (y[p[ok]] == y[ok]).all() and (p[ok] != torch.arange(n)[ok]).all()


def test_random_positives_are_uniform():
    y = torch.zeros(4, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([random_positives(y, g) for _ in range(3000)])
    freq = torch.bincount(draws[:, 0], minlength=4).double() / 3000  # item 0's positive
    torch.testing.assert_close(
        freq, torch.tensor([0.0, 1 / 3, 1 / 3, 1 / 3], dtype=torch.float64), atol=0.03, rtol=0
    )


def test_mine_in_batch_semi_hard_band_and_singletons(gen):
    z = torch.nn.functional.normalize(torch.randn(60, 8, generator=gen), dim=1)
    y = torch.arange(60) % 12
    y[59] = 99  # a singleton: no positive, masked row
    t = mine_in_batch(
        z, y, 4, SemiHard(band=0.3, fallback="none"), distance="euclidean", generator=1
    )
    r = t.result
    assert t.positive[59] == -1 and not r.mask[59].any()
    d = torch.cdist(z, z)
    ap = d[t.anchor, t.positive.clamp_min(0)].unsqueeze(1)
    an = d[t.anchor.unsqueeze(1), r.safe_indices()]
    assert ((an > ap - 1e-5) & (an < ap + 0.3 + 1e-5))[r.mask].all()
    assert not (y[r.safe_indices()] == y.unsqueeze(1))[r.mask].any()


@pytest.mark.peers
def test_in_batch_semi_hard_triplets_are_pml_semihard_triplets(gen):
    pml = pytest.importorskip("pytorch_metric_learning.miners")
    z = torch.nn.functional.normalize(torch.randn(48, 6, generator=gen, dtype=torch.float64), dim=1)
    y = torch.arange(48) % 6
    a, p, n = pml.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")(z, y)
    theirs = set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))
    t = mine_in_batch(
        z, y, 5, SemiHard(band=0.2, fallback="none"), distance="euclidean", generator=2
    )
    ours = {
        (int(i), int(t.positive[i]), int(j))
        for i in range(48)
        for j, ok in zip(t.result.indices[i].tolist(), t.result.mask[i].tolist(), strict=True)
        if ok
    }
    assert ours and ours <= theirs
    # and we find every anchor's K closest band members: none of theirs for that (a, p)
    # is closer to the anchor than our farthest pick while missing from ours
    for i in range(48):
        mine_i = [j for (aa, _, j) in ours if aa == i]
        band = {nn for (aa, pp, nn) in theirs if aa == i and pp == int(t.positive[i])}
        assert set(mine_i) <= band
        assert len(mine_i) == min(5, len(band))


def test_negative_miner_state_and_positive_ids(gen):
    pool = torch.randn(50, 4, generator=gen)
    a = torch.randn(6, 4, generator=gen)
    pos_ids = torch.randint(0, 50, (6, 2), generator=gen)
    miner = NegativeMiner(3, "weighted", seed=7)
    state = miner.state_dict()
    r1 = miner(a, pool, positive_ids=pos_ids, anchor_ids=torch.arange(6))
    r2 = miner(a, pool, positive_ids=pos_ids, anchor_ids=torch.arange(6))
    assert not torch.equal(r1.indices, r2.indices)  # the generator advances
    miner.load_state_dict(state)
    assert torch.equal(
        miner(a, pool, positive_ids=pos_ids, anchor_ids=torch.arange(6)).indices, r1.indices
    )
    assert not (r1.indices.unsqueeze(2) == pos_ids.unsqueeze(1)).any()
    assert not (r1.indices == torch.arange(6).unsqueeze(1)).any()
    s_p = torch.nn.functional.cosine_similarity(a, pool[pos_ids[:, 0]])
    torch.testing.assert_close(r1.difficulty, (r1.scores - s_p.unsqueeze(1) + 1) * r1.mask)
    with pytest.raises(ValueError, match="positive_ids"):
        miner(a, pool, positive_ids=torch.full((6,), -1))
    with pytest.raises(ValueError, match="labels"):
        mine_in_batch(torch.randn(4, 2), torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="k"):
        NegativeMiner(0)


def test_mine_in_batch_large_classes_use_label_exclusion(gen):
    # classes above 64 items switch the same-label exclusion from pairs to labels
    z = torch.randn(200, 4, generator=gen)
    y = torch.arange(200) % 2
    t = mine_in_batch(z, y, 5, "hardest", generator=0)
    r = t.result
    assert r.mask.all()
    assert not (y[r.indices] == y.unsqueeze(1)).any()
    full = torch.nn.functional.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=2)
    full = full.masked_fill(y.unsqueeze(1) == y.unsqueeze(0), float("-inf"))
    assert torch.equal(r.indices, full.topk(5, dim=1).indices)
