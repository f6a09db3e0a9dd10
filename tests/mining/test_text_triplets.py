"""Text triplet mining: every strategy against a brute-force reference, the filters,
the difficulty, the Parquet round trip, and a run on Arabic-script texts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from contrastkit.data.wordnet import load_wordnet_nouns
from contrastkit.data.wordnet_structure import StructuralFilter
from contrastkit.data.wordnet_text import TextPairs, build_text_pairs
from contrastkit.mining.text_triplets import (
    TextMiningConfig,
    Triplets,
    mine_pairs,
    mine_text_triplets,
    string_keys,
)
from tests.wordnet_slice import hash_encode, write_wordnet_slice

A, M, D = 12, 60, 16


@pytest.fixture
def emb() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    pool = F.normalize(torch.randn(M, D, generator=g), dim=1)
    anchors = F.normalize(pool[:A] + 0.3 * torch.randn(A, D, generator=g), dim=1)
    positives = F.normalize(anchors + 0.5 * torch.randn(A, D, generator=g), dim=1)
    return anchors, positives, pool


def _run(emb, config: TextMiningConfig, **kw) -> Triplets:  # type: ignore[no-untyped-def]
    a, p, pool = emb
    # text ids: anchors 100.., positives 200.., pool 0..M-1 (pool row j = text j)
    return mine_text_triplets(
        a,
        p,
        pool,
        anchor_ids=torch.arange(100, 100 + A),
        positive_ids=torch.arange(200, 200 + A),
        pool_ids=torch.arange(M),
        config=config,
        **kw,
    )


def _dense(emb) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    a, p, pool = emb
    return a @ pool.T, (a * p).sum(1)


def _rows(t: Triplets) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for a, n in zip(t.anchor_id.tolist(), t.negative_id.tolist(), strict=True):
        out.setdefault(a - 100, []).append(n)
    return out


def test_hardest_matches_brute_force(emb) -> None:  # type: ignore[no-untyped-def]
    t = _run(emb, TextMiningConfig("hardest", num_negatives=4))
    s, _ = _dense(emb)
    ref = s.topk(4, dim=1).indices
    got = _rows(t)
    for i in range(A):
        assert got[i] == ref[i].tolist()
    assert t.rank.tolist() == [0, 1, 2, 3] * A


def test_difficulty_is_negative_minus_positive_score(emb) -> None:  # type: ignore[no-untyped-def]
    t = _run(emb, TextMiningConfig("hardest", num_negatives=3))
    s, sp = _dense(emb)
    row = t.anchor_id - 100
    torch.testing.assert_close(t.negative_score, s[row, t.negative_id])
    torch.testing.assert_close(t.positive_score, sp[row])
    torch.testing.assert_close(t.difficulty, s[row, t.negative_id] - sp[row])


@pytest.mark.parametrize("margin", [None, 0.3])
def test_semi_hard_window(emb, margin) -> None:  # type: ignore[no-untyped-def]
    t = _run(emb, TextMiningConfig("semi_hard", num_negatives=3, margin=margin))
    s, sp = _dense(emb)
    got = _rows(t)
    for i in range(A):
        ok = s[i] < sp[i]
        if margin is not None:
            ok &= s[i] > sp[i] - margin
        cand = torch.nonzero(ok).squeeze(1)
        ref = cand[s[i, cand].argsort(descending=True)][:3].tolist()
        assert got.get(i, []) == ref
    assert bool((t.difficulty < 0).all())


def test_range_window_top_and_random(emb) -> None:  # type: ignore[no-untyped-def]
    s, _ = _dense(emb)
    order = s.argsort(dim=1, descending=True)
    top = _rows(_run(emb, TextMiningConfig("range", num_negatives=3, range_min=5, range_max=15)))
    rnd = _run(
        emb,
        TextMiningConfig("range", num_negatives=3, range_min=5, range_max=15, sampling="random"),
    )
    rnd_rows = _rows(rnd)
    for i in range(A):
        assert top[i] == order[i, 5:8].tolist()
        window = set(order[i, 5:15].tolist())
        assert set(rnd_rows[i]) <= window and len(set(rnd_rows[i])) == 3
    # sampled negatives are re-sorted closest first within each anchor
    for i in range(A):
        sc = s[i, rnd_rows[i]]
        assert bool((sc[:-1] >= sc[1:]).all())
    # the random window differs from the top of the window somewhere
    assert any(rnd_rows[i] != top[i] for i in range(A))
    with pytest.raises(ValueError, match="range_max - range_min"):
        TextMiningConfig("range", num_negatives=5, range_min=8, range_max=10)


@pytest.mark.parametrize(("absolute", "relative"), [(0.1, None), (None, 0.2)])
def test_margins_against_the_positive(emb, absolute, relative) -> None:  # type: ignore[no-untyped-def]
    cfg = TextMiningConfig(
        "hardest", num_negatives=5, absolute_margin=absolute, relative_margin=relative
    )
    t = _run(emb, cfg)
    s, sp = _dense(emb)
    thr = sp - absolute if absolute is not None else sp - relative * sp.abs()
    got = _rows(t)
    for i in range(A):
        cand = torch.nonzero(s[i] < thr[i]).squeeze(1)
        assert got.get(i, []) == cand[s[i, cand].argsort(descending=True)][:5].tolist()


def test_category_and_cluster_spread(emb) -> None:  # type: ignore[no-untyped-def]
    cats = torch.zeros(300, dtype=torch.int64)
    cats[:M] = torch.arange(M) % 4
    cats[100 : 100 + A] = torch.arange(A) % 4
    t = _run(emb, TextMiningConfig("category", num_negatives=6), categories=cats)
    assert bool((cats[t.negative_id] != cats[t.anchor_id]).all())
    per_anchor = _rows(t)
    assert all(len({int(cats[n]) for n in v}) == 3 for v in per_anchor.values())
    with pytest.raises(ValueError, match="categories"):
        _run(emb, TextMiningConfig("category"))
    c = _run(emb, TextMiningConfig("cluster", num_negatives=4, num_clusters=4))
    assert len(c) == 4 * A


def test_own_texts_equal_strings_and_structure_are_never_negatives(emb) -> None:  # type: ignore[no-untyped-def]
    a, p, pool = emb
    # pool text 3 is anchor 0's positive, pool text 5 has the same string as anchor 1
    texts = [f"t{i}" for i in range(M)]
    keys = string_keys(
        texts + ["x"] * 40 + [f"a{i}" for i in range(A)] + ["p"] * 88 + [f"q{i}" for i in range(A)]
    )
    keys[100 + 1] = keys[5]
    pos_ids = torch.arange(200, 200 + A)
    pos_ids[0] = 3

    class Ban:  # anchor row i bans pool item i + 10 (a structural relation)
        def banned_pairs(self, anchor_ids: torch.Tensor, pool_ids: torch.Tensor):  # type: ignore[no-untyped-def]
            rows = torch.arange(anchor_ids.numel())
            return rows, rows + 10

    pool_near = pool.clone()
    pool_near[3], pool_near[5] = a[0], a[1]  # make them the hardest candidates
    for i in range(A):
        pool_near[i + 10] = a[i]
    t = mine_text_triplets(
        a,
        p,
        pool_near,
        anchor_ids=torch.arange(100, 100 + A),
        positive_ids=pos_ids,
        pool_ids=torch.arange(M),
        config=TextMiningConfig("hardest", num_negatives=3),
        structural=Ban(),
        text_keys=keys,
    )
    got = _rows(t)
    assert 3 not in got[0] and 5 not in got[1]
    assert all(i + 10 not in got[i] for i in range(A))


def test_bad_inputs(emb) -> None:  # type: ignore[no-untyped-def]
    a, p, pool = emb
    with pytest.raises(ValueError, match="strategy"):
        TextMiningConfig("nearest")
    with pytest.raises(ValueError, match="positive_emb"):
        mine_text_triplets(
            a, p[:3], pool, anchor_ids=torch.arange(A), positive_ids=torch.arange(A),
            pool_ids=torch.arange(M),
        )  # fmt: skip
    with pytest.raises(ValueError, match="pool_ids"):
        mine_text_triplets(
            a, p, pool, anchor_ids=torch.arange(A), positive_ids=torch.arange(A),
            pool_ids=torch.arange(M - 1),
        )  # fmt: skip


def test_parquet_round_trip(emb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = _run(emb, TextMiningConfig("semi_hard", num_negatives=2))
    texts = [f"text {i}" for i in range(300)]
    out = t.to_parquet(tmp_path / "tri.parquet", texts)
    assert [p.name for p in tmp_path.iterdir()] == ["tri.parquet"]  # no temporary left
    back = Triplets.from_parquet(out)
    assert back.strategy == "semi_hard" and len(back) == len(t)
    for name in ("anchor_id", "negative_id", "rank"):
        assert torch.equal(getattr(back, name), getattr(t, name))
    torch.testing.assert_close(back.difficulty, t.difficulty)
    assert back.texts is not None and back.texts[2][0] == texts[int(t.negative_id[0])]


@pytest.fixture(scope="module")
def slice_pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[TextPairs, StructuralFilter]:
    nouns = load_wordnet_nouns(write_wordnet_slice(tmp_path_factory.mktemp("wn")))
    pairs = build_text_pairs(nouns, fractions=(1.0, 0.0, 0.0))
    return pairs, StructuralFilter.from_pairs(pairs, nouns)


@pytest.mark.parametrize(
    "strategy", ["hardest", "semi_hard", "range", "random", "cluster", "category"]
)
def test_mine_pairs_on_a_wordnet_slice(slice_pairs, strategy: str) -> None:  # type: ignore[no-untyped-def]
    pairs, filt = slice_pairs
    cfg = TextMiningConfig(strategy, num_negatives=2, range_max=4, num_clusters=3)
    t = mine_pairs(pairs, hash_encode, config=cfg, structural=filt)
    assert len(t) > 0 and t.texts is not None
    assert not bool(filt.forbidden(t.anchor_id, t.negative_id).diagonal().any())
    assert bool((pairs.text_role[t.negative_id] == 2).all())  # the pool: definitions
    emb = hash_encode(pairs.texts)
    s_n = (emb[t.anchor_id] * emb[t.negative_id]).sum(1)
    s_p = (emb[t.anchor_id] * emb[t.positive_id]).sum(1)
    torch.testing.assert_close(t.difficulty, s_n - s_p, atol=1e-5, rtol=1e-5)


def test_arabic_script_texts() -> None:
    """The pipeline on Arabic texts: tokenisation is the model's, nothing assumes English."""
    from contrastkit.models.text import TextEncoder
    from contrastkit.models.tiny_text import build_tiny_bert

    anchors = ["القطة تجلس على السجادة", "الكلب ينبح في الليل", "الشمس تشرق في الصباح"]
    positives = ["قطة صغيرة على البساط", "كلب يصدر صوتا ليلا", "شروق الشمس صباحا"]
    others = ["السيارة سريعة جدا", "الكتاب على الطاولة", "المطر يهطل بغزارة", "البحر هادئ اليوم"]
    texts = anchors + positives + others
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_bert(Path(tmp) / "tiny", texts, dim=16, layers=1, heads=2)
        enc = TextEncoder(path)
        emb = enc.encode(texts)
        tokens = enc.model.tokenize(anchors)["input_ids"]
    assert int((tokens == 1).sum()) == 0  # no [UNK]: the vocabulary covers the script
    ids = torch.arange(len(texts))
    t = mine_text_triplets(
        emb[:3], emb[3:6], emb[3:], anchor_ids=ids[:3], positive_ids=ids[3:6], pool_ids=ids[3:],
        config=TextMiningConfig("hardest", num_negatives=2), text_keys=string_keys(texts),
    )  # fmt: skip
    assert len(t) == 6
    assert not bool((t.negative_id == t.positive_id).any())
    t = t.with_texts(texts)
    assert t.texts is not None and all(x in texts for x in t.texts[2])
    # held-out retrieval of the same texts: anchors against positives plus distractors
    from contrastkit.eval.text_retrieval import text_retrieval_metrics

    m = text_retrieval_metrics(emb[:3], emb[3:], torch.arange(3), ks=(1, 3), dims=(8,))
    assert 0.0 <= m["recall@1"] <= m["recall@3"] <= 1.0 and "dim8/ndcg@10" in m


@pytest.mark.parametrize(
    "settings",
    [
        {"num_negatives": 3},
        {"num_negatives": 2, "range_min": 2, "range_max": 6},
        {"num_negatives": 3, "absolute_margin": 0.02},
        {"num_negatives": 3, "relative_margin": 0.05},
    ],
)
def test_agrees_with_sentence_transformers_mine_hard_negatives(settings: dict) -> None:  # type: ignore[type-arg]
    """The same negatives as ``sentence_transformers.util.mine_hard_negatives`` on the
    same texts and model (exact search, ``sampling_strategy="top"``)."""
    pytest.importorskip("datasets")
    import tempfile

    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from contrastkit.models.text import TextEncoder
    from contrastkit.models.tiny_text import build_tiny_bert

    g = torch.Generator().manual_seed(0)
    words = ["red", "blue", "cat", "dog", "runs", "sleeps", "big", "small", "tree", "car"]
    texts = list(
        dict.fromkeys(
            " ".join(words[int(i)] for i in torch.randint(0, 10, (4,), generator=g))
            for _ in range(80)
        )
    )
    anchors, positives, corpus = texts[:12], texts[12:24], texts[12:]
    with tempfile.TemporaryDirectory() as tmp:
        enc = TextEncoder(build_tiny_bert(Path(tmp) / "m", texts, dim=16, layers=1, heads=2))
        ds = Dataset.from_dict({"anchor": anchors, "positive": positives})
        theirs = mine_hard_negatives(
            ds, enc.model, corpus=corpus, sampling_strategy="top", use_faiss=False,
            verbose=False, batch_size=64, **settings,
        )  # fmt: skip
        emb = enc.encode(texts)
    n = len(anchors)
    cfg = TextMiningConfig(
        "range" if "range_min" in settings else "hardest",
        num_negatives=settings["num_negatives"],
        range_min=settings.get("range_min", 0),
        range_max=settings.get("range_max", 10),
        absolute_margin=settings.get("absolute_margin"),
        relative_margin=settings.get("relative_margin"),
    )
    ours = mine_text_triplets(
        emb[:n], emb[n : 2 * n], emb[n:], anchor_ids=torch.arange(n),
        positive_ids=torch.arange(n, 2 * n), pool_ids=torch.arange(n, len(texts)), config=cfg,
    )  # fmt: skip
    pairs = zip(ours.anchor_id.tolist(), ours.negative_id.tolist(), strict=True)
    ours_by: dict[str, set[str]] = {}
    for a, b in pairs:
        ours_by.setdefault(texts[a], set()).add(texts[b])
    theirs_by: dict[str, set[str]] = {}
    for r in theirs:
        theirs_by.setdefault(r["anchor"], set()).add(r["negative"])
    assert theirs_by
    for anchor, negs in theirs_by.items():
        assert ours_by[anchor] == negs, anchor
    missed = set(ours_by) - set(theirs_by)
    if "absolute_margin" not in settings and "relative_margin" not in settings:
        assert not missed
    # sentence-transformers applies margins only among its first range_min + 10 K + 1
    # candidates: an anchor whose candidates there all violate the margin gets nothing,
    # while the exact scan finds the closest valid ones further down the ranking
    window = 10 * settings["num_negatives"] + 1
    unit = torch.nn.functional.normalize(emb, dim=1)
    for anchor in missed:
        order = (unit[n:] @ unit[texts.index(anchor)]).argsort(descending=True)
        rank = {texts[n + int(j)]: r for r, j in enumerate(order)}
        assert all(rank[neg] >= window - 1 for neg in ours_by[anchor]), anchor
