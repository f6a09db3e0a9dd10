"""Every group of a text: the rule against brute force over group sets, and on
WordNet, strings shared by unrelated synsets (the one-synset filter missed them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.data.text_memberships import (
    FalseNegativeRule,
    TextMemberships,
    equal_group_pairs,
)

WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")


def _brute(groups_of: list[set[int]], a: list[int], c: list[int], rel) -> torch.Tensor:
    return torch.tensor(
        [[any(rel(g, h) for g in groups_of[i] for h in groups_of[j]) for j in c] for i in a],
        dtype=torch.bool,
    ).reshape(len(a), len(c))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_related_and_related_pairs_match_brute_force(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    n, g = 9, 5
    ids = torch.randint(0, n, (14,), generator=gen)
    groups = torch.randint(-1, g, (14,), generator=gen)  # -1: no group (dropped)
    m = TextMemberships(n, ids, groups)
    groups_of: list[set[int]] = [set() for _ in range(n)]
    for i, k in zip(ids.tolist(), groups.tolist(), strict=True):
        if k >= 0:
            groups_of[i].add(k)
    rel_matrix = torch.rand(g, g, generator=gen) < 0.3
    rel_matrix |= rel_matrix.t().clone()
    a = torch.randint(0, n, (5,), generator=gen)
    c = torch.randint(0, n, (7,), generator=gen)
    want_eq = _brute(groups_of, a.tolist(), c.tolist(), lambda x, y: x == y)
    assert torch.equal(m.related(a, c), want_eq)
    want_rel = _brute(groups_of, a.tolist(), c.tolist(), lambda x, y: bool(rel_matrix[x, y]))
    got = m.related(a, c, lambda ga, gc: rel_matrix[ga][:, gc])
    assert torch.equal(got, want_rel)
    # the pair lists hold exactly the True cells (duplicates allowed)
    for pairs, want in (
        (None, want_eq),
        (lambda ga, gc: torch.nonzero(rel_matrix[ga][:, gc], as_tuple=True), want_rel),
    ):
        r, k = m.related_pairs(a, c, pairs)
        dense = torch.zeros_like(want)
        dense[r, k] = True
        assert torch.equal(dense, want)


def test_equal_group_pairs_is_a_join() -> None:
    r, c = equal_group_pairs(torch.tensor([3, 1, 3]), torch.tensor([1, 3, 3, 2]))
    assert sorted(zip(r.tolist(), c.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 0),
        (2, 1),
        (2, 2),
    ]


def test_memberships_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="text_ids"):
        TextMemberships(3, torch.tensor([0, 5]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="one length"):
        TextMemberships(3, torch.tensor([0, 1]), torch.tensor([0]))


@pytest.mark.slow  # reads 12,000 WordNet synsets and their filter (~15-25 s)
@pytest.mark.skipif(not Path(WN_DIR, "data.noun").is_file(), reason="WordNet 3.0 not installed")
def test_wordnet_strings_of_unrelated_synsets_are_false_negatives_for_each() -> None:
    from contrastkit.data.text_pairs import from_wordnet_pairs
    from contrastkit.data.wordnet import load_wordnet_nouns
    from contrastkit.data.wordnet_structure import StructuralFilter
    from contrastkit.data.wordnet_text import load_wordnet_text_pairs

    nouns = load_wordnet_nouns(WN_DIR)
    pairs = load_wordnet_text_pairs(nouns=nouns, max_synsets=12_000)
    ex = from_wordnet_pairs(pairs)
    structural = StructuralFilter.from_pairs(pairs, nouns)
    canon = ex.canonical
    dup = torch.nonzero(canon != torch.arange(canon.numel())).squeeze(1)  # second copies
    first_syn, dup_syn = pairs.text_synset[canon[dup]], pairs.text_synset[dup]
    unrelated = dup[~structural.forbidden_synsets(first_syn, dup_syn).diagonal()]
    assert unrelated.numel() > 0  # e.g. "snipe": a definition and a genus's gloss
    # every text of the second synset: the one-synset filter lets them be negatives
    # of the shared string (its canonical id), the rule never does
    syn = pairs.text_synset
    i, targets = equal_group_pairs(syn[unrelated], syn)  # (dup, a text of its synset)
    shared = canon[unrelated[i]]  # the shared string, by its canonical (first) id
    old = structural.forbidden(shared, canon[targets]).diagonal()
    assert not bool(old.all())
    memberships = TextMemberships(len(ex.texts), canon, ex.groups)
    rule = FalseNegativeRule(memberships, structural)
    assert bool(rule.forbidden(shared, canon[targets]).diagonal().all())
    rows, cols = rule.banned_pairs(shared, canon[targets])
    hit = torch.zeros(shared.numel(), targets.numel(), dtype=torch.bool)
    hit[rows, cols] = True
    assert bool(hit.diagonal().all())
