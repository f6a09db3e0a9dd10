"""WordNet glosses as text pairs: parsing, the split by synset, the structural filter."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import pytest
import torch

from contrastkit.data.wordnet import WordNetNouns, load_wordnet_nouns
from contrastkit.data.wordnet_structure import StructuralFilter
from contrastkit.data.wordnet_text import (
    PAIR_KINDS,
    SPLITS,
    TextPairs,
    build_text_pairs,
    lemma_text,
    load_wordnet_text_pairs,
    split_gloss,
)
from tests.wordnet_slice import SYNSETS, write_wordnet_slice

WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(
    not Path(WN_DIR, "data.noun").is_file(), reason=f"WordNet 3.0 not installed in {WN_DIR}"
)


@pytest.fixture(scope="module")
def nouns(tmp_path_factory: pytest.TempPathFactory) -> WordNetNouns:
    return load_wordnet_nouns(write_wordnet_slice(tmp_path_factory.mktemp("wn")))


@pytest.fixture(scope="module")
def pairs(nouns: WordNetNouns) -> TextPairs:
    return build_text_pairs(nouns, fractions=(0.5, 0.25, 0.25), seed=3)


def test_split_gloss() -> None:
    assert split_gloss('a dog; "it barked"; "it ran"') == ("a dog", ["it barked", "it ran"])
    assert split_gloss("no examples here") == ("no examples here", [])
    assert split_gloss('"only a quote"') == ('"only a quote"', [])
    assert lemma_text(("dog", "domestic_dog")) == "dog, domestic dog"


def test_texts_and_pair_kinds(nouns: WordNetNouns) -> None:
    p = build_text_pairs(nouns, fractions=(1.0, 0.0, 0.0))
    texts = [
        (p.texts[a], p.texts[b], PAIR_KINDS[k])
        for a, b, k in zip(p.anchors, p.positives, p.kind, strict=True)
    ]
    assert ("dog, domestic dog", "a domesticated carnivore", "lemmas") in texts
    assert ("the dog barked all night", "a domesticated carnivore", "example") in texts
    assert ("cats purr", "a small feline mammal", "example") in texts
    assert ("a young dog", "a domesticated carnivore", "hypernym") in texts
    # instance hypernyms are hypernym pairs too (Rex -> dog)
    assert ("a famous dog of the films", "a domesticated carnivore", "hypernym") in texts
    n = len(SYNSETS)
    counts = torch.bincount(p.kind.long(), minlength=3).tolist()
    assert counts == [n, 5, n - 1]  # one lemma pair per synset, 5 examples, a tree's edges
    # categories are the lexicographer files
    dog = p.texts.index("a domesticated carnivore")
    assert p.category_names[int(p.categories[dog])] == "noun.animal"


def test_split_by_synset_never_leaks(nouns: WordNetNouns, pairs: TextPairs) -> None:
    syn_a = pairs.text_synset[pairs.anchors]
    syn_p = pairs.text_synset[pairs.positives]
    for code, _name in enumerate(SPLITS):
        rows = pairs.split == code
        assert bool((pairs.synset_split[syn_a[rows]] == code).all())
        assert bool((pairs.synset_split[syn_p[rows]] == code).all())
    test_synsets = set(torch.nonzero(pairs.synset_split == 2).squeeze(1).tolist())
    train = pairs.subset("train")
    seen = set(pairs.text_synset[torch.cat([train.anchors, train.positives])].tolist())
    assert test_synsets and not (test_synsets & seen)
    # hypernym pairs whose ends lie in different splits are dropped, not reassigned
    full = build_text_pairs(nouns, fractions=(1.0, 0.0, 0.0))
    assert pairs.num_pairs < full.num_pairs


def test_split_is_seeded(nouns: WordNetNouns) -> None:
    a = build_text_pairs(nouns, fractions=(0.5, 0.25, 0.25), seed=1)
    b = build_text_pairs(nouns, fractions=(0.5, 0.25, 0.25), seed=1)
    c = build_text_pairs(nouns, fractions=(0.5, 0.25, 0.25), seed=2)
    assert torch.equal(a.synset_split, b.synset_split)
    assert not torch.equal(a.synset_split, c.synset_split)
    counts = torch.bincount(a.synset_split.long()).tolist()
    assert counts == [round(21 * 0.5), round(21 * 0.75) - round(21 * 0.5), 21 - round(21 * 0.75)]


def test_bad_arguments(nouns: WordNetNouns) -> None:
    with pytest.raises(ValueError, match="fractions"):
        build_text_pairs(nouns, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="kinds"):
        build_text_pairs(nouns, kinds=("synonyms",))
    with pytest.raises(ValueError, match="kinds"):
        build_text_pairs(nouns, kinds="lemmas")
    with pytest.raises(ValueError, match="split"):
        build_text_pairs(nouns).subset("dev")


def _reference_forbidden(nouns: WordNetNouns, hops: int, lemmas: bool) -> torch.Tensor:
    """[N, N] by breadth-first search and lemma-set intersection (a plain loop)."""
    n = nouns.num_nodes
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for u, v in nouns.hierarchy_edges().t().tolist():
        nbrs[u].add(v)
        nbrs[v].add(u)
    out = torch.zeros(n, n, dtype=torch.bool)
    for s in range(n):
        dist = {s: 0}
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in nbrs[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        for v, d in dist.items():
            out[s, v] = d <= hops
        if lemmas:
            mine = {x.lower() for x in nouns.lemmas[s]}
            for t in range(n):
                if mine & {x.lower() for x in nouns.lemmas[t]}:
                    out[s, t] = True
    return out


@pytest.mark.parametrize(
    ("hops", "lemmas"), [(2, True), (1, True), (0, True), (2, False), (3, False)]
)
def test_forbidden_matches_breadth_first_search(
    nouns: WordNetNouns, pairs: TextPairs, hops: int, lemmas: bool
) -> None:
    filt = StructuralFilter(nouns, pairs.text_synset, hops=hops, shared_lemmas=lemmas)
    ids = torch.arange(pairs.num_texts)
    got = filt.forbidden(ids, ids)
    ref = _reference_forbidden(nouns, hops, lemmas)
    s = pairs.text_synset
    assert torch.equal(got, ref[s][:, s])


def test_forbidden_examples(nouns: WordNetNouns, pairs: TextPairs) -> None:
    filt = StructuralFilter.from_pairs(pairs, nouns)
    t = pairs.texts

    def text(s: str) -> int:
        return t.index(s)

    dog = text("dog, domestic dog")
    cases = {
        "a domesticated carnivore": True,  # same synset
        "a young dog": True,  # child
        "a small feline mammal": True,  # sibling (2 hops)
        "a living thing": True,  # grandparent
        "a small brown songbird": False,  # 3 hops (nephew)
        "a man-made object": False,
    }
    cand = torch.tensor([text(c) for c in cases])
    assert filt.forbidden(torch.tensor([dog]), cand)[0].tolist() == list(cases.values())
    # the two senses of "bank" are 4 hops apart but share a lemma
    piggy = text("a container for keeping coins")
    money = text("a financial institution that accepts deposits")
    assert bool(filt.forbidden(torch.tensor([piggy]), torch.tensor([money]))[0, 0])
    no_lemmas = StructuralFilter(nouns, pairs.text_synset, shared_lemmas=False)
    assert not bool(no_lemmas.forbidden(torch.tensor([piggy]), torch.tensor([money]))[0, 0])


def test_banned_pairs_equal_the_dense_mask(nouns: WordNetNouns, pairs: TextPairs) -> None:
    filt = StructuralFilter(nouns, pairs.text_synset)
    g = torch.Generator().manual_seed(0)
    anchors = torch.randint(0, pairs.num_texts, (17,), generator=g)
    pool = torch.randperm(pairs.num_texts, generator=g)[:25]
    rows, cols = filt.banned_pairs(anchors, pool)
    assert bool((rows[1:] >= rows[:-1]).all())
    got = torch.zeros(17, 25, dtype=torch.bool)
    got[rows, cols] = True
    assert torch.equal(got, filt.forbidden(anchors, pool))
    assert rows.numel() == int(got.sum())  # no duplicates
    ex = filt.exclusions(anchors, pool)
    scores = torch.zeros(17, 25)
    ex.apply(scores, 0, 17, 0, 25)
    assert torch.equal(scores == float("-inf"), got)


def test_filter_rejects_bad_ids(nouns: WordNetNouns, pairs: TextPairs) -> None:
    filt = StructuralFilter(nouns, pairs.text_synset)
    with pytest.raises(ValueError, match="anchor_ids"):
        filt.forbidden(torch.tensor([pairs.num_texts]), torch.tensor([0]))
    with pytest.raises(ValueError, match="hops"):
        StructuralFilter(nouns, pairs.text_synset, hops=-1)


@pytest.mark.slow
@needs_wordnet
def test_full_wordnet_pairs_and_filter() -> None:
    nouns = load_wordnet_nouns(WN_DIR)
    pairs = load_wordnet_text_pairs(nouns=nouns)
    counts = torch.bincount(pairs.kind.long(), minlength=3).tolist()
    assert counts[0] == 82115 and counts[1] > 10_000 and counts[2] > 50_000
    filt = StructuralFilter.from_pairs(pairs, nouns)
    assert "dog, domestic dog, Canis familiaris" in pairs.texts
    dog = pairs.texts.index("dog, domestic dog, Canis familiaris")
    puppy = pairs.texts.index("a young dog")
    assert bool(filt.forbidden(torch.tensor([dog]), torch.tensor([puppy]))[0, 0])
    # banned pairs of many anchors against the training definitions equal the dense mask
    g = torch.Generator().manual_seed(0)
    anchors = pairs.anchors[torch.randint(0, pairs.num_pairs, (300,), generator=g)]
    pool = pairs.definition_ids("train")[:5000]
    rows, cols = filt.banned_pairs(anchors, pool)
    dense = filt.forbidden(anchors, pool)
    got = torch.zeros_like(dense)
    got[rows, cols] = True
    assert torch.equal(got, dense)
