r"""Link prediction: ROC-AUC / AP of held-out edges against non-edges, and the
filtered ranking MAP of Nickel & Kiela (2017).

Scores are :meth:`Distance.score_paired` (larger = more likely an edge):

.. math::
    s(u, v) = \mathrm{score}(z_u, z_v)

- :func:`link_prediction_metrics`: ROC-AUC and average precision of the scores of
  positive edges ``[2, P]`` against negative pairs ``[2, Q]`` (see
  :mod:`contrastkit.eval.binary` for the tie conventions, those of scikit-learn).
- :func:`sample_non_edges`: uniform negative pairs that are not edges.
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

import math

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_positive_int,
)
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB
from contrastkit.eval.binary import average_precision, roc_auc
from contrastkit.eval.reconstruction import Mode, RankingResult, Ties, filtered_ranking
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.graph.csr import has_edge, to_csr


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
        neg_edge_index: ``[2, Q]`` non-edges, ``Q >= 1`` (e.g. :func:`sample_non_edges`).
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


def sample_non_edges(
    edge_index: Tensor,
    num_nodes: int,
    num_samples: int,
    *,
    generator: torch.Generator,
    undirected: bool = True,
    max_rounds: int = 32,
) -> Tensor:
    """Uniform random pairs ``(u, v)``, ``u != v``, that are not edges -> ``[2, num_samples]``.

    Rejection sampling in vectorised rounds (each round draws enough candidates for
    the expected acceptance rate); pairs are drawn with replacement. With
    ``undirected=True`` a pair is rejected when either direction is an edge.

    Args:
        edge_index: ``[2, E]`` edges to avoid.
        num_nodes: ``N >= 2``.
        num_samples: number of pairs to return.
        generator: the source of randomness.
        undirected: treat ``edge_index`` as undirected; default True.
        max_rounds: give up (``ValueError``) after this many rounds; default 32.
    """
    ei = check_edge_index("edge_index", edge_index, num_nodes)
    check_positive_int("num_samples", num_samples, allow_zero=True)
    if num_nodes < 2:
        raise ValueError(f"num_nodes must be >= 2 to sample pairs, got {num_nodes}")
    csr = to_csr(ei, num_nodes, undirected=undirected, remove_self_loops=True)
    free = num_nodes * (num_nodes - 1) - csr.num_edges
    if free <= 0:
        raise ValueError("the graph is complete: edge_index leaves no non-edges to sample")
    accept = free / (num_nodes * (num_nodes - 1))
    out: list[Tensor] = []
    have = 0
    for _ in range(max_rounds):
        if have >= num_samples:
            break
        m = math.ceil(1.2 * (num_samples - have) / accept) + 16
        u = torch.randint(0, num_nodes, (m,), generator=generator)
        # v uniform over the other N - 1 nodes: shift past u.
        v = torch.randint(0, num_nodes - 1, (m,), generator=generator)
        v = v + (v >= u).long()
        keep = ~has_edge(csr, u, v)
        cand = torch.stack([u[keep], v[keep]])[:, : num_samples - have]
        out.append(cand)
        have += cand.shape[1]
    if have < num_samples:
        raise ValueError(f"could not draw {num_samples} non-edges in {max_rounds} rounds")
    return torch.cat(out, 1) if out else torch.empty(2, 0, dtype=torch.int64)


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
