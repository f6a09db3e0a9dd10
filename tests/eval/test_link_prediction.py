"""ROC-AUC / AP (against scikit-learn), link-prediction metrics and non-edge sampling."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.eval.binary import average_precision, roc_auc
from contrastkit.eval.link_prediction import (
    link_prediction_metrics,
    link_prediction_ranking,
    sample_non_edges,
    score_edges,
)
from tests.eval.reference import brute_ranking

metrics = pytest.importorskip("sklearn.metrics")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=2, max_size=40),
    st.booleans(),
)
def test_auc_and_ap_match_sklearn_with_ties(rows: list[tuple[int, bool]], jitter: bool) -> None:
    labels = torch.tensor([y for _, y in rows])
    if labels.all() or not labels.any():
        with pytest.raises(ValueError, match="labels"):
            roc_auc(torch.zeros(len(rows), dtype=torch.float64), labels)
        return
    # Few distinct integer scores give many ties; jitter gives none.
    scores = torch.tensor([float(s) for s, _ in rows], dtype=torch.float64)
    if jitter:
        scores = scores + 1e-3 * torch.arange(len(rows), dtype=torch.float64)
    y, s = labels.numpy(), scores.numpy()
    assert roc_auc(scores, labels) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
    assert average_precision(scores, labels) == pytest.approx(
        metrics.average_precision_score(y, s), abs=1e-12
    )


def test_auc_ap_known_values_and_input_forms() -> None:
    s = torch.tensor([0.9, 0.8, 0.3, 0.1])
    assert roc_auc(s, torch.tensor([1, 0, 1, 0])) == 0.75
    assert roc_auc(s, torch.tensor([True, True, False, False])) == 1.0
    assert roc_auc(s, torch.tensor([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert average_precision(s, torch.tensor([1, 0, 1, 0])) == pytest.approx(5 / 6)
    # All scores tied: AUC 1/2, AP = prevalence (sklearn).
    flat = torch.zeros(4)
    assert roc_auc(flat, torch.tensor([1, 0, 1, 0])) == 0.5
    assert average_precision(flat, torch.tensor([1, 0, 0, 0])) == 0.25
    # Any shape, flattened.
    assert roc_auc(s.view(2, 2), torch.tensor([[1, 0], [1, 0]])) == 0.75


def test_binary_bad_input() -> None:
    s = torch.tensor([0.1, 0.2])
    with pytest.raises(ValueError, match="labels"):
        roc_auc(s, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="labels"):
        roc_auc(s, torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match="labels"):
        average_precision(s, torch.tensor([1, 1]))
    with pytest.raises(TypeError, match="scores"):
        roc_auc(torch.tensor([1, 2]), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="scores"):
        roc_auc(torch.tensor([float("nan"), 0.0]), torch.tensor([1, 0]))


def test_link_prediction_metrics_match_sklearn(gen: torch.Generator, dtype: torch.dtype) -> None:
    x = torch.randn(40, 5, generator=gen, dtype=dtype)
    pos = torch.randint(0, 40, (2, 30), generator=gen)
    neg = torch.randint(0, 40, (2, 50), generator=gen)
    got = link_prediction_metrics(x, pos, neg, distance="poincare")
    sp, sn = score_edges(x, pos, "poincare"), score_edges(x, neg, "poincare")
    y = [1] * 30 + [0] * 50
    s = torch.cat([sp, sn]).double().numpy()
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
    assert got["average_precision"] == pytest.approx(metrics.average_precision_score(y, s))


def test_link_prediction_separates_a_planted_structure(gen: torch.Generator) -> None:
    # Two far-apart clusters; edges inside clusters, negatives across them.
    labels = torch.arange(60) % 2
    x = torch.randn(60, 4, generator=gen) * 0.1 + labels.unsqueeze(1) * 3.0
    pos = torch.stack([torch.arange(0, 58, 2), torch.arange(2, 60, 2)])
    neg = torch.stack([torch.arange(0, 60, 2), torch.arange(1, 60, 2)])
    got = link_prediction_metrics(x, pos, neg, distance="euclidean")
    assert got == {"roc_auc": 1.0, "average_precision": 1.0}
    with pytest.raises(ValueError, match="pos_edge_index"):
        link_prediction_metrics(x, torch.empty(2, 0, dtype=torch.long), neg)
    with pytest.raises(ValueError, match="neg_edge_index"):
        link_prediction_metrics(x, pos, torch.empty(2, 0, dtype=torch.long))


def test_link_prediction_ranking_matches_brute_force(gen: torch.Generator) -> None:
    x = torch.randn(30, 3, generator=gen, dtype=torch.float64) * 0.3
    edges = torch.randint(0, 30, (2, 120), generator=gen)
    train, test = edges[:, :90], edges[:, 90:]
    for mode in ("directed", "undirected"):
        got = link_prediction_ranking(x, test, train, distance="poincare", mode=mode)
        mr, mp, _ = brute_ranking(x, test, "poincare", filt=train, undirected=mode == "undirected")
        assert got.mean_rank == pytest.approx(mr) and got.map == pytest.approx(mp)


def test_sample_non_edges_properties() -> None:
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = sample_non_edges(ei, 6, 500, generator=g1)
    b = sample_non_edges(ei, 6, 500, generator=g2)
    assert torch.equal(a, b) and a.shape == (2, 500)
    assert bool((a[0] != a[1]).all())
    edges = {(u, v) for u, v in ei.T.tolist()} | {(v, u) for u, v in ei.T.tolist()}
    assert not any((u, v) in edges for u, v in a.T.tolist())
    # Directed: the reverse of an edge is a legal non-edge.
    d = sample_non_edges(ei, 6, 2000, generator=g1, undirected=False)
    assert any((u, v) == (1, 0) for u, v in d.T.tolist())
    assert not any((u, v) in {(0, 1), (1, 2)} for u, v in d.T.tolist())
    assert sample_non_edges(ei, 6, 0, generator=g1).shape == (2, 0)


def test_sample_non_edges_errors() -> None:
    g = torch.Generator().manual_seed(0)
    complete = torch.tensor([(u, v) for u in range(4) for v in range(4) if u != v]).T
    with pytest.raises(ValueError, match="complete"):
        sample_non_edges(complete, 4, 3, generator=g)
    with pytest.raises(ValueError, match="num_nodes"):
        sample_non_edges(torch.empty(2, 0, dtype=torch.long), 1, 3, generator=g)
    with pytest.raises(ValueError, match="num_samples"):
        sample_non_edges(complete, 4, -1, generator=g)
    with pytest.raises(ValueError, match="edge_index"):
        sample_non_edges(complete, 3, 1, generator=g)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 12),
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=40),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_sample_non_edges_never_returns_an_edge(
    n: int, pairs: list[tuple[int, int]], seed: int, undirected: bool
) -> None:
    edges = [(u % n, v % n) for u, v in pairs]
    ei = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T
    taken = set(edges) | ({(v, u) for u, v in edges} if undirected else set())
    free = [(u, v) for u in range(n) for v in range(n) if u != v and (u, v) not in taken]
    gen = torch.Generator().manual_seed(seed)
    if not free:
        with pytest.raises(ValueError, match="complete"):
            sample_non_edges(ei, n, 5, generator=gen, undirected=undirected)
        return
    out = sample_non_edges(ei, n, 50, generator=gen, undirected=undirected, max_rounds=200)
    assert out.shape == (2, 50)
    assert set(map(tuple, out.T.tolist())) <= set(free)
