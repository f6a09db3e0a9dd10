r"""Link prediction: ROC-AUC / AP of held-out edges against non-edges, and the
filtered ranking MAP of Nickel & Kiela (2017).

Scores are :meth:`Distance.score_paired` (larger = more likely an edge):

.. math::
    s(u, v) = \mathrm{score}(z_u, z_v)

- :func:`link_prediction_metrics`: ROC-AUC and average precision of the scores of
  positive edges ``[2, P]`` against negative pairs ``[2, Q]`` (see
  :mod:`contrastkit.eval.binary` for the tie conventions, those of scikit-learn).
- :func:`link_prediction_ranking`: every test edge ``(u, v)`` ranked among the
  nodes that are neither train nor test neighbours of ``u`` (N&K, Section 4.2;
  gensim's ``LinkPredictionEvaluation``), reusing
  :func:`~contrastkit.eval.reconstruction.filtered_ranking`.

Example:
    >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    >>> pos = torch.tensor([[0], [1]]); neg = torch.tensor([[0, 2], [3, 3]])
    >>> link_prediction_metrics(x, pos, neg, distance="cosine")["roc_auc"]
    1.0

Reference: Nickel & Kiela, "Poincaré Embeddings for Learning Hierarchical
Representations", NeurIPS 2017.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
)
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB
from contrastkit.eval.binary import average_precision, roc_auc
from contrastkit.eval.reconstruction import Mode, RankingResult, Ties, filtered_ranking
from contrastkit.functional.distances import Distance, get_distance


def score_edges(
    embeddings: Tensor, edge_index: Tensor, distance: str | Distance = "cosine"
) -> Tensor:
    """Scores ``[E]`` (larger = closer) of the pairs ``edge_index`` ``[2, E]``."""
    x = check_float_tensor("embeddings", embeddings, ndim=2)
    ei = check_edge_index("edge_index", edge_index, x.shape[0])
    with torch.no_grad():
        return get_distance(distance).score_paired(x[ei[0]], x[ei[1]])


def link_prediction_metrics(
    embeddings: Tensor,
    pos_edge_index: Tensor,
    neg_edge_index: Tensor,
    distance: str | Distance = "cosine",
) -> dict[str, float]:
    """ROC-AUC and AP of positive edges against negative pairs.

    Args:
        embeddings: ``[N, d]`` node embeddings.
        pos_edge_index: ``[2, P]`` held-out edges, ``P >= 1``.
        neg_edge_index: ``[2, Q]`` non-edges, ``Q >= 1`` (e.g. from
            :func:`contrastkit.functional.link_sampling.sample_non_edges`).
        distance: name or :class:`Distance`; default ``"cosine"``.

    Returns:
        ``{"roc_auc": ..., "average_precision": ...}``.
    """
    pos = score_edges(embeddings, pos_edge_index, distance)
    neg = score_edges(embeddings, neg_edge_index, distance)
    if pos.numel() == 0:
        raise ValueError("pos_edge_index is empty: link prediction metrics are undefined")
    if neg.numel() == 0:
        raise ValueError("neg_edge_index is empty: link prediction metrics are undefined")
    scores = torch.cat([pos, neg])
    labels = torch.cat(
        [torch.ones_like(pos, dtype=torch.bool), torch.zeros_like(neg, dtype=torch.bool)]
    )
    return {
        "roc_auc": roc_auc(scores, labels),
        "average_precision": average_precision(scores, labels),
    }


def link_prediction_ranking(
    embeddings: Tensor,
    test_edge_index: Tensor,
    train_edge_index: Tensor,
    *,
    distance: str | Distance = "poincare",
    mode: Mode = "directed",
    ties: Ties = "optimistic",
    include_self: bool = False,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
    return_ranks: bool = False,
) -> RankingResult:
    """Mean rank and MAP of held-out edges (Nickel & Kiela 2017, link prediction).

    Each test edge ``(u, v)`` ``[2, T]`` is ranked among the nodes ``w`` that are
    neither a train nor a test neighbour of ``u`` (nor ``u`` itself unless
    ``include_self``, which reproduces gensim). Arguments as in
    :func:`~contrastkit.eval.reconstruction.filtered_ranking`.
    """
    x = check_float_tensor("embeddings", embeddings, ndim=2)
    test = check_edge_index("test_edge_index", test_edge_index, x.shape[0])
    check_edge_index("train_edge_index", train_edge_index, x.shape[0])
    if not bool((test[0] != test[1]).any()):
        raise ValueError("test_edge_index has no edges besides self-loops: nothing to rank")
    return filtered_ranking(
        embeddings,
        test_edge_index,
        train_edge_index,
        distance=distance,
        mode=mode,
        ties=ties,
        include_self=include_self,
        chunk_size=chunk_size,
        memory_budget_mb=memory_budget_mb,
        return_ranks=return_ranks,
    )
