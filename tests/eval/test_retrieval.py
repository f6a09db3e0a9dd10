"""Retrieval metrics and exact / approximate nearest neighbours."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastkit.eval.neighbors import exact_knn, knn_recall
from contrastkit.eval.retrieval import retrieval_metrics
from contrastkit.functional.distances import get_distance


def _brute(q, c, gains: np.ndarray, ks, distance: str, exclude=None) -> dict[str, float]:
    """Per-query loops over a full score matrix."""
    s = get_distance(distance).score_pairwise(q, c).double().numpy()
    out: dict[str, list[float]] = {}
    for i in range(q.shape[0]):
        g = gains[i].copy()
        order = list(np.argsort(-s[i], kind="stable"))
        if exclude is not None and exclude[i] >= 0:
            g[exclude[i]] = 0.0
            order.remove(int(exclude[i]))
        rel = g > 0
        if not rel.any():
            continue
        best = s[i][rel].max()
        closer = sum(1 for j in order if s[i][j] > best)
        out.setdefault("mrr", []).append(1.0 / (1 + closer))
        for k in ks:
            kc = min(k, len(order))
            top = order[:kc]
            hits = sum(rel[j] for j in top)
            ideal = sorted(g, reverse=True)[:kc]
            dcg = sum(g[j] / math.log2(r + 2) for r, j in enumerate(top))
            idcg = sum(v / math.log2(r + 2) for r, v in enumerate(ideal))
            out.setdefault(f"recall@{k}", []).append(hits / rel.sum())
            out.setdefault(f"hit@{k}", []).append(float(hits > 0))
            out.setdefault(f"precision@{k}", []).append(hits / kc)
            out.setdefault(f"ndcg@{k}", []).append(dcg / idcg)
    res = {key: float(np.mean(v)) for key, v in out.items()}
    res["num_queries"] = float(len(out["mrr"]))
    return res


@pytest.mark.parametrize("distance", ["cosine", "euclidean", "poincare"])
def test_labels_match_brute_force(distance: str, gen: torch.Generator, dtype: torch.dtype) -> None:
    q = (torch.rand(25, 4, generator=gen, dtype=torch.float64) - 0.5).to(dtype)
    c = (torch.rand(40, 4, generator=gen, dtype=torch.float64) - 0.5).to(dtype)
    ql, cl = torch.randint(0, 4, (25,), generator=gen), torch.randint(0, 4, (40,), generator=gen)
    cl[cl == 3] = 2  # label 3 queries have no relevant item and are skipped
    got = retrieval_metrics(
        q, c, query_labels=ql, corpus_labels=cl, ks=(1, 3, 10), distance=distance, chunk_size=6
    )
    gains = (ql.unsqueeze(1) == cl.unsqueeze(0)).double().numpy()
    want = _brute(q, c, gains, (1, 3, 10), distance)
    assert got == pytest.approx(want, abs=1e-9)


def test_graded_pairs_match_sklearn_ndcg_and_brute_force(gen: torch.Generator) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    q = torch.randn(30, 6, generator=gen, dtype=torch.float64)
    c = torch.randn(50, 6, generator=gen, dtype=torch.float64)
    pairs = torch.stack(
        [torch.randint(0, 30, (200,), generator=gen), torch.randint(0, 50, (200,), generator=gen)]
    )
    gains = torch.rand(200, generator=gen, dtype=torch.float64) * 3
    got = retrieval_metrics(q, c, relevant_pairs=pairs, gains=gains, ks=(1, 5, 10), chunk_size=7)
    dense = np.zeros((30, 50))
    for (a, b), w in zip(pairs.T.tolist(), gains.tolist(), strict=True):
        dense[a, b] = max(dense[a, b], w)  # duplicates keep the largest gain
    keep = dense.sum(1) > 0
    scores = get_distance("cosine").score_pairwise(q, c).numpy()
    for k in (1, 5, 10):
        assert got[f"ndcg@{k}"] == pytest.approx(metrics.ndcg_score(dense[keep], scores[keep], k=k))
    assert got == pytest.approx(_brute(q, c, dense, (1, 5, 10), "cosine"), abs=1e-9)


def test_self_exclusion_and_k_clamping(gen: torch.Generator) -> None:
    x = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    labels = torch.arange(12) % 3
    ex = torch.arange(12)
    got = retrieval_metrics(
        x,
        x,
        query_labels=labels,
        corpus_labels=labels,
        ks=(1, 50),
        exclude=ex,
        distance="euclidean",
    )
    gains = (labels.unsqueeze(1) == labels.unsqueeze(0)).double().numpy()
    assert got == pytest.approx(_brute(x, x, gains, (1, 50), "euclidean", exclude=ex.numpy()))
    assert got["recall@50"] == 1.0  # K clamped to the 11 retrievable items
    # Without exclusion every query finds itself first.
    assert retrieval_metrics(x, x, query_labels=labels, corpus_labels=labels)["mrr"] == 1.0


def test_retrieval_bad_and_degenerate_input() -> None:
    q, c = torch.randn(3, 2), torch.randn(4, 2)
    lab = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="relevance"):
        retrieval_metrics(q, c)
    with pytest.raises(ValueError, match="relevance"):
        retrieval_metrics(
            q,
            c,
            query_labels=lab,
            corpus_labels=torch.zeros(4),
            relevant_pairs=torch.zeros(2, 1, dtype=torch.long),
        )
    with pytest.raises(ValueError, match="corpus_labels"):
        retrieval_metrics(q, c, query_labels=lab, corpus_labels=torch.zeros(3))
    with pytest.raises(ValueError, match="together"):
        retrieval_metrics(q, c, query_labels=lab)
    with pytest.raises(ValueError, match="relevant_pairs"):
        retrieval_metrics(q, c, relevant_pairs=torch.tensor([[0], [4]]))
    with pytest.raises(ValueError, match="gains"):
        retrieval_metrics(q, c, relevant_pairs=torch.tensor([[0], [1]]), gains=torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="ks"):
        retrieval_metrics(q, c, relevant_pairs=torch.tensor([[0], [1]]), ks=(0,))
    with pytest.raises(ValueError, match="ks"):
        retrieval_metrics(q, c, relevant_pairs=torch.tensor([[0], [1]]), ks=())
    with pytest.raises(ValueError, match="corpus"):
        retrieval_metrics(q, torch.randn(4, 3), relevant_pairs=torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="exclude"):
        retrieval_metrics(
            q, c, relevant_pairs=torch.tensor([[0], [1]]), exclude=torch.tensor([0, 9, 1])
        )
    with pytest.raises(ValueError, match="no query"):
        retrieval_metrics(q, c, query_labels=lab, corpus_labels=torch.full((4,), 7))
    # One relevant pair is enough; zero vectors stay finite under cosine.
    got = retrieval_metrics(torch.zeros(3, 2), c, relevant_pairs=torch.tensor([[0], [1]]))
    assert all(math.isfinite(v) for v in got.values()) and got["num_queries"] == 1.0


def test_exact_knn_matches_faiss_and_recall(gen: torch.Generator) -> None:
    faiss = pytest.importorskip("faiss")
    x = torch.randn(1000, 16, generator=gen)
    q = torch.randn(50, 16, generator=gen)
    scores, idx = exact_knn(q, x, 10, distance="euclidean", chunk_size=17)
    flat = faiss.IndexFlatL2(16)
    flat.add(x.numpy())
    d2, ref = flat.search(q.numpy(), 10)
    assert torch.equal(idx, torch.from_numpy(ref).long())
    torch.testing.assert_close(-scores, torch.from_numpy(d2).sqrt(), atol=1e-4, rtol=1e-4)
    assert knn_recall(torch.from_numpy(ref), idx) == 1.0
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(16), 16, 16)
    ivf.train(x.numpy())
    ivf.add(x.numpy())
    ivf.nprobe = 1
    _, approx = ivf.search(q.numpy(), 10)
    approx_t = torch.from_numpy(approx).long()
    want = np.mean(
        [len(set(a) & set(e)) / 10 for a, e in zip(approx.tolist(), idx.tolist(), strict=True)]
    )
    assert knn_recall(approx_t, idx) == pytest.approx(want)
    assert 0.0 < knn_recall(approx_t, idx) < 1.0


def test_exact_knn_every_distance_matches_topk(gen: torch.Generator) -> None:
    x = torch.rand(80, 3, generator=gen, dtype=torch.float64) - 0.5
    for name in ("cosine", "dot", "euclidean", "sqeuclidean", "poincare"):
        dist = get_distance(name)
        scores, idx = exact_knn(x, x, 5, distance=name, exclude=torch.arange(80), chunk_size=9)
        full = dist.score_pairwise(x, x).fill_diagonal_(-float("inf"))
        want = full.topk(5, dim=1)
        torch.testing.assert_close(scores, want.values)
        assert bool((idx != torch.arange(80).unsqueeze(1)).all())


def test_knn_recall_edge_cases_and_errors() -> None:
    exact = torch.tensor([[1, 2], [3, 4]])
    assert knn_recall(torch.tensor([[2, -1, 1], [-1, -1, 4]]), exact) == 0.75
    assert knn_recall(torch.tensor([[2, 2], [9, 9]]), exact) == 0.25  # duplicates count once
    assert knn_recall(torch.empty(2, 0, dtype=torch.long), exact) == 0.0
    with pytest.raises(ValueError, match="approx_indices"):
        knn_recall(torch.tensor([[1, 2]]), exact)
    with pytest.raises(ValueError, match="exact_indices"):
        knn_recall(torch.empty(0, 2, dtype=torch.long), torch.empty(0, 2, dtype=torch.long))
    with pytest.raises(TypeError):
        knn_recall(exact.float(), exact)
    x = torch.randn(5, 2)
    with pytest.raises(ValueError, match="k must be"):
        exact_knn(x, x, 5, exclude=torch.arange(5))
    with pytest.raises(ValueError, match="exclude"):
        exact_knn(x, x, 2, exclude=torch.arange(4))
    with pytest.raises(ValueError, match="queries"):
        exact_knn(torch.randn(5, 3), x, 2)
