"""Held-out text retrieval (brute force, Matryoshka widths) and gensim's similarity sets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from contrastkit.data.wordnet import load_wordnet_nouns
from contrastkit.data.wordnet_text import TextPairs, build_text_pairs
from contrastkit.eval.general_similarity import (
    general_similarity,
    gensim_available,
    lee_spearman,
    simlex_spearman,
    spearman,
)
from contrastkit.eval.retrieval import retrieval_metrics
from contrastkit.eval.text_retrieval import (
    evaluate_text_retrieval,
    retrieval_split,
    text_retrieval_metrics,
)
from tests.wordnet_slice import hash_encode, write_wordnet_slice


def _brute(q: torch.Tensor, c: torch.Tensor, rel: torch.Tensor) -> dict[str, float]:
    """A plain loop over queries: sort the corpus, find the relevant item's position."""
    out = {"recall@1": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}
    qn, cn = F.normalize(q, dim=1), F.normalize(c, dim=1)
    for i in range(q.shape[0]):
        s = (cn @ qn[i]).tolist()
        target = s[int(rel[i])]
        rank = 1 + sum(1 for v in s if v > target)
        out["recall@1"] += rank <= 1
        out["recall@10"] += rank <= 10
        out["mrr@10"] += 1 / rank if rank <= 10 else 0.0
        out["ndcg@10"] += 1 / math.log2(rank + 1) if rank <= 10 else 0.0
    return {k: v / q.shape[0] for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_brute_force_at_every_width(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(300, 24, generator=g, dtype=torch.float64)
    rel = torch.randint(0, 300, (40,), generator=g)
    q = c[rel] + 0.9 * torch.randn(40, 24, generator=g, dtype=torch.float64)
    got = text_retrieval_metrics(q, c, rel, dims=(12, 6))
    for prefix, width in (("", 24), ("dim12/", 12), ("dim6/", 6)):
        ref = _brute(q[:, :width], c[:, :width], rel)
        for name, value in ref.items():
            assert got[prefix + name] == pytest.approx(value, abs=1e-12), prefix + name
    assert got["num_queries"] == 40
    # truncation changes the result (the widths are really evaluated)
    assert got["dim6/mrr@10"] != got["mrr@10"]


def test_agrees_with_the_general_retrieval_metrics() -> None:
    g = torch.Generator().manual_seed(5)
    c = torch.randn(200, 16, generator=g, dtype=torch.float64)
    rel = torch.randint(0, 200, (50,), generator=g)
    q = c[rel] + torch.randn(50, 16, generator=g, dtype=torch.float64)
    ours = text_retrieval_metrics(q, c, rel, ks=(1, 10))
    pairs = torch.stack([torch.arange(50), rel])
    ref = retrieval_metrics(q, c, relevant_pairs=pairs, ks=(1, 10))
    assert ours["recall@1"] == pytest.approx(ref["recall@1"])
    assert ours["recall@10"] == pytest.approx(ref["recall@10"])
    assert ours["ndcg@10"] == pytest.approx(ref["ndcg@10"])
    assert ours["mrr@10"] <= ref["mrr"] + 1e-12


def test_bad_inputs() -> None:
    c = torch.randn(10, 4)
    with pytest.raises(ValueError, match="relevant"):
        text_retrieval_metrics(c[:3], c, torch.tensor([0, 1, 10]))
    with pytest.raises(ValueError, match="dims"):
        text_retrieval_metrics(c[:3], c, torch.tensor([0, 1, 2]), dims=(8,))
    with pytest.raises(ValueError, match="relevant"):
        text_retrieval_metrics(c[:3], c, torch.tensor([0, 1]))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> TextPairs:
    nouns = load_wordnet_nouns(write_wordnet_slice(tmp_path_factory.mktemp("wn")))
    return build_text_pairs(nouns, fractions=(0.5, 0.2, 0.3), seed=4)


def test_split_corpus_is_test_definitions_plus_distractors(pairs: TextPairs) -> None:
    split = retrieval_split(pairs, "test", num_distractors=3, seed=0)
    test_defs = set(pairs.definition_ids("test").tolist())
    corpus = split.corpus_ids.tolist()
    assert test_defs <= set(corpus)
    distractors = [c for c in corpus if c not in test_defs]
    assert len(distractors) == 3
    assert all(int(pairs.synset_split[pairs.text_synset[d]]) != 2 for d in distractors)
    # each query's relevant row is its own synset's definition
    for q, r in zip(split.query_ids.tolist(), split.relevant.tolist(), strict=True):
        assert int(pairs.text_synset[q]) == int(pairs.text_synset[corpus[r]])
        assert int(pairs.synset_split[pairs.text_synset[q]]) == 2
    everything = retrieval_split(pairs, "test", num_distractors=None)
    assert len(everything.corpus) == int(pairs.definition_ids().numel())


def test_evaluate_with_an_encoder(pairs: TextPairs) -> None:
    split = retrieval_split(pairs, "test", kinds=("lemmas", "example"), num_distractors=None)
    m = evaluate_text_retrieval(hash_encode, split, dims=(32,))
    assert 0.0 <= m["recall@1"] <= m["recall@10"] <= 1.0
    assert set(m) >= {"recall@1", "recall@10", "mrr@10", "ndcg@10", "dim32/ndcg@10"}
    # a perfect encoder (a synset's texts share one vector) retrieves everything first
    table = F.normalize(torch.randn(pairs.text_synset.max() + 1, 8), dim=1)
    lookup = {t: i for i, t in enumerate(pairs.texts)}

    def oracle(texts):  # type: ignore[no-untyped-def]
        return table[pairs.text_synset[[lookup[t] for t in texts]]]

    perfect = evaluate_text_retrieval(oracle, split)
    assert perfect["recall@1"] == 1.0 and perfect["ndcg@10"] == 1.0


def test_spearman_agrees_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (50,), generator=g).double()  # many ties
    y = x + torch.randn(50, generator=g, dtype=torch.float64)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x.numpy(), y.numpy())[0], abs=1e-12)
    with pytest.raises(ValueError, match="constant"):
        spearman(torch.ones(5), torch.arange(5.0))


def test_similarity_sets_are_skipped_when_absent(tmp_path: Path) -> None:
    assert simlex_spearman(hash_encode, path=tmp_path / "none.txt") is None
    assert lee_spearman(hash_encode, corpus=tmp_path / "a", human=tmp_path / "b") is None


@pytest.mark.skipif(not gensim_available(), reason="gensim's test data is not installed")
def test_simlex_and_lee_with_gensim_data() -> None:
    out = general_similarity(hash_encode)
    assert set(out) == {"simlex999/spearman", "lee50/spearman"}
    # shared character trigrams correlate (weakly) with human document similarity
    assert 0.0 < out["lee50/spearman"] <= 1.0
    assert -1.0 <= out["simlex999/spearman"] <= 1.0
    # an encoder that ignores its input has no ranking to correlate
    with pytest.raises(ValueError, match="constant"):
        lee_spearman(lambda texts: torch.ones(len(texts), 4))
