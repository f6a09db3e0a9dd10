"""Text examples as a ``pairs`` task trains on them: texts and id tensors.

A data set of ``P`` (anchor, positive[, negatives...]) text examples is held as
``N`` texts and integer ids into them. A string may occur under several ids (WordNet
keeps one row per synset and role); ``canonical [N]`` maps every id to the first id
of its string, and a batch masks two rows with one canonical id as the same text:
a duplicate is never scored as a negative of itself.

* ``texts`` — the ``N`` texts;
* ``anchor [P]``, ``positive [P]`` — text ids of each example;
* ``negatives [P, K]`` — given negatives (``-1``: an empty slot; ``K`` may be 0);
* ``groups [N]`` — a group per text (``-1``: none); texts of one group are never
  negatives of each other (a synset's lemmas and its gloss);
* ``split [P]`` — ``0`` train, ``1`` validation, ``2`` test;
* ``memberships [2, E]`` — optional further (text id, group) pairs: a text that
  belongs to several groups is a false negative for each of them.

Structural false negatives beyond groups (WordNet neighbours within 2 hops) come
from the source's filter object (:class:`contrastkit.data.wordnet_structure.StructuralFilter`).

:func:`text_pairs_from_strings` builds one from Python strings (texts deduplicated),
splitting, when no split is given, by *anchor group* (examples whose anchors share a
group, or an anchor text when there are no groups, land in one split) with a fixed
seed, so no held-out anchor is ever seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = {"train": TRAIN, "validation": VALIDATION, "test": TEST}


@dataclass
class TextExamples:
    """Texts and the id tensors of ``P`` examples (see the module docstring)."""

    texts: list[str]
    anchor: Tensor
    positive: Tensor
    negatives: Tensor
    groups: Tensor
    split: Tensor
    canonical: Tensor = field(init=False)
    # [2, E] (text id, group) memberships beyond ``groups`` (a text in several groups)
    memberships: Tensor | None = None

    def __post_init__(self) -> None:
        n, p = len(self.texts), int(self.anchor.numel())
        first: dict[str, int] = {}
        self.canonical = torch.tensor(
            [first.setdefault(t, i) for i, t in enumerate(self.texts)], dtype=torch.int64
        )
        if n == 0 or p == 0:
            raise ValueError(f"text pairs need at least one example, got {p} over {n} texts")
        for name in ("anchor", "positive"):
            ids = getattr(self, name)
            if ids.shape != (p,) or ids.dtype != torch.int64:
                raise ValueError(f"{name} must be int64 [{p}], got {ids.dtype} {tuple(ids.shape)}")
            if int(ids.min()) < 0 or int(ids.max()) >= n:
                raise ValueError(f"{name} must index the {n} texts, got ids outside [0, {n})")
        neg = self.negatives
        if neg.dim() != 2 or neg.shape[0] != p or neg.dtype != torch.int64:
            raise ValueError(
                f"negatives must be int64 [{p}, K], got {neg.dtype} {tuple(neg.shape)}"
            )
        if neg.numel() and (int(neg.min()) < -1 or int(neg.max()) >= n):
            raise ValueError(f"negatives must be -1 or index the {n} texts")
        if self.groups.shape != (n,) or self.groups.dtype != torch.int64:
            raise ValueError(f"groups must be int64 [{n}], got {tuple(self.groups.shape)}")
        if self.split.shape != (p,) or not bool(((self.split >= 0) & (self.split <= 2)).all()):
            raise ValueError(f"split must be [{p}] values in {{0, 1, 2}}")
        m = self.memberships
        if m is not None and (
            m.dim() != 2
            or m.shape[0] != 2
            or m.dtype != torch.int64
            or (m.numel() and (int(m[0].min()) < 0 or int(m[0].max()) >= n))
        ):
            raise ValueError(f"memberships must be int64 [2, E] with text ids in [0, {n})")

    @property
    def num_examples(self) -> int:
        return int(self.anchor.numel())

    def rows(self, split: int) -> Tensor:
        """Example positions ``[P_s]`` of one split (``TRAIN``, ``VALIDATION``, ``TEST``)."""
        return torch.nonzero(self.split == split).squeeze(1)


def split_by_group(keys: Tensor, fractions: tuple[float, float], seed: int) -> Tensor:
    """``[P]`` split codes: the distinct ``keys [P]`` are permuted with ``seed`` and the
    first ``fractions[1]`` of them go to test, the next ``fractions[0]`` to
    validation, the rest to train (at least one key stays in train)."""
    val_frac, test_frac = fractions
    uniq, inverse = torch.unique(keys, return_inverse=True)
    g = int(uniq.numel())
    order = torch.randperm(g, generator=torch.Generator().manual_seed(seed))
    n_test = min(round(test_frac * g), g - 1)
    n_val = min(round(val_frac * g), g - 1 - n_test)
    code = torch.zeros(g, dtype=torch.int8)
    code[order[:n_test]] = TEST
    code[order[n_test : n_test + n_val]] = VALIDATION
    return code[inverse]


def text_pairs_from_strings(
    anchors: Sequence[str],
    positives: Sequence[str],
    negatives: Sequence[Sequence[str | None]] | None = None,
    *,
    groups: Sequence[object] | None = None,
    split: Sequence[int] | None = None,
    fractions: tuple[float, float] = (0.1, 0.2),
    seed: int = 0,
) -> TextExamples:
    """:class:`TextExamples` of string examples (texts deduplicated).

    Args:
        anchors, positives: ``P`` texts each.
        negatives: ``P`` lists of negative texts (``None`` or ragged: empty slots).
        groups: a hashable group per *example*, given to its anchor and positive (a
            synset); ``None``: none.
        split: a code per example (0 train, 1 validation, 2 test); ``None``: by anchor
            group (or anchor text) with ``fractions = (validation, test)`` and ``seed``.
    """
    p = len(anchors)
    if len(positives) != p:
        raise ValueError(f"positives must have {p} entries (one per anchor), got {len(positives)}")
    neg_rows = [list(r) for r in negatives] if negatives is not None else [[] for _ in range(p)]
    if len(neg_rows) != p:
        raise ValueError(f"negatives must have {p} rows, got {len(neg_rows)}")
    k = max((len(r) for r in neg_rows), default=0)
    index: dict[str, int] = {}

    def ids(items: Sequence[str | None]) -> list[int]:
        return [-1 if t is None else index.setdefault(t, len(index)) for t in items]

    a = torch.tensor(ids(anchors), dtype=torch.int64)
    b = torch.tensor(ids(positives), dtype=torch.int64)
    flat = ids([t for r in neg_rows for t in [*r, *([None] * (k - len(r)))]])
    neg = torch.tensor(flat, dtype=torch.int64).view(p, k)
    n = len(index)
    group_of = torch.full((n,), -1, dtype=torch.int64)
    memberships: Tensor | None = None
    if groups is not None:
        if len(groups) != p:
            raise ValueError(f"groups must have {p} entries, got {len(groups)}")
        codes: dict[object, int] = {}
        gid = torch.tensor([codes.setdefault(x, len(codes)) for x in groups], dtype=torch.int64)
        group_of[a] = gid
        group_of[b] = gid
        # a text of several groups keeps one in group_of and every one here
        memberships = torch.unique(torch.stack([torch.cat([a, b]), torch.cat([gid, gid])]), dim=1)
    if split is None:
        keys = group_of[a] if groups is not None else a
        codes_t = split_by_group(keys, fractions, seed)
    else:
        if len(split) != p:
            raise ValueError(f"split must have {p} entries, got {len(split)}")
        codes_t = torch.tensor(list(split), dtype=torch.int8)
    return TextExamples(
        list(index),
        a,
        b,
        neg,
        group_of,
        codes_t,
        memberships=memberships,
    )


def from_wordnet_pairs(pairs: object) -> TextExamples:
    """The :class:`TextExamples` of :func:`contrastkit.data.wordnet_text.load_wordnet_text_pairs`'s
    pairs: the same text ids, no given negatives, a text's synset as its group."""
    anchors = pairs.anchors  # type: ignore[attr-defined]
    return TextExamples(
        texts=list(pairs.texts),  # type: ignore[attr-defined]
        anchor=anchors.to(torch.int64),
        positive=pairs.positives.to(torch.int64),  # type: ignore[attr-defined]
        negatives=torch.empty(int(anchors.numel()), 0, dtype=torch.int64),
        groups=pairs.text_synset.to(torch.int64),  # type: ignore[attr-defined]
        split=pairs.split.to(torch.int8),  # type: ignore[attr-defined]
    )
