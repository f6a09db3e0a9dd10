r"""Text retrieval on held-out synsets: Recall@K, MRR@K and nDCG@K per Matryoshka width.

Each query :math:`q` (the lemma names or a usage example of a held-out synset) has
exactly one relevant corpus item :math:`r_q` (its synset's definition); the corpus
is every definition of the held-out split plus distractor definitions of other
synsets. With scores :math:`s` (cosine) the rank of the relevant item is

.. math::
    \rho_q = 1 + \#\{c : s(q, c) > s(q, r_q)\}

(ties count in the query's favour, as in :func:`~contrastkit.eval.retrieval.retrieval_metrics`'s
MRR), and, averaged over queries,

.. math::
    \mathrm{Recall@}K = [\rho_q \le K],\qquad
    \mathrm{MRR@}K = \frac{[\rho_q \le K]}{\rho_q},\qquad
    \mathrm{nDCG@}K = \frac{[\rho_q \le K]}{\log_2(\rho_q + 1)}

(one relevant item: the ideal DCG is 1). Ranks are counted exactly over the whole
corpus in score tiles (:func:`~contrastkit.mining.tiles.score_tiles`), never an
``[Q, N]`` matrix at once.

**Matryoshka.** For every width :math:`d'` in ``dims`` the embeddings are cut to
their first :math:`d'` coordinates and L2-renormalised before scoring; the metrics
are reported as ``dim{d'}/recall@1`` and so on.

Example:
    >>> c = torch.eye(4); q = c[[2, 0]] + 0.1
    >>> m = text_retrieval_metrics(q, c, torch.tensor([2, 1]), ks=(1,), mrr_k=10)
    >>> m["recall@1"], m["mrr@10"]
    (0.5, 0.75)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_float_tensor,
    check_index_range,
    check_length,
    check_positive_int,
    check_tensor,
)
from contrastkit.mining.tiles import score_tiles

Encode = Callable[[Sequence[str]], Tensor]


@dataclass(frozen=True)
class RetrievalSplit:
    """Queries, a corpus and the relevant corpus row of each query.

    Attributes:
        queries: ``[Q]`` query texts.
        corpus: ``[N]`` corpus texts.
        relevant: ``[Q]`` int64 corpus row of each query's relevant text.
        query_ids, corpus_ids: text ids in the source :class:`TextPairs`.
    """

    queries: list[str]
    corpus: list[str]
    relevant: Tensor
    query_ids: Tensor
    corpus_ids: Tensor


def retrieval_split(
    pairs: object,
    split: str = "test",
    *,
    kinds: Sequence[str] = ("lemmas",),
    num_distractors: int | None = 2000,
    max_queries: int | None = None,
    seed: int = 0,
) -> RetrievalSplit:
    """Queries of one split of a :class:`~contrastkit.data.wordnet_text.TextPairs`
    against all of the split's definitions plus distractors.

    Args:
        pairs: the text pairs.
        split: ``"test"`` (default) or ``"validation"``.
        kinds: pair kinds whose anchors are queries (default the lemma names).
        num_distractors: definitions of synsets outside ``split`` added to the corpus
            (a seeded sample; ``None`` = all of them, ``0`` = none).
        max_queries: a seeded sample of this many queries (``None`` = all).
        seed: seed of the samples.
    """
    from contrastkit.data.wordnet_text import TextPairs

    if not isinstance(pairs, TextPairs):
        raise TypeError(f"pairs must be a TextPairs, got {type(pairs).__name__}")
    part = pairs.subset(split).of_kind(*kinds)
    if part.num_pairs == 0:
        raise ValueError(f"split {split!r} has no pairs of kinds {tuple(kinds)}")
    gen = torch.Generator().manual_seed(seed)
    anchors, positives = part.anchors, part.positives
    if max_queries is not None:
        check_positive_int("max_queries", max_queries)
        take = torch.sort(torch.randperm(anchors.numel(), generator=gen)[:max_queries]).values
        anchors, positives = anchors[take], positives[take]
    own = pairs.definition_ids(split)
    # the sample's definitions only: extra training synsets never change the corpus
    others = pairs.definition_ids(sample_only=True)
    others = others[~torch.isin(others, own)]
    if num_distractors is not None:
        check_positive_int("num_distractors", num_distractors, allow_zero=True)
        pick = torch.randperm(others.numel(), generator=gen)[:num_distractors]
        others = torch.sort(others[pick]).values
    corpus_ids = torch.cat([own, others])
    row = torch.full((pairs.num_texts,), -1, dtype=torch.int64)
    row[corpus_ids] = torch.arange(corpus_ids.numel())
    relevant = row[positives]
    if bool((relevant < 0).any()):
        raise ValueError("a query's positive is not a definition of the split")
    return RetrievalSplit(
        pairs.text_list(anchors), pairs.text_list(corpus_ids), relevant, anchors, corpus_ids
    )


def relevant_ranks(queries: Tensor, corpus: Tensor, relevant: Tensor) -> Tensor:
    """``[Q]`` int64 rank :math:`\\rho_q` (1 = first) of each query's relevant corpus
    row under the dot product of the given (already normalised) rows."""
    # The relevant item's score is read from the same GEMM tiles that score the rest:
    # an elementwise product rounds differently and could rank an item above itself.
    s_rel = torch.empty(queries.shape[0], 1, dtype=queries.dtype)
    for tile in score_tiles(queries, corpus, distance="dot"):
        rel = relevant[tile.b0 : tile.b1]
        rows = torch.nonzero((rel >= tile.m0) & (rel < tile.m1)).squeeze(1)
        s_rel[tile.b0 + rows, 0] = tile.scores[rows, rel[rows] - tile.m0]
    ranks = torch.ones(queries.shape[0], dtype=torch.int64)
    for tile in score_tiles(queries, corpus, distance="dot"):
        ranks[tile.b0 : tile.b1] += (tile.scores > s_rel[tile.b0 : tile.b1]).sum(1)
    return ranks


def _metrics(ranks: Tensor, ks: Sequence[int], mrr_k: int, ndcg_k: int) -> dict[str, float]:
    r = ranks.to(torch.float64)
    out = {f"recall@{k}": float((r <= k).to(torch.float64).mean()) for k in ks}
    out[f"mrr@{mrr_k}"] = float(torch.where(r <= mrr_k, 1.0 / r, 0.0).mean())
    out[f"ndcg@{ndcg_k}"] = float(torch.where(r <= ndcg_k, 1.0 / torch.log2(r + 1.0), 0.0).mean())
    return out


@torch.no_grad()
def text_retrieval_metrics(
    query_emb: Tensor,
    corpus_emb: Tensor,
    relevant: Tensor,
    *,
    ks: Sequence[int] = (1, 10),
    mrr_k: int = 10,
    ndcg_k: int = 10,
    dims: Sequence[int] | None = None,
) -> dict[str, float]:
    """Recall@K for ``K`` in ``ks``, MRR@``mrr_k`` and nDCG@``ndcg_k`` under cosine.

    Args:
        query_emb: ``[Q, d]``; corpus_emb: ``[N, d]``.
        relevant: ``[Q]`` int64 corpus row of each query's relevant item.
        ks: Recall cut-offs (default 1 and 10).
        mrr_k, ndcg_k: cut-offs of MRR and nDCG (default 10).
        dims: Matryoshka widths ``d' <= d`` also evaluated (truncate, renormalise);
            their keys are prefixed ``dim{d'}/``.

    Returns:
        ``{"recall@1", "recall@10", "mrr@10", "ndcg@10", "num_queries", ...}``.
    """
    q = check_float_tensor("query_emb", query_emb, ndim=2).detach()
    c = check_float_tensor("corpus_emb", corpus_emb, ndim=2).detach()
    if c.shape[1] != q.shape[1]:
        raise ValueError(f"corpus_emb must have {q.shape[1]} columns, got {c.shape[1]}")
    if q.shape[0] == 0 or c.shape[0] == 0:
        raise ValueError(f"need queries and a corpus, got {q.shape[0]} and {c.shape[0]} rows")
    check_tensor("relevant", relevant, ndim=1)
    check_length("relevant", relevant, q.shape[0])
    check_index_range("relevant", relevant, c.shape[0])
    if isinstance(ks, int) or not ks:
        raise ValueError(f"ks must be a non-empty sequence of ints, got {ks!r}")
    for k in (*ks, mrr_k, ndcg_k):
        check_positive_int("ks", k)
    widths: list[int | None] = [None]
    for d in dims or ():
        check_positive_int("dims", d)
        if d > q.shape[1]:
            raise ValueError(f"dims must be <= the embedding width {q.shape[1]}, got {d}")
        widths.append(int(d))
    out: dict[str, float] = {"num_queries": float(q.shape[0])}
    for width in widths:
        qd = F.normalize(q if width is None else q[:, :width], dim=1)
        cd = F.normalize(c if width is None else c[:, :width], dim=1)
        metrics = _metrics(relevant_ranks(qd, cd, relevant.to(torch.int64)), ks, mrr_k, ndcg_k)
        prefix = "" if width is None else f"dim{width}/"
        out.update({prefix + name: value for name, value in metrics.items()})
    return out


def evaluate_text_retrieval(
    encode: Encode,
    split: RetrievalSplit,
    *,
    dims: Sequence[int] | None = None,
    ks: Sequence[int] = (1, 10),
    batch_size: int = 256,
) -> dict[str, float]:
    """Encode ``split``'s queries and corpus with ``encode`` and score the retrieval
    (:func:`text_retrieval_metrics`)."""
    from contrastkit.mining.text_triplets import encode_texts

    q = encode_texts(encode, split.queries, batch_size)
    c = encode_texts(encode, split.corpus, batch_size)
    return text_retrieval_metrics(q, c, split.relevant, ks=ks, dims=dims)
