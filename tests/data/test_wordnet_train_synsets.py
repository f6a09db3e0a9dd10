"""``train_synsets``: training drawn from all of WordNet, the evaluation unchanged."""

from __future__ import annotations

from collections import deque

import pytest
import torch

from contrastkit.data.wordnet import WordNetNouns, load_wordnet_nouns
from contrastkit.data.wordnet_structure import related_synsets
from contrastkit.data.wordnet_text import (
    TextPairs,
    build_text_pairs,
    lemma_text,
    split_gloss,
)
from contrastkit.eval.text_retrieval import retrieval_split
from tests.wordnet_slice import write_wordnet_slice

FRACTIONS = (0.4, 0.3, 0.3)  # of a 10-synset sample: 4 train, 3 validation, 3 test


@pytest.fixture(scope="module")
def nouns(tmp_path_factory: pytest.TempPathFactory) -> WordNetNouns:
    return load_wordnet_nouns(write_wordnet_slice(tmp_path_factory.mktemp("wn")))


def _build(nouns: WordNetNouns, **kw: object) -> TextPairs:
    return build_text_pairs(nouns, fractions=FRACTIONS, max_synsets=10, seed=1, **kw)  # type: ignore[arg-type]


def _allowed_reference(nouns: WordNetNouns, split: torch.Tensor, hops: int) -> set[int]:
    """Synsets that may train, by breadth-first search and string sets (plain loops)."""
    n = nouns.num_nodes
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for u, v in nouns.hierarchy_edges().t().tolist():
        nbrs[u].add(v)
        nbrs[v].add(u)
    held = [s for s in range(n) if int(split[s]) >= 1]

    def strings(s: int) -> set[str]:
        definition, examples = split_gloss(nouns.glosses[s])
        return {lemma_text(nouns.lemmas[s]), definition, *examples}

    banned = set(held)
    for h in held:
        if hops >= 0:
            dist = {h: 0}
            queue = deque([h])
            while queue:
                u = queue.popleft()
                for v in nbrs[u]:
                    if v not in dist and dist[u] < hops:
                        dist[v] = dist[u] + 1
                        queue.append(v)
            banned |= set(dist)
            mine = {x.lower() for x in nouns.lemmas[h]}
            banned |= {t for t in range(n) if mine & {x.lower() for x in nouns.lemmas[t]}}
        banned |= {t for t in range(n) if strings(t) & strings(h)}
    return set(range(n)) - banned


def _training_synsets(p: TextPairs) -> set[int]:
    train = p.subset("train")
    return set(p.text_synset[torch.cat([train.anchors, train.positives])].tolist())


def test_evaluation_is_unchanged_and_training_grows(nouns: WordNetNouns) -> None:
    base = _build(nouns)
    wide = _build(nouns, train_synsets=8, exclude_hops=0)
    assert base.sample_texts is None and wide.sample_texts == base.num_texts
    assert wide.texts[: base.num_texts] == base.texts  # the sample's texts keep their ids
    assert wide.num_texts > base.num_texts
    held = base.synset_split >= 1
    assert torch.equal(wide.synset_split[held], base.synset_split[held])
    for split in ("validation", "test"):
        a = retrieval_split(base, split, num_distractors=3, seed=4)
        b = retrieval_split(wide, split, num_distractors=3, seed=4)
        assert a.queries == b.queries and a.corpus == b.corpus
        assert torch.equal(a.relevant, b.relevant) and torch.equal(a.corpus_ids, b.corpus_ids)
        # held-out pairs: the same texts
        pa, pb = base.subset(split), wide.subset(split)
        assert torch.equal(pa.anchors, pb.anchors) and torch.equal(pa.positives, pb.positives)
    # 8 training synsets instead of the sample's 4, some outside the sample
    assert int((wide.synset_split == 0).sum()) == 8 and int((base.synset_split == 0).sum()) == 4
    assert len(_training_synsets(wide)) == 8 > len(_training_synsets(base))
    assert wide.subset("train").num_pairs > base.subset("train").num_pairs
    # distractors never come from the extra synsets
    outside = wide.definition_ids(sample_only=True)
    assert bool((outside < base.num_texts).all())
    assert outside.numel() == base.definition_ids().numel()


@pytest.mark.parametrize("hops", [-1, 0, 1, 2])
def test_training_synsets_avoid_held_out_and_related(nouns: WordNetNouns, hops: int) -> None:
    split = _build(nouns).synset_split
    allowed = _allowed_reference(nouns, split, hops)
    assert allowed  # the slice leaves something to draw at every setting
    # asking for every allowed synset draws exactly them: nothing forbidden, none missed
    p = _build(nouns, train_synsets=len(allowed), exclude_hops=hops)
    drawn = set(torch.nonzero(p.synset_split == 0).squeeze(1).tolist())
    assert drawn == allowed
    assert _training_synsets(p) <= allowed
    held_texts = {p.texts[i] for i in torch.nonzero(p.synset_split[p.text_synset] >= 1)[:, 0]}
    train = p.subset("train")
    assert not held_texts & set(p.text_list(torch.cat([train.anchors, train.positives])))
    with pytest.raises(ValueError, match=f"train_synsets must be at most {len(allowed)}"):
        _build(nouns, train_synsets=len(allowed) + 1, exclude_hops=hops)


def test_related_synsets_is_the_filters_relation(nouns: WordNetNouns) -> None:
    from contrastkit.data.wordnet_structure import StructuralFilter

    n = nouns.num_nodes
    filt = StructuralFilter(nouns, torch.arange(n), hops=2)
    seeds = torch.tensor([3, 15])
    expected = filt.forbidden_synsets(seeds, torch.arange(n)).any(0)
    assert torch.equal(related_synsets(nouns, seeds, hops=2), expected)


def test_draw_is_seeded_and_bad_values_raise(nouns: WordNetNouns) -> None:
    a = _build(nouns, train_synsets=5, exclude_hops=0)
    b = _build(nouns, train_synsets=5, exclude_hops=0)
    assert torch.equal(a.synset_split, b.synset_split) and a.texts == b.texts
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="train_synsets"):
            _build(nouns, train_synsets=bad)
    with pytest.raises(ValueError, match="exclude_hops"):
        _build(nouns, train_synsets=2, exclude_hops=-2)
