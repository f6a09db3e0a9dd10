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
    x = 0.9 * x / (1.0 + x.norm(dim=1, keepdim=True))  # inside the Poincaré ball
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
