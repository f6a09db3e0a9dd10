r"""Every group a text belongs to, so a text shared by several groups is never a
negative for any of them.

A text task keeps one row per distinct string (its *canonical* id). A string can
belong to several groups: WordNet's lemma text ``"bank"`` names several synsets, two
synsets can share a definition or a usage example, a file can pair one text with
anchors of two groups. With :math:`G(t)` the set of groups of text :math:`t` and a
group relation :math:`R` (equality, or WordNet's structural relation: same synset,
shared lemma, within :math:`h` hypernym/hyponym hops), candidate :math:`c` is a false
negative of anchor :math:`a` when

.. math::
    \exists\, g \in G(a),\ g' \in G(c):\ (g, g') \in R .

:class:`TextMemberships` stores the (canonical id, group) pairs sorted by id with a
pointer per id (CSR), and evaluates the rule on the expanded (row, group) lists — a
text has one or a few groups — with an ``index_add`` back to rows, or as a sorted
join for pool-sized candidate sets; never a Python loop over texts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_index_range, check_tensor

#: ``(groups_a [A'], groups_c [C']) -> Bool [A', C']``: related groups.
GroupRelation = Callable[[Tensor, Tensor], Tensor]
#: ``(groups_a [A'], groups_p [P']) -> (rows [E], cols [E])``: related group pairs.
GroupPairs = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def equal_group_pairs(ga: Tensor, gp: Tensor) -> tuple[Tensor, Tensor]:
    """Every ``(i, j)`` with ``ga[i] == gp[j]``, by a sort of ``gp`` and a
    ``searchsorted`` per entry of ``ga`` (a join, no ``[A', P']`` matrix)."""
    sorted_gp, order = torch.sort(gp, stable=True)
    lo = torch.searchsorted(sorted_gp, ga)
    hi = torch.searchsorted(sorted_gp, ga, right=True)
    count = hi - lo
    total = int(count.sum())
    rows = torch.repeat_interleave(torch.arange(ga.numel()), count, output_size=total)
    start = torch.repeat_interleave(lo - (torch.cumsum(count, 0) - count), count, output_size=total)
    return rows, order[start + torch.arange(total)]


class TextMemberships:
    """The groups of every (canonical) text id.

    Args:
        num_texts: ``N``, the text id range.
        text_ids: ``[E]`` int64 text ids; groups: ``[E]`` int64 group of each (pairs
            with a group ``< 0`` are dropped; duplicates are merged).
    """

    def __init__(self, num_texts: int, text_ids: Tensor, groups: Tensor) -> None:
        check_tensor("text_ids", text_ids, ndim=1)
        check_tensor("groups", groups, ndim=1)
        if text_ids.numel() != groups.numel():
            raise ValueError(
                f"text_ids and groups must have one length, got {text_ids.numel()} and "
                f"{groups.numel()}"
            )
        check_index_range("text_ids", text_ids, num_texts)
        keep = groups >= 0
        pairs = torch.unique(torch.stack([text_ids[keep], groups[keep]]).to(torch.int64), dim=1)
        self.num_texts = num_texts
        self.text_ids, self.groups = pairs[0], pairs[1]  # sorted by text id
        counts = torch.bincount(self.text_ids, minlength=num_texts)
        self.ptr = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])

    @property
    def num_shared(self) -> int:
        """Texts with more than one group."""
        return int(((self.ptr[1:] - self.ptr[:-1]) > 1).sum())

    def expand(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """``(owner [A'], group [A'])``: one entry per (position of ``ids``, group)."""
        ids = ids.to(torch.int64)
        start, count = self.ptr[ids], self.ptr[ids + 1] - self.ptr[ids]
        total = int(count.sum())
        owner = torch.repeat_interleave(torch.arange(ids.numel()), count, output_size=total)
        first = torch.repeat_interleave(
            start - (torch.cumsum(count, 0) - count), count, output_size=total
        )
        return owner, self.groups[first + torch.arange(total)]

    def related(
        self, a_ids: Tensor, c_ids: Tensor, relation: GroupRelation | None = None
    ) -> Tensor:
        """``Bool [A, C]``: some group of ``a_ids[i]`` is related to some group of
        ``c_ids[j]`` (``relation``; default equality)."""
        oa, ga = self.expand(a_ids)
        oc, gc = self.expand(c_ids)
        if relation is None:
            hit = ga.unsqueeze(1) == gc.unsqueeze(0)
        else:
            hit = relation(ga, gc)
        per_a = torch.zeros(a_ids.numel(), gc.numel(), dtype=torch.int32)
        per_a.index_add_(0, oa, hit.to(torch.int32))
        out = torch.zeros(a_ids.numel(), c_ids.numel(), dtype=torch.int32)
        out.index_add_(1, oc, per_a)
        return out > 0

    def related_pairs(
        self, a_ids: Tensor, pool_ids: Tensor, pairs: GroupPairs | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(rows [E], cols [E])``: every (anchor row, pool position) pair with related
        groups (``pairs``: the related (entry, entry) pairs of two group lists; default
        :func:`equal_group_pairs`), duplicates possible, rows not sorted."""
        oa, ga = self.expand(a_ids)
        op, gp = self.expand(pool_ids)
        r, c = (pairs or equal_group_pairs)(ga, gp)
        return oa[r], op[c]


class FalseNegativeRule:
    """The false-negative rule of a text task over canonical text ids: some group of
    the anchor related to some group of the candidate, under ``structural``'s synset
    relation (:class:`~contrastkit.data.wordnet_structure.StructuralFilter`:
    ``forbidden_synsets`` / ``banned_synset_pairs``) or, without one, group equality.
    A ``structural`` object with only the text-id interface (``forbidden``,
    ``banned_pairs``) is applied as it is, on top of group equality. Offers that
    interface itself, so mining and the batch masks use it in place of a
    one-synset-per-text filter."""

    def __init__(self, memberships: TextMemberships, structural: Any = None) -> None:
        self.memberships = memberships
        self.structural = structural

    def forbidden(self, anchor_ids: Tensor, candidate_ids: Tensor) -> Tensor:
        """``Bool [A, C]``: True where the candidate may never be the anchor's negative."""
        s = self.structural
        relation = getattr(s, "forbidden_synsets", None)
        out = self.memberships.related(anchor_ids, candidate_ids, relation)
        if relation is None and s is not None:
            out |= s.forbidden(anchor_ids, candidate_ids)
        return out

    def banned_pairs(self, anchor_ids: Tensor, pool_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``(rows [E], cols [E])``: the forbidden (anchor row, pool position) pairs."""
        s = self.structural
        pairs = getattr(s, "banned_synset_pairs", None)
        rows, cols = self.memberships.related_pairs(anchor_ids, pool_ids, pairs)
        if pairs is None and s is not None:
            r, c = s.banned_pairs(anchor_ids, pool_ids)
            rows, cols = torch.cat([rows, r.to(torch.int64)]), torch.cat([cols, c.to(torch.int64)])
        return rows, cols
