r"""Which WordNet noun synsets are structurally related: the false-negative filter of
the text pairs and the held-out neighbourhood a training draw keeps away from.

**Structural false negatives.** :class:`StructuralFilter` marks a candidate that
can never be a negative of an anchor: with :math:`S(t)` the synset of text
:math:`t`, the pair is forbidden when

.. math::
    S(c) = S(a) \;\lor\; \mathrm{lemmas}(S(a)) \cap \mathrm{lemmas}(S(c)) \neq
    \emptyset \;\lor\; d_H(S(a), S(c)) \le h

with :math:`d_H` the hop distance in the undirected hypernym/hyponym graph
(instance links included) and :math:`h = 2` by default (parents, children,
grandparents, grandchildren and siblings). The relation is stored once as the
sorted ``int64`` keys :math:`S(a)\,N + S(c)` of every forbidden synset pair and
a CSR over synsets; a query is a ``searchsorted``, never a Python loop over pairs.

:func:`related_synsets` is the same relation seen from a set of seeds: the synsets
related to any of them, as one ``[N]`` mask.
"""

from __future__ import annotations

import os
from typing import Protocol

import torch
from torch import Tensor

from contrastkit._validation import check_index_range, check_positive_int, check_tensor
from contrastkit.data.wordnet import WordNetNouns, load_wordnet_nouns
from contrastkit.graph.csr import CSR, gather_neighbors, to_csr
from contrastkit.mining.exclusions import Exclusions

__all__ = ["StructuralFilter", "related_synsets"]


class _SynsetTexts(Protocol):
    """What :meth:`StructuralFilter.from_pairs` reads of a
    :class:`~contrastkit.data.wordnet_text.TextPairs`: the synset of every text id."""

    @property
    def text_synset(self) -> Tensor: ...


def _lemma_pairs(nouns: WordNetNouns) -> Tensor:
    """``[2, E]`` synset pairs sharing a (lower-cased) lemma, both directions."""
    ids: dict[str, int] = {}
    syn: list[int] = []
    lem: list[int] = []
    for s, lemmas in enumerate(nouns.lemmas):  # loading only: a dict of lemma strings
        for lemma in lemmas:
            syn.append(s)
            lem.append(ids.setdefault(lemma.lower(), len(ids)))
    n = nouns.num_nodes
    inc = torch.stack([torch.tensor(syn), torch.tensor(lem) + n])  # bipartite synset -> lemma
    csr = to_csr(inc, n + len(ids), undirected=True)
    # synset -> its lemmas -> their synsets: two neighbour gathers
    o1, lemma_node = gather_neighbors(csr, torch.arange(n))
    o2, other = gather_neighbors(csr, lemma_node)
    return torch.stack([o1[o2], other])


def _within_hops(adj: CSR, hops: int) -> Tensor:
    """``[2, E]`` pairs ``(u, v)`` with ``1 <= d(u, v) <= hops`` (plus some ``u == v``),
    by repeated neighbour gathers with a unique after each hop."""
    n = adj.num_nodes
    frontier = adj.to_edge_index()
    reach = [frontier]
    for _ in range(hops - 1):
        owner, nxt = gather_neighbors(adj, frontier[1])
        keys = torch.unique(frontier[0][owner] * n + nxt)
        frontier = torch.stack([keys // n, keys % n])
        reach.append(frontier)
    return torch.cat(reach, dim=1)


def related_synsets(
    nouns: WordNetNouns, synsets: Tensor, *, hops: int = 2, shared_lemmas: bool = True
) -> Tensor:
    """``[N]`` bool: the synsets :class:`StructuralFilter` relates to any of
    ``synsets [S]`` (they included): within ``hops`` undirected hypernym/hyponym hops
    (``hops`` rounds of one vectorised frontier expansion over the edge list) or, with
    ``shared_lemmas``, sharing a lemma (one step over the lemma pairs)."""
    check_positive_int("hops", hops, allow_zero=True)
    n = nouns.num_nodes
    check_index_range("synsets", synsets, n)
    seeds = torch.zeros(n, dtype=torch.bool)
    seeds[synsets.to(torch.int64)] = True
    reach = seeds.clone()
    child, parent = nouns.hierarchy_edges()
    for _ in range(hops):
        nxt = reach.clone()
        nxt[parent[reach[child]]] = True
        nxt[child[reach[parent]]] = True
        reach = nxt
    if shared_lemmas:
        u, v = _lemma_pairs(nouns)
        reach[v[seeds[u]]] = True
    return reach


class StructuralFilter:
    """Which candidates can never be negatives of an anchor (see the module docstring).

    Args:
        nouns: the WordNet nouns the texts come from.
        text_synset: ``[T]`` int64 synset of every text id.
        hops: hypernym/hyponym hops that still count as related (default 2; 0 keeps
            only same-synset and shared-lemma pairs).
        shared_lemmas: forbid synsets sharing a lemma (default True).

    Attributes:
        keys: sorted int64 keys ``u * N + v`` of every forbidden synset pair (symmetric,
            diagonal included).
        csr: the same relation as a :class:`~contrastkit.graph.csr.CSR` over synsets.
    """

    def __init__(
        self,
        nouns: WordNetNouns,
        text_synset: Tensor,
        *,
        hops: int = 2,
        shared_lemmas: bool = True,
    ) -> None:
        check_positive_int("hops", hops, allow_zero=True)
        check_tensor("text_synset", text_synset, ndim=1)
        n = nouns.num_nodes
        check_index_range("text_synset", text_synset, n)
        self.num_synsets = n
        self.text_synset = text_synset.to(torch.int64)
        parts = [torch.arange(n).repeat(2, 1)]
        if hops:
            adj = to_csr(nouns.hierarchy_edges(), n, undirected=True, remove_self_loops=True)
            parts.append(_within_hops(adj, hops))
        if shared_lemmas:
            parts.append(_lemma_pairs(nouns))
        pairs = torch.cat(parts, dim=1)
        self.csr = to_csr(pairs, n, undirected=True)
        self.keys = self.csr.sorted_keys

    @classmethod
    def from_pairs(
        cls,
        pairs: _SynsetTexts,
        nouns: WordNetNouns | None = None,
        *,
        hops: int = 2,
        shared_lemmas: bool = True,
        root: str | os.PathLike[str] | None = None,
    ) -> StructuralFilter:
        """The filter over the texts of ``pairs`` (``nouns`` re-read from ``root`` when
        not given)."""
        nouns = nouns if nouns is not None else load_wordnet_nouns(root)
        return cls(nouns, pairs.text_synset, hops=hops, shared_lemmas=shared_lemmas)

    @property
    def num_forbidden_pairs(self) -> int:
        """Forbidden (ordered) synset pairs, the diagonal included."""
        return int(self.keys.numel())

    def _synsets(self, name: str, ids: Tensor) -> Tensor:
        check_tensor(name, ids, ndim=1)
        check_index_range(name, ids, self.text_synset.numel())
        return self.text_synset[ids.to(torch.int64)]

    def forbidden(self, anchor_ids: Tensor, candidate_ids: Tensor) -> Tensor:
        """``Bool [A, C]``: True where candidate ``candidate_ids[c]`` may never be a
        negative of anchor ``anchor_ids[a]`` (text ids). One ``searchsorted`` of
        ``A * C`` keys."""
        sa = self._synsets("anchor_ids", anchor_ids)
        sc = self._synsets("candidate_ids", candidate_ids)
        return self.forbidden_synsets(sa, sc)

    def forbidden_synsets(self, anchor_synsets: Tensor, candidate_synsets: Tensor) -> Tensor:
        """``Bool [A, C]``: :meth:`forbidden` by synset node indices instead of text ids
        (a text shared by several synsets asks for each of them)."""
        sa, sc = anchor_synsets.to(torch.int64), candidate_synsets.to(torch.int64)
        q = sa.unsqueeze(1) * self.num_synsets + sc.unsqueeze(0)
        if self.keys.numel() == 0:
            return torch.zeros(q.shape, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, q).clamp_max(self.keys.numel() - 1)
        return self.keys[pos] == q

    def banned_pairs(self, anchor_ids: Tensor, pool_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``(rows [E], cols [E])``: every forbidden (anchor row, pool position) pair of
        anchors ``anchor_ids [A]`` against the pool ``pool_ids [M]`` (text ids), found
        through the CSR and a sorted view of the pool's synsets — never an ``[A, M]``
        matrix. ``rows`` ascending."""
        sa = self._synsets("anchor_ids", anchor_ids)
        sp = self._synsets("pool_ids", pool_ids)
        return self.banned_synset_pairs(sa, sp)

    def banned_synset_pairs(
        self, anchor_synsets: Tensor, pool_synsets: Tensor
    ) -> tuple[Tensor, Tensor]:
        """:meth:`banned_pairs` by synset node indices instead of text ids."""
        sa, sp = anchor_synsets.to(torch.int64), pool_synsets.to(torch.int64)
        pool_syn, pool_order = torch.sort(sp, stable=True)
        row, syn = gather_neighbors(self.csr, sa)  # anchor row -> forbidden synset
        lo = torch.searchsorted(pool_syn, syn)
        hi = torch.searchsorted(pool_syn, syn, right=True)
        count = hi - lo  # pool texts of that synset (usually 0 or 1)
        total = int(count.sum())
        rows = torch.repeat_interleave(row, count, output_size=total)
        start = torch.repeat_interleave(
            lo - (torch.cumsum(count, 0) - count), count, output_size=total
        )
        cols = pool_order[start + torch.arange(total)]
        return rows, cols

    def exclusions(self, anchor_ids: Tensor, pool_ids: Tensor) -> Exclusions:
        """:class:`~contrastkit.mining.exclusions.Exclusions` banning the forbidden
        pool items of every anchor, for :func:`~contrastkit.mining.mine` or
        :func:`~contrastkit.mining.scan_topk` over ``pool_ids``."""
        rows, cols = self.banned_pairs(anchor_ids, pool_ids)
        return Exclusions(pair_rows=rows, pair_cols=cols)
