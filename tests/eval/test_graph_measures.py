"""Modularity (against networkx), k-means and triangle-closure accuracy."""

from __future__ import annotations

import itertools

import pytest
import torch

from contrastkit.eval.binary import roc_auc
from contrastkit.eval.graph_measures import (
    embedding_modularity,
    modularity,
    triangle_closure_accuracy,
    wedges,
)
from contrastkit.functional.distances import get_distance
from contrastkit.mining.kmeans import kmeans

nx = pytest.importorskip("networkx")
community = pytest.importorskip("networkx.algorithms.community")


def _communities(c: torch.Tensor) -> list[set[int]]:
    return [set(torch.nonzero(c == k).flatten().tolist()) for k in c.unique().tolist()]


def test_modularity_matches_networkx(gen: torch.Generator) -> None:
    for trial in range(15):
        n = 25
        ei = torch.randint(0, n, (2, 50), generator=gen)  # includes duplicates and self-loops
        c = torch.randint(0, 4, (n,), generator=gen) * 10  # non-contiguous labels
        res = 0.5 + 0.1 * trial
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(ei.T.tolist())
        want = community.modularity(graph, _communities(c), resolution=res)
        assert modularity(ei, c, resolution=res) == pytest.approx(want, abs=1e-12)
        digraph = nx.DiGraph()
        digraph.add_nodes_from(range(n))
        digraph.add_edges_from(ei.T.tolist())
        want_d = community.modularity(digraph, _communities(c), resolution=res)
        assert modularity(ei, c, resolution=res, directed=True) == pytest.approx(want_d, abs=1e-12)


def test_weighted_modularity_matches_networkx(gen: torch.Generator) -> None:
    graph = nx.karate_club_graph()
    ei = torch.tensor(list(graph.edges())).T
    w = torch.tensor([graph[u][v]["weight"] for u, v in graph.edges()], dtype=torch.float64)
    c = torch.tensor([0 if graph.nodes[i]["club"] == "Mr. Hi" else 1 for i in graph])
    want = community.modularity(graph, _communities(c), weight="weight")
    assert modularity(ei, c, edge_weight=w) == pytest.approx(want, abs=1e-12)
    # Both directions with equal weights (PyG convention) give the same value.
    both = torch.cat([ei, ei.flip(0)], 1)
    assert modularity(both, c, edge_weight=torch.cat([w, w])) == pytest.approx(want, abs=1e-12)


def test_modularity_degenerate_and_bad_input() -> None:
    ei = torch.tensor([[0, 1], [1, 2]])
    assert modularity(ei, torch.zeros(3, dtype=torch.long)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="edge_index"):
        modularity(torch.empty(2, 0, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="edge_index"):
        modularity(ei, torch.zeros(3, dtype=torch.long), edge_weight=torch.zeros(2))
    with pytest.raises(ValueError, match="edge_index"):
        modularity(ei, torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match="communities"):
        modularity(ei, torch.zeros(3))
    with pytest.raises(ValueError, match="edge_weight"):
        modularity(ei, torch.zeros(3, dtype=torch.long), edge_weight=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="resolution"):
        modularity(ei, torch.zeros(3, dtype=torch.long), resolution=-1.0)


def test_kmeans_recovers_blobs_like_sklearn(gen: torch.Generator) -> None:
    centres = torch.randn(5, 4, generator=gen, dtype=torch.float64) * 10
    truth = torch.arange(500) % 5
    x = centres[truth] + torch.randn(500, 4, generator=gen, dtype=torch.float64)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        return kmeans(x, 5, distance="sqeuclidean", generator=g, num_iters=100)

    labels, c = run()
    # Same partition as the truth, up to renaming.
    pairs = set(zip(truth.tolist(), labels.tolist(), strict=True))
    assert len(pairs) == 5
    inertia = float(((x - c[labels]) ** 2).sum())
    cluster = pytest.importorskip("sklearn.cluster")
    ref = cluster.KMeans(5, n_init=1, random_state=0).fit(x.numpy())
    assert inertia <= ref.inertia_ * (1 + 1e-9)
    assert torch.equal(labels, run()[0])


def test_kmeans_degenerate_and_bad_input() -> None:
    same = torch.ones(6, 2)
    labels, c = kmeans(same, 3, distance="sqeuclidean")  # coincident points: defined, finite
    assert labels.shape == (6,) and bool(torch.isfinite(c).all())
    labels, _ = kmeans(torch.arange(4.0).unsqueeze(1), 4, distance="sqeuclidean")
    assert sorted(labels.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_clusters"):
        embedding_modularity(same, torch.tensor([[0], [1]]), 7)


def test_wedges_enumerate_and_sample() -> None:
    graph = nx.karate_club_graph()
    ei = torch.tensor(list(graph.edges())).T
    all_w = wedges(ei, 34, 10**6)
    want = {
        (min(u, w), v, max(u, w))
        for v in graph
        for u, w in itertools.combinations(sorted(graph[v]), 2)
    }
    got = {(min(u, w), v, max(u, w)) for u, v, w in all_w.T.tolist()}
    assert got == want and all_w.shape[1] == len(want)
    sample = wedges(ei, 34, 300, seed=1)
    assert sample.shape == (3, 300)
    assert {(min(u, w), v, max(u, w)) for u, v, w in sample.T.tolist()} <= want
    assert torch.equal(sample, wedges(ei, 34, 300, seed=1))


def test_triangle_closure_accuracy_brute_force(gen: torch.Generator) -> None:
    graph = nx.karate_club_graph()
    ei = torch.tensor(list(graph.edges())).T
    x = torch.randn(34, 6, generator=gen, dtype=torch.float64)
    got = triangle_closure_accuracy(x, ei, distance="euclidean")
    score = get_distance("euclidean").score_pairwise(x, x)
    closed, opened = [], []
    for v in graph:
        for u, w in itertools.combinations(sorted(graph[v]), 2):
            (closed if graph.has_edge(u, w) else opened).append(float(score[u, w]))
    wins = sum((c > o) + 0.5 * (c == o) for c in closed for o in opened)
    assert got["accuracy"] == pytest.approx(wins / (len(closed) * len(opened)))
    assert got["closed_fraction"] == pytest.approx(len(closed) / (len(closed) + len(opened)))
    # An embedding built from the adjacency (spectral-like) closes triads well.
    adj = torch.zeros(34, 34, dtype=torch.float64)
    adj[ei[0], ei[1]] = 1.0
    adj = adj + adj.T + torch.eye(34, dtype=torch.float64)
    assert triangle_closure_accuracy(adj, ei, distance="cosine")["accuracy"] > 0.8


def test_triangle_closure_held_out(gen: torch.Generator) -> None:
    # Triangle 0-1-2 with 0-2 held out, plus an open path 2-3-4.
    train = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    held = torch.tensor([[0], [2]])
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.1, 0.0], [5.0, 5.0], [9.0, -9.0]])
    got = triangle_closure_accuracy(x, train, closure_edge_index=held, distance="euclidean")
    assert got["accuracy"] == 1.0 and got["num_wedges"] == 3.0
    scores = torch.tensor([-0.1, -float(torch.dist(x[1], x[3])), -float(torch.dist(x[2], x[4]))])
    assert got["accuracy"] == roc_auc(scores.double(), torch.tensor([1, 0, 0]))


def test_triangle_closure_degenerate() -> None:
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="wedges"):
        triangle_closure_accuracy(x, torch.tensor([[0, 2], [1, 3]]))
    with pytest.raises(ValueError, match="closed"):
        triangle_closure_accuracy(x, torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="open"):
        triangle_closure_accuracy(x, torch.tensor([[0, 1, 2], [1, 2, 0]]))
    with pytest.raises(ValueError, match="max_wedges"):
        triangle_closure_accuracy(x, torch.tensor([[0, 1], [1, 2]]), max_wedges=0)


def test_embedding_modularity_of_planted_communities(gen: torch.Generator) -> None:
    sizes = [20, 20, 20]
    block = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    probs = torch.where(block.unsqueeze(0) == block.unsqueeze(1), 0.5, 0.02)
    adj = torch.rand(60, 60, generator=gen) < probs
    ei = torch.nonzero(torch.triu(adj, diagonal=1)).T
    good = torch.nn.functional.one_hot(block).double() * 5 + 0.1 * torch.randn(60, 3, generator=gen)
    res = embedding_modularity(good, ei, 3, seed=0)
    assert res["modularity"] == pytest.approx(modularity(ei, block))
    assert res["modularity"] > 0.4 and res["num_clusters"] == 3.0
    noise = embedding_modularity(torch.randn(60, 3, generator=gen), ei, 3, seed=0)
    assert noise["modularity"] < 0.2
