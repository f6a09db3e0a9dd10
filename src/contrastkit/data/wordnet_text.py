r"""WordNet noun glosses as text pairs and a split by synset.

Built on :func:`~contrastkit.data.wordnet.load_wordnet_nouns` (WordNet 3.0's own
files, no nltk). Every selected noun synset :math:`s` contributes texts

* its *lemma names* (underscores as spaces, joined by ``", "``:
  ``"dog, domestic dog, Canis familiaris"``),
* each quoted *usage example* of its gloss,
* its *definition* (the gloss without the examples),

and the pairs (anchor text -> positive text)

* ``lemmas``: lemma names -> definition of :math:`s`,
* ``example``: usage example -> definition of :math:`s`,
* ``hypernym``: definition of :math:`s` -> definition of each hypernym (or
  instance hypernym) :math:`h` of :math:`s`.

**Split by synset.** The selected synsets are permuted with a fixed seed and cut
into train / validation / test by ``fractions``; a pair belongs to split
:math:`k` when *every* synset it touches is in :math:`k` (``hypernym`` pairs whose
ends fall into different splits are dropped), so no text of a test synset is
ever a training anchor, positive or candidate drawn from the training pairs.

**Training beyond the sample** (``train_synsets``). The ``max_synsets`` sample fixes
the evaluation; the training synsets can instead be a seeded draw from every noun
synset that is not held out, shares no lemma or text string with a held-out synset
and is not within ``exclude_hops`` hypernym hops of one (:func:`draw_train_synsets`).
The sample's texts keep their ids (drawn synsets' texts follow them,
:attr:`TextPairs.sample_texts`) and evaluation distractors are drawn from the
sample's definitions only, so the held-out queries and corpus do not change.

**Structural false negatives** (which candidate can never be a negative of an
anchor): :class:`~contrastkit.data.wordnet_structure.StructuralFilter`.

Nothing here assumes English: texts are opaque strings; tokenisation belongs to
the model that encodes them.

Example:
    >>> pairs = load_wordnet_text_pairs(max_synsets=2000)  # doctest: +SKIP
    >>> filt = StructuralFilter.from_pairs(pairs)  # doctest: +SKIP
    >>> filt.forbidden(pairs.anchors[:4], pairs.definition_ids()[:100]).shape  # doctest: +SKIP
    torch.Size([4, 100])
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_positive_int,
)
from contrastkit.data.wordnet import NOUN_LEXNAMES, WordNetNouns, load_wordnet_nouns

# StructuralFilter lives in wordnet_structure; re-exported so the old path keeps working
from contrastkit.data.wordnet_structure import StructuralFilter as StructuralFilter
from contrastkit.data.wordnet_structure import related_synsets as related_synsets

#: Pair kinds, in code order (``TextPairs.kind`` holds the index).
PAIR_KINDS: tuple[str, ...] = ("lemmas", "example", "hypernym")
#: Splits, in code order (``TextPairs.split`` holds the index).
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Text roles, in code order (``TextPairs.text_role`` holds the index).
ROLES: tuple[str, ...] = ("lemmas", "example", "definition")

_QUOTED = re.compile(r'"([^"]+)"')


def split_gloss(gloss: str) -> tuple[str, list[str]]:
    """``(definition, examples)`` of a WordNet gloss ``definition; "ex 1"; "ex 2"``.

    The definition is the text before the first double quote, stripped of the ``;``
    separator; the examples are the quoted segments after it. A gloss that starts
    with a quote keeps its whole text as the definition.

    >>> split_gloss('a domestic animal; "the dog barked all night"')
    ('a domestic animal', ['the dog barked all night'])
    """
    cut = gloss.find('"')
    if cut <= 0:
        return gloss.strip(), []
    definition = gloss[:cut].strip().rstrip(";").strip()
    if not definition:
        return gloss.strip(), []
    examples = [e.strip() for e in _QUOTED.findall(gloss[cut:]) if e.strip()]
    return definition, examples


def lemma_text(lemmas: Sequence[str]) -> str:
    """The anchor text of a synset's lemma names: ``"dog, domestic dog, Canis familiaris"``."""
    return ", ".join(lemma.replace("_", " ") for lemma in lemmas)


@dataclass(frozen=True)
class TextPairs:
    """Texts of WordNet noun synsets and the (anchor, positive) pairs between them.

    Attributes:
        texts: ``[T]`` strings; one row per (synset, role, example), so a string shared
            by two synsets (``"bank"``) is two rows.
        text_synset: ``[T]`` int64 node index of each text's synset in
            :class:`~contrastkit.data.wordnet.WordNetNouns`.
        text_role: ``[T]`` int8 index into :data:`ROLES`.
        anchors: ``[P]`` int64 text ids; positives: ``[P]`` int64 text ids.
        kind: ``[P]`` int8 index into :data:`PAIR_KINDS`.
        split: ``[P]`` int8 index into :data:`SPLITS`.
        synset_split: ``[N]`` int8 split of every noun synset, ``-1`` when not selected.
        categories: ``[T]`` int64 category of each text (its synset's lexicographer file).
        category_names: names of the categories (``noun.animal``, ...).
        sample_texts: texts ``[0, sample_texts)`` are those of the ``max_synsets``
            sample (the evaluation's queries and distractors); the rest belong to the
            synsets :func:`build_text_pairs`'s ``train_synsets`` drew from outside it
            (``None``: every text is the sample's).
    """

    texts: list[str]
    text_synset: Tensor
    text_role: Tensor
    anchors: Tensor
    positives: Tensor
    kind: Tensor
    split: Tensor
    synset_split: Tensor
    categories: Tensor
    category_names: tuple[str, ...] = NOUN_LEXNAMES
    sample_texts: int | None = None

    @property
    def num_pairs(self) -> int:
        return int(self.anchors.numel())

    @property
    def num_texts(self) -> int:
        return len(self.texts)

    def subset(self, split: str) -> TextPairs:
        """The pairs of one split (``train``, ``validation`` or ``test``); texts are kept
        so text ids stay valid."""
        keep = self.split == SPLITS.index(check_choice("split", split, SPLITS))
        return self._keep(keep)

    def _keep(self, keep: Tensor) -> TextPairs:
        """The pairs where the ``[P]`` bool ``keep`` holds (texts unchanged)."""
        return dataclasses.replace(
            self,
            anchors=self.anchors[keep],
            positives=self.positives[keep],
            kind=self.kind[keep],
            split=self.split[keep],
        )

    def of_kind(self, *kinds: str) -> TextPairs:
        """The pairs of the given kinds (``lemmas``, ``example``, ``hypernym``)."""
        codes = torch.tensor([PAIR_KINDS.index(check_choice("kind", k, PAIR_KINDS)) for k in kinds])
        keep = torch.isin(self.kind.to(torch.int64), codes)
        return self._keep(keep)

    def definition_ids(self, split: str | None = None, *, sample_only: bool = False) -> Tensor:
        """``[D]`` text ids of the definitions (of the synsets of ``split``, or all);
        ``sample_only``: only the ``max_synsets`` sample's (never the extra training
        synsets of ``train_synsets``, so evaluation distractors do not depend on them)."""
        is_def = self.text_role == ROLES.index("definition")
        if sample_only and self.sample_texts is not None:
            is_def[self.sample_texts :] = False
        if split is not None:
            code = SPLITS.index(check_choice("split", split, SPLITS))
            is_def &= self.synset_split[self.text_synset] == code
        return torch.nonzero(is_def).squeeze(1)

    def text_list(self, ids: Tensor) -> list[str]:
        """The strings of text ids ``ids [n]``."""
        return [self.texts[i] for i in ids.tolist()]


def _split_synsets(
    selected: Tensor, num_nodes: int, fractions: Sequence[float], seed: int
) -> Tensor:
    """``[N]`` int8 split code of every synset (``-1`` outside ``selected``): a seeded
    permutation of ``selected`` cut by the cumulative ``fractions``."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    gen = torch.Generator().manual_seed(seed)
    order = selected[torch.randperm(selected.numel(), generator=gen)]
    n = selected.numel()
    cuts = [round(n * fractions[0]), round(n * (fractions[0] + fractions[1]))]
    code = torch.full((num_nodes,), -1, dtype=torch.int8)
    code[order[: cuts[0]]] = 0
    code[order[cuts[0] : cuts[1]]] = 1
    code[order[cuts[1] :]] = 2
    return code


def build_text_pairs(
    nouns: WordNetNouns,
    *,
    kinds: Sequence[str] = PAIR_KINDS,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_synsets: int | None = None,
    train_synsets: int | None = None,
    exclude_hops: int = 0,
) -> TextPairs:
    """Texts, pairs and the synset split of ``nouns`` (see the module docstring).

    Args:
        nouns: parsed WordNet nouns.
        kinds: pair kinds to build (subset of :data:`PAIR_KINDS`).
        fractions: train / validation / test shares of the synsets.
        seed: seed of the split (and of the ``max_synsets`` sample).
        max_synsets: keep a seeded uniform sample of this many synsets (``None`` = all).
        train_synsets: decouple training from the sample (``None``: the sample's
            training share trains). The sample's validation and test synsets, their
            texts and every text of the sample keep their ids, so evaluation queries,
            corpus and distractors are those of ``train_synsets=None``; the training
            synsets become a seeded draw (``seed + 2``) of this many from every noun
            synset (the sample's training share included) that is not held out and
            not :func:`related_synsets` of a held-out one within ``exclude_hops``, and
            shares no text string with a held-out synset. Drawn synsets outside the
            sample add their texts after the sample's (:attr:`TextPairs.sample_texts`);
            undrawn training-share synsets keep theirs (distractors) but no pair.
        exclude_hops: hypernym/hyponym hops around held-out synsets never drawn for
            training (with shared lemmas; ``-1``: only the held-out synsets and equal
            strings). Default 0: synsets sharing a lemma with a held-out one are
            excluded, siblings are not — excluding 2 hops around 2,400 held-out
            synsets removes 38k of WordNet's 82k nouns, most of them in the large
            families (plants, animals, people), and shifts the training categories
            away from the evaluation's. Only read with ``train_synsets``.

    Raises:
        ValueError: ``train_synsets`` < 1 or more than the synsets that may be drawn.
    """
    if isinstance(kinds, str) or not kinds:
        raise ValueError(f"kinds must be a non-empty sequence of {PAIR_KINDS}, got {kinds!r}")
    for k in kinds:
        check_choice("kinds", k, PAIR_KINDS)
    n = nouns.num_nodes
    selected = torch.arange(n)
    if max_synsets is not None:
        check_positive_int("max_synsets", max_synsets)
        gen = torch.Generator().manual_seed(seed + 1)
        selected = torch.sort(torch.randperm(n, generator=gen)[: min(max_synsets, n)]).values
    synset_split = _split_synsets(selected, n, fractions, seed)
    extra = torch.empty(0, dtype=torch.int64)
    if train_synsets is not None:
        drawn = draw_train_synsets(nouns, synset_split, train_synsets, exclude_hops, seed + 2)
        in_sample = synset_split >= 0
        synset_split[synset_split == 0] = -1  # the sample's undrawn training share
        synset_split[drawn] = 0
        extra = drawn[~in_sample[drawn]]  # texts appended after the sample's

    # Texts: one pass over the synsets (string parsing; loading, not a hot path).
    texts: list[str] = []
    owner: list[int] = []
    role: list[int] = []
    def_id = torch.full((n,), -1, dtype=torch.int64)
    lem_id = torch.full((n,), -1, dtype=torch.int64)
    num_sample_texts, first_extra = 0, int(extra[0]) if extra.numel() else -1
    for s in torch.cat([selected, extra]).tolist():
        if s == first_extra:
            num_sample_texts = len(texts)  # texts after this: the drawn synsets'
        definition, examples = split_gloss(nouns.glosses[s])
        lem_id[s] = len(texts)
        texts.append(lemma_text(nouns.lemmas[s]))
        owner.append(s)
        role.append(0)
        for example in examples:
            texts.append(example)
            owner.append(s)
            role.append(1)
        def_id[s] = len(texts)
        texts.append(definition)
        owner.append(s)
        role.append(2)
    text_synset = torch.tensor(owner, dtype=torch.int64)
    text_role = torch.tensor(role, dtype=torch.int8)

    anchors: list[Tensor] = []
    positives: list[Tensor] = []
    kind_codes: list[Tensor] = []
    if "lemmas" in kinds:
        with_texts = torch.cat([selected, extra])
        anchors.append(lem_id[with_texts])
        positives.append(def_id[with_texts])
        kind_codes.append(torch.full((with_texts.numel(),), 0, dtype=torch.int8))
    if "example" in kinds:
        ex = torch.nonzero(text_role == 1).squeeze(1)
        anchors.append(ex)
        positives.append(def_id[text_synset[ex]])
        kind_codes.append(torch.full((ex.numel(),), 1, dtype=torch.int8))
    if "hypernym" in kinds:
        child, parent = torch.unique(nouns.hierarchy_edges(), dim=1)
        both = (def_id[child] >= 0) & (def_id[parent] >= 0)
        child, parent = child[both], parent[both]
        anchors.append(def_id[child])
        positives.append(def_id[parent])
        kind_codes.append(torch.full((child.numel(),), 2, dtype=torch.int8))
    a, p, kind = torch.cat(anchors), torch.cat(positives), torch.cat(kind_codes)
    sa, sp = synset_split[text_synset[a]], synset_split[text_synset[p]]
    # a pair crossing splits would leak a held-out synset; -1: an undrawn synset's texts
    same = (sa == sp) & (sa >= 0)
    return TextPairs(
        texts=texts,
        text_synset=text_synset,
        text_role=text_role,
        anchors=a[same],
        positives=p[same],
        kind=kind[same],
        split=sa[same],
        synset_split=synset_split,
        categories=nouns.lexclass[text_synset],
        category_names=nouns.lexnames,
        sample_texts=num_sample_texts if extra.numel() else None,
    )


def load_wordnet_text_pairs(
    root: str | os.PathLike[str] | None = None,
    *,
    kinds: Sequence[str] = PAIR_KINDS,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_synsets: int | None = None,
    nouns: WordNetNouns | None = None,
    train_synsets: int | None = None,
    exclude_hops: int = 0,
) -> TextPairs:
    """:func:`build_text_pairs` of the WordNet install at ``root`` (see
    :func:`~contrastkit.data.wordnet.wordnet_dir`), or of ``nouns`` when given."""
    return build_text_pairs(
        nouns if nouns is not None else load_wordnet_nouns(root),
        kinds=kinds,
        fractions=fractions,
        seed=seed,
        max_synsets=max_synsets,
        train_synsets=train_synsets,
        exclude_hops=exclude_hops,
    )


def _synset_strings(nouns: WordNetNouns, s: int) -> list[str]:
    definition, examples = split_gloss(nouns.glosses[s])
    return [lemma_text(nouns.lemmas[s]), *examples, definition]


def draw_train_synsets(
    nouns: WordNetNouns, synset_split: Tensor, count: int, exclude_hops: int, seed: int
) -> Tensor:
    """``[count]`` sorted synsets drawn (seeded) for training from every synset that is
    not held out (``synset_split`` 1 or 2), not :func:`related_synsets` of a held-out
    one within ``exclude_hops`` (``-1``: none, shared lemmas neither) and has no text
    string equal to a held-out synset's (see :func:`build_text_pairs`)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"train_synsets must be a positive int, got {count!r}")
    if isinstance(exclude_hops, bool) or not isinstance(exclude_hops, int) or exclude_hops < -1:
        raise ValueError(f"exclude_hops must be an int >= -1, got {exclude_hops!r}")
    held = torch.nonzero(synset_split >= 1).squeeze(1)
    if exclude_hops >= 0:
        banned = related_synsets(nouns, held, hops=exclude_hops)
    else:
        banned = torch.zeros(nouns.num_nodes, dtype=torch.bool)
        banned[held] = True
    candidates = torch.nonzero(~banned).squeeze(1)
    # equal strings (two synsets with one gloss): a held-out text would be trained on.
    # String parsing over the held-out and the drawn synsets only (loading).
    held_strings = {t for s in held.tolist() for t in _synset_strings(nouns, s)}
    order = candidates[
        torch.randperm(candidates.numel(), generator=torch.Generator().manual_seed(seed))
    ]
    drawn: list[int] = []
    for s in order.tolist():
        if len(drawn) == count:
            break
        if held_strings.isdisjoint(_synset_strings(nouns, s)):
            drawn.append(s)
    if len(drawn) < count:
        raise ValueError(
            f"train_synsets must be at most {len(drawn)} (the synsets not held out nor "
            f"related to a held-out one), got {count}"
        )
    return torch.sort(torch.tensor(drawn, dtype=torch.int64)).values
