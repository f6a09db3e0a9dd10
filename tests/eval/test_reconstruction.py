"""Nickel & Kiela reconstruction ranking: brute force, peers, degenerate and bad input."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastkit.eval.link_prediction import link_prediction_ranking
from contrastkit.eval.reconstruction import filtered_ranking, reconstruction_ranking
from tests.eval.reference import brute_ranking, ring

DISTANCES = ["poincare", "cosine", "euclidean", "sqeuclidean", "dot"]


def _random_case(gen: torch.Generator, dtype: torch.dtype, n: int = 30, e: int = 90):
    x = (torch.rand(n, 3, generator=gen, dtype=torch.float64) - 0.5).to(dtype)
    ei = torch.randint(0, n, (2, e), generator=gen)
    fi = torch.randint(0, n, (2, e // 3), generator=gen)
    return x, ei, fi


OPTIONS = list(
    itertools.product(
        ["optimistic", "pessimistic", "average"], [False, True], [False, True], [False, True]
    )
)


@pytest.mark.parametrize("distance", DISTANCES)
def test_matches_brute_force_all_options(distance: str, gen: torch.Generator) -> None:
    x, ei, fi = _random_case(gen, torch.float64)
    # Every option combination once for Poincaré; a rotating subset for the others.
    options = OPTIONS if distance == "poincare" else OPTIONS[DISTANCES.index(distance) :: 6]
    for ties, undirected, include_self, use_filter in options:
        f = fi if use_filter else None
        got = filtered_ranking(
            x,
            ei,
            f,
            distance=distance,
            ties=ties,  # type: ignore[arg-type]
            mode="undirected" if undirected else "directed",
            include_self=include_self,
            chunk_size=7,
            return_ranks=True,
        )
        mr, mp, ranks = brute_ranking(
            x, ei, distance, filt=f, undirected=undirected, include_self=include_self, ties=ties
        )
        assert got.mean_rank == pytest.approx(mr, abs=1e-12)
        assert got.map == pytest.approx(mp, abs=1e-12)
        assert got.edges is not None and got.ranks is not None
        per_edge = {
            (u, v): r for (u, v), r in zip(got.edges.T.tolist(), got.ranks.tolist(), strict=True)
        }
        assert per_edge == pytest.approx(ranks)


def test_float32_and_tiling_do_not_change_result(gen: torch.Generator) -> None:
    x, ei, _ = _random_case(gen, torch.float32, n=60, e=300)
    ref = reconstruction_ranking(x, ei, distance="poincare")
    for chunk in (1, 5, 64):
        got = reconstruction_ranking(x, ei, distance="poincare", chunk_size=chunk)
        assert got.mean_rank == ref.mean_rank and got.map == ref.map
    tiny = reconstruction_ranking(x, ei, distance="poincare", memory_budget_mb=1e-3)
    assert tiny.map == ref.map
    mr, mp, _ = brute_ranking(x.double(), ei, "poincare")
    assert ref.mean_rank == pytest.approx(mr) and ref.map == pytest.approx(mp)


def test_good_embedding_takes_sparse_path_and_is_perfect() -> None:
    # On a ring embedded on a circle, every node's successor is among its 2 nearest.
    x, ei = ring(50)
    res = reconstruction_ranking(x, ei, distance="euclidean", mode="undirected")
    assert res.mean_rank == 1.0 and res.map == 1.0
    assert res.anchors.tolist() == list(range(50))
    g = torch.Generator().manual_seed(0)
    # Noise breaks the exact symmetric ties of a circle, which rounding would decide.
    shuffled = x[torch.randperm(50, generator=g)] + 1e-3 * torch.randn(50, 2, generator=g).double()
    bad = reconstruction_ranking(shuffled, ei, distance="euclidean", mode="undirected")
    mr, mp, _ = brute_ranking(shuffled, ei, "euclidean", undirected=True)
    assert bad.mean_rank == pytest.approx(mr) and bad.map == pytest.approx(mp)
    assert bad.map < 0.5


def test_exact_ties_on_integer_grid() -> None:
    # Integer coordinates: squared distances are exact, so ties are real ties.
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 3, (40, 2), generator=g).double()
    ei = torch.randint(0, 40, (2, 120), generator=g)
    results = {}
    for ties in ("optimistic", "pessimistic", "average"):
        got = reconstruction_ranking(x, ei, distance="sqeuclidean", ties=ties)  # type: ignore[arg-type]
        mr, mp, _ = brute_ranking(x, ei, "sqeuclidean", ties=ties)
        assert got.mean_rank == pytest.approx(mr) and got.map == pytest.approx(mp)
        results[ties] = got
    assert results["optimistic"].mean_rank < results["average"].mean_rank
    assert results["average"].mean_rank < results["pessimistic"].mean_rank


def test_collapsed_embedding_is_only_perfect_when_optimistic() -> None:
    x = torch.zeros(10, 4)
    ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
    assert reconstruction_ranking(x, ei, distance="euclidean").map == 1.0
    avg = reconstruction_ranking(x, ei, distance="euclidean", ties="average")
    # 10 nodes minus the anchor and its positive leave 8 tied negatives: half count.
    assert avg.mean_rank == pytest.approx(1 + 8 / 2)
    assert reconstruction_ranking(x, ei, distance="euclidean", ties="pessimistic").mean_rank == 9.0


def test_per_anchor_ap_matches_sklearn_facebook_convention(gen: torch.Generator) -> None:
    # facebookresearch/poincare-embeddings: AP = sklearn AP over all nodes, self pushed last.
    metrics = pytest.importorskip("sklearn.metrics")
    x, ei, _ = _random_case(gen, torch.float64)
    res = reconstruction_ranking(x, ei, distance="poincare")
    from contrastkit.functional.distances import PoincareDistance

    d = PoincareDistance().pairwise(x, x).numpy()
    for a, ap in zip(res.anchors.tolist(), res.average_precision.tolist(), strict=True):
        labels = np.zeros(x.shape[0])
        labels[[v for u, v in ei.T.tolist() if u == a and v != a]] = 1
        dist = d[a].copy()
        dist[a] = 1e12
        assert ap == pytest.approx(metrics.average_precision_score(labels, -dist), abs=1e-12)


def _write_tsv(path: Path, edges: torch.Tensor) -> None:
    path.write_text("".join(f"n{u}\tn{v}\n" for u, v in edges.T.tolist()))


@pytest.mark.peers
def test_agrees_with_gensim_exactly(tmp_path: Path, gen: torch.Generator) -> None:
    poincare = pytest.importorskip("gensim.models.poincare")
    n = 30
    x = (torch.rand(n, 3, generator=gen, dtype=torch.float64) - 0.5) * 1.2
    ei = torch.randint(0, n, (2, 100), generator=gen)
    ei = ei[:, ei[0] != ei[1]]
    train, test = ei[:, :70], ei[:, 70:]
    # float64 storage: gensim's float32 default would round the points we compare on.
    kv = poincare.PoincareKeyedVectors(vector_size=3, vector_count=0, dtype=np.float64)
    kv.add_vectors([f"n{i}" for i in range(n)], x.numpy())
    _write_tsv(tmp_path / "all.tsv", ei)
    _write_tsv(tmp_path / "train.tsv", train)
    _write_tsv(tmp_path / "test.tsv", test)

    want = poincare.ReconstructionEvaluation(str(tmp_path / "all.tsv"), kv).evaluate()
    got = reconstruction_ranking(x, ei, distance="poincare", include_self=True)
    assert got.mean_rank == pytest.approx(float(want["mean_rank"]), abs=1e-12)
    assert got.map == pytest.approx(float(want["MAP"]), abs=1e-12)
    # Without the anchor among its own negatives every rank drops by exactly one.
    assert reconstruction_ranking(x, ei).mean_rank == pytest.approx(got.mean_rank - 1)

    want_lp = poincare.LinkPredictionEvaluation(
        str(tmp_path / "train.tsv"), str(tmp_path / "test.tsv"), kv
    ).evaluate()
    got_lp = link_prediction_ranking(x, test, train, distance="poincare", include_self=True)
    assert got_lp.mean_rank == pytest.approx(float(want_lp["mean_rank"]), abs=1e-12)
    assert got_lp.map == pytest.approx(float(want_lp["MAP"]), abs=1e-12)


def test_degenerate_graphs() -> None:
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="edge_index"):
        reconstruction_ranking(x, torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="edge_index"):
        reconstruction_ranking(x, torch.tensor([[1, 2], [1, 2]]))
    # A node with no out-neighbours is simply not an anchor.
    res = reconstruction_ranking(x, torch.tensor([[0], [1]]), distance="euclidean")
    assert res.anchors.tolist() == [0] and res.num_edges == 1
    assert math.isfinite(res.mean_rank) and 0 < res.map <= 1
    # Every other node a neighbour: no negatives, rank 1 and AP 1 for all.
    full = torch.tensor([(u, v) for u in range(6) for v in range(6) if u != v]).T
    res = reconstruction_ranking(x, full, distance="euclidean")
    assert res.mean_rank == 1.0 and res.map == 1.0 and res.num_edges == 30
    # Duplicates and self-loops are merged / dropped.
    dup = torch.tensor([[0, 0, 0, 3], [1, 1, 0, 3]])
    assert reconstruction_ranking(x, dup, distance="euclidean").num_edges == 1
    # A single node graph with a self-loop has nothing to rank.
    with pytest.raises(ValueError, match="edge_index"):
        reconstruction_ranking(torch.zeros(1, 2), torch.tensor([[0], [0]]))


def test_bad_input() -> None:
    x = torch.randn(5, 2)
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="embeddings"):
        reconstruction_ranking(torch.randn(5), ei)
    with pytest.raises(TypeError, match="embeddings"):
        reconstruction_ranking(torch.ones(5, 2, dtype=torch.long), ei)
    nan = x.clone()
    nan[0, 0] = float("nan")
    with pytest.raises(ValueError, match="embeddings"):
        reconstruction_ranking(nan, ei)
    with pytest.raises(ValueError, match="edge_index"):
        reconstruction_ranking(x, torch.tensor([[0, 7], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index"):
        reconstruction_ranking(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="ties"):
        reconstruction_ranking(x, ei, ties="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        reconstruction_ranking(x, ei, mode="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distance"):
        reconstruction_ranking(x, ei, distance="manhattan")
    with pytest.raises(ValueError, match="chunk_size"):
        reconstruction_ranking(x, ei, chunk_size=0)
    with pytest.raises(ValueError, match="memory_budget_mb"):
        reconstruction_ranking(x, ei, memory_budget_mb=-1.0)
    with pytest.raises(ValueError, match="filter_edge_index"):
        filtered_ranking(x, ei, torch.tensor([[0], [9]]))
    with pytest.raises(ValueError, match="train_edge_index"):
        link_prediction_ranking(x, ei, torch.tensor([[0], [9]]))
    with pytest.raises(ValueError, match="test_edge_index"):
        link_prediction_ranking(x, torch.tensor([[1], [1]]), ei)
