"""Karate club and the digits k-NN graph."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("networkx")
pytest.importorskip("sklearn")

from contrastkit.data.digits import digits_knn_graph, knn_edge_index
from contrastkit.data.karate import karate_club


def test_karate() -> None:
    g = karate_club()
    assert (g.num_nodes, g.num_edges) == (34, 156)
    assert g.y.bincount().tolist() == [17, 17] and g.x is None
    assert int(g.y[0]) == 0 and int(g.y[33]) == 1  # Mr. Hi and the officer
    pairs = set(map(tuple, g.edge_index.t().tolist()))
    assert all((b, a) in pairs for a, b in pairs)
    assert torch.equal(karate_club("identity").x, torch.eye(34))
    deg = karate_club("degree").x[:, 0]
    assert int(deg[33]) == 17 and int(deg[0]) == 16
    with pytest.raises(ValueError, match="features"):
        karate_club("onehot")  # type: ignore[arg-type]


def test_knn_brute_force() -> None:
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    ei = knn_edge_index(x, 4)
    assert ei.shape == (2, 160)
    d = torch.cdist(x.double(), x.double())
    for i in range(40):
        row = d[i].clone()
        row[i] = float("inf")
        want = set(torch.topk(row, 4, largest=False).indices.tolist())
        assert set(ei[0][ei[1] == i].tolist()) == want
    with pytest.raises(ValueError, match="k"):
        knn_edge_index(x, 40)


def test_digits_graph() -> None:
    g = digits_knn_graph(k=5)
    assert g.num_nodes == 1797 and g.x.shape == (1797, 64) and g.num_classes == 10
    assert float(g.x.max()) <= 1.0 and float(g.x.min()) >= 0.0
    ei = g.edge_index
    assert bool((ei[0] != ei[1]).all())
    assert bool((torch.bincount(ei[1], minlength=1797) >= 5).all())
    # Neighbours mostly share the digit: the graph carries the labels.
    assert float((g.y[ei[0]] == g.y[ei[1]]).float().mean()) > 0.9
    directed = digits_knn_graph(k=3, symmetric=False, metric="cosine")
    assert directed.num_edges == 3 * 1797
    with pytest.raises(ValueError, match="k"):
        digits_knn_graph(k=0)
