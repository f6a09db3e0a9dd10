"""Bad input to the library's public functions raises ``ValueError``/``TypeError`` naming
the argument (DESIGN.md, Conventions) — never a raw torch/Python error from deep inside,
never a silently wrong answer.

The first half pins the findings of an input audit one by one; the second half is a
property-based fuzz over the public API: every generated call either succeeds (where the
mutated input is still valid) or raises ``ValueError``/``TypeError`` whose message names
the offending argument. Any other exception type is a library bug.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contrastkit.graph.csr as csr_module
from contrastkit.functional import (
    PoincareDistance,
    dense_adjacency_reconstruction_loss,
    edge_degree,
    feature_reconstruction_loss,
    get_distance,
    info_nce,
    laplacian,
    laplacian_smoothness,
    link_prediction_loss,
    local_contrastive_loss,
    mnr_candidates,
    multiple_negatives_ranking_loss,
    project_to_ball,
    relation_scores,
    tiled_info_nce,
    tiled_multiple_negatives_ranking_loss,
    triplet_hinge,
    triplet_margin_loss,
    triplet_row_sums,
)
from contrastkit.graph import (
    CSR,
    NeighborLoader,
    NodeMap,
    has_edge,
    induced_subgraph,
    k_hop_rings,
    neighbor_sample,
    sample_neighbors,
    sampling_csr,
    to_csr,
)
from contrastkit.graph.csr import FILTER_MIN_QUERIES, has_edge_grouped
from contrastkit.losses import InfoNCELoss, MultipleNegativesRankingLoss
from contrastkit.mining import FaissIndex, Head, MemoryQueue, exact_topk, mine
from contrastkit.schedules.functions import anneal

DISTANCE_NAMES = ["cosine", "dot", "sqeuclidean", "euclidean", "poincare"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _points(seed: int, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform in [-0.2, 0.2] per coordinate: inside the Poincaré ball for d <= 25."""
    return (torch.rand(*shape, generator=_gen(seed), dtype=dtype) - 0.5) * 0.4


# ---------------------------------------------------------------------------------------
# 1. has_edge: out-of-range ids used to answer for another pair
# ---------------------------------------------------------------------------------------
def test_has_edge_refuses_out_of_range_ids() -> None:
    g = to_csr(torch.tensor([[0, 1, 2], [1, 2, 0]]), num_nodes=6)
    assert has_edge(g, torch.tensor([0, 1]), torch.tensor([1, 2])).tolist() == [True, True]
    # key 0 * 6 + 8 == 1 * 6 + 2: (0, 8) used to read as the stored edge (1, 2)
    with pytest.raises(ValueError, match=r"dst has node ids outside \[0, 6\).*max 8"):
        has_edge(g, torch.tensor([0]), torch.tensor([8]))
    with pytest.raises(ValueError, match=r"src has node ids outside \[0, 6\).*min -1"):
        has_edge(g, torch.tensor([-1]), torch.tensor([1]))
    # the filtered path for many queries checks too
    many = torch.zeros(FILTER_MIN_QUERIES, dtype=torch.int64)
    with pytest.raises(ValueError, match="dst"):
        has_edge(g, many, many + 6)
    with pytest.raises(TypeError, match="src"):
        has_edge(g, torch.tensor([0.0]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"src .* and dst .* do not broadcast"):
        has_edge(g, torch.tensor([0, 1, 2]), torch.tensor([0, 1]))
    # a graph without edges still checks the ids
    empty = to_csr(torch.zeros((2, 0), dtype=torch.int64), num_nodes=3)
    with pytest.raises(ValueError, match="src"):
        has_edge(empty, torch.tensor([3]), torch.tensor([0]))


def test_has_edge_grouped_refuses_out_of_range_ids() -> None:
    g = to_csr(torch.tensor([[0, 0, 1], [2, 3, 3]]), num_nodes=4)
    src, dst = torch.tensor([[0, 1]]), torch.tensor([[3, 2, 3]])
    assert has_edge_grouped(g, src, dst).tolist() == [[[True, True, True], [True, False, True]]]
    with pytest.raises(ValueError, match=r"src has node ids outside \[0, 4\)"):
        has_edge_grouped(g, torch.tensor([[0, 4]]), dst)
    # both of its paths (neighbour lists and has_edge) would misread a bad target
    for targets in (torch.tensor([[9, 2, 3]]), torch.tensor([[-1] * 8])):
        with pytest.raises(ValueError, match=r"dst has node ids outside \[0, 4\)"):
            has_edge_grouped(g, src, targets)
    with pytest.raises(TypeError, match="dst"):
        has_edge_grouped(g, src, dst.float())


# ---------------------------------------------------------------------------------------
# 2. CSR: inconsistent arrays were accepted
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rowptr", "col", "n", "exc", "pattern"),
    [
        ([0, 1], [0], 2, ValueError, r"rowptr must have num_nodes \+ 1 = 3 entries, got 2"),
        ([1, 1, 1], [0], 2, ValueError, r"rowptr must start at 0, got rowptr\[0\] = 1"),
        ([0, 1, 2], [1], 2, ValueError, r"rowptr must end at len\(col\) = 1, got rowptr\[-1\] = 2"),
        ([0, 2, 1], [0], 2, ValueError, r"rowptr must be non-decreasing.*rowptr\[1\] = 2"),
        ([0, 1, 2], [0, 5], 2, ValueError, r"col has entries outside \[0, 2\).*max 5"),
        ([0, 1, 2], [0, -1], 2, ValueError, r"col has entries outside \[0, 2\).*min -1"),
        ([0, 2, 2], [1, 0], 2, ValueError, r"col must be sorted ascending.*in row 0"),
        ([0, 2, 2], [1, 1], 2, ValueError, r"col must be sorted ascending without duplicates"),
        ([0.0, 1.0, 1.0], [0], 2, TypeError, r"rowptr must be an integer tensor"),
        ([0, 1, 1], [[0]], 2, ValueError, r"col must have 1 dimensions"),
        ([0], [], -1, ValueError, r"num_nodes must be >= 0, got -1"),
    ],
)
def test_csr_constructor_validates(
    rowptr: list[Any], col: list[Any], n: int, exc: type[Exception], pattern: str
) -> None:
    with pytest.raises(exc, match=pattern):
        CSR(torch.tensor(rowptr), torch.tensor(col, dtype=torch.int64), n)


def test_csr_constructor_accepts_consistent_arrays_and_to_csr_skips_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g = to_csr(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=4)
    again = CSR(g.rowptr.to(torch.int32), g.col.to(torch.int32), 4)  # converted to int64
    assert again.rowptr.dtype == again.col.dtype == torch.int64
    assert torch.equal(again.col, g.col) and again.num_edges == 4
    assert CSR(torch.zeros(1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 0)

    def boom(*args: object) -> None:
        raise AssertionError("to_csr must not re-validate the arrays it built")

    monkeypatch.setattr(csr_module, "_check_csr", boom)
    assert to_csr(torch.tensor([[0, 1], [1, 2]]), num_nodes=3).num_edges == 2
    with pytest.raises(AssertionError, match="re-validate"):
        CSR(g.rowptr, g.col, 4)


# ---------------------------------------------------------------------------------------
# 3. Poincaré ball: points outside gave finite, meaningless distances
# ---------------------------------------------------------------------------------------
def test_poincare_distance_refuses_points_outside_the_ball() -> None:
    d = PoincareDistance()
    inside = torch.tensor([[0.1, 0.2], [0.0, -0.3]])
    outside = torch.tensor([[0.1, 0.2], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"x lies outside the Poincaré ball.*largest norm 5\b"):
        d.paired(outside, inside)
    with pytest.raises(ValueError, match=r"y lies outside the Poincaré ball.*largest norm 5\b"):
        d.pairwise(inside, outside)
    with pytest.raises(ValueError, match="x lies outside"):
        d.score_paired(torch.tensor([[1.0, 0.0]]), inside[:1])  # on the boundary
    # curvature 4: radius 0.5
    with pytest.raises(ValueError, match=r"radius 0\.5\).*largest norm 0\.6"):
        PoincareDistance(curvature=4.0).pairwise(torch.tensor([[0.6, 0.0]]), inside)
    # in a loss, the loss's own argument is named
    with pytest.raises(ValueError, match="anchors lies outside the Poincaré ball"):
        info_nce(outside, inside, distance="poincare")
    with pytest.raises(ValueError, match="negative lies outside the Poincaré ball"):
        triplet_margin_loss(inside, inside, 3 * outside, distance="poincare")
    with pytest.raises(ValueError, match="pool lies outside the Poincaré ball"):
        exact_topk(inside, outside, 1, distance="poincare")
    with pytest.raises(ValueError, match="c lies outside the Poincaré ball"):
        relation_scores(inside, outside.unsqueeze(0).expand(2, 2, 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.5])
def test_points_projected_to_the_rim_are_inside(dtype: torch.dtype, eps: float) -> None:
    x = torch.randn(50, 5, generator=_gen(1), dtype=dtype) * 10
    rim = project_to_ball(x, eps=eps)
    d = PoincareDistance(eps=eps)
    assert torch.isfinite(d.pairwise(rim, rim)).all()
    assert torch.isfinite(d.paired(rim, rim.flip(0))).all()
    # between the rim and the boundary: still accepted, measured from the rim
    near = x / x.norm(dim=1, keepdim=True) * (1 - eps / 10)
    origin = torch.zeros_like(x)
    rtol = 1e-2 if dtype == torch.float32 else 1e-6  # float32 resolves the rim to ~1e-7
    torch.testing.assert_close(d.paired(near, origin), d.paired(rim, origin), rtol=rtol, atol=0)


def test_ball_eps_must_be_in_the_unit_interval() -> None:
    for bad in (1.5, 1.0, 0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=rf"eps must be .*got {bad}"):
            project_to_ball(torch.ones(1, 2), eps=bad)
        with pytest.raises(ValueError, match="eps"):
            PoincareDistance(eps=bad)
    with pytest.raises(ValueError, match="curvature"):
        project_to_ball(torch.ones(1, 2), curvature=0.0)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        project_to_ball(torch.ones(1, 2, dtype=torch.int64))


# ---------------------------------------------------------------------------------------
# 4. raw torch / Python errors from public functions
# ---------------------------------------------------------------------------------------
def test_triplet_hinge_and_row_sums_name_their_arguments() -> None:
    with pytest.raises(ValueError, match=r"pos_score \(3,\) and neg_score \(4,\) do not broadcast"):
        triplet_hinge(torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError, match=r"pos_score must be a torch\.Tensor, got list"):
        triplet_hinge([1.0], torch.zeros(4))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="neg_score must be a floating-point tensor"):
        triplet_hinge(torch.zeros(3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="margin"):
        triplet_hinge(torch.zeros(3), torch.zeros(3), margin=-1.0)
    assert triplet_hinge(torch.zeros(3, 1), torch.zeros(4)).shape == (3, 4)
    s, m = torch.zeros(3, 3), torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="scores must have 2 dimensions"):
        triplet_row_sums(torch.zeros(3), m[0], m[0], 0.5)
    with pytest.raises(ValueError, match=r"pos_mask must have the shape of scores \(3, 3\)"):
        triplet_row_sums(s, torch.ones(3, 4, dtype=torch.bool), m, 0.5)
    with pytest.raises(TypeError, match="neg_mask must be a bool tensor"):
        triplet_row_sums(s, m, m.float(), 0.5)


def test_mnr_candidates_names_its_arguments() -> None:
    p = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="negatives has embedding dimension 5 but positives has 4"):
        mnr_candidates(p, torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match="negatives must have 2 or 3 dimensions"):
        mnr_candidates(p, torch.zeros(3))
    with pytest.raises(ValueError, match="negatives must have 3 rows, got 2"):
        mnr_candidates(p, torch.zeros(2, 4))
    with pytest.raises(TypeError, match=r"negatives has dtype torch\.float64"):
        mnr_candidates(p, torch.zeros(3, 4, dtype=torch.float64))
    assert mnr_candidates(p, torch.zeros(3, 2, 4)).shape == (9, 4)


def test_edge_degree_and_laplacian_inputs() -> None:
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"edge_weight must have 2 entries .*got 3"):
        edge_degree(ei, torch.ones(3), 3)
    with pytest.raises(ValueError, match=r"edge_index has entries outside \[0, 2\).*max 2"):
        edge_degree(ei, torch.ones(2), 2)
    with pytest.raises(ValueError, match="num_nodes"):
        edge_degree(ei, torch.ones(2), -1)
    with pytest.raises(TypeError, match="edge_weight"):
        edge_degree(ei, torch.ones(2, dtype=torch.int64), 3)
    want = edge_degree(ei, torch.ones(2), 3)
    assert torch.equal(edge_degree(ei.to(torch.int32), torch.ones(2), 3), want)
    # int32 ids are converted, as everywhere else in the library
    ei3 = torch.tensor([[0, 1, 1, 2], [1, 2, 0, 3]])
    for norm in ("none", "sym"):
        for dup in ("max", "mean", "keep"):
            want_l = laplacian(ei3, 4, normalization=norm, duplicates=dup).to_dense()
            got_l = laplacian(ei3.to(torch.int32), 4, normalization=norm, duplicates=dup)
            torch.testing.assert_close(got_l.to_dense(), want_l)
    with pytest.raises(ValueError, match=r"edge_index has entries outside \[0, 3\)"):
        laplacian(ei3, 3)


def test_induced_subgraph_and_node_map_refuse_out_of_range_ids() -> None:
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    with pytest.raises(ValueError, match=r"nodes has entries outside \[0, 4\).*max 9"):
        induced_subgraph(ei, torch.tensor([0, 9]), 4)
    # a negative id used to wrap round the dense table and map node 3
    with pytest.raises(ValueError, match=r"nodes has entries outside \[0, 4\).*min -1"):
        induced_subgraph(ei, torch.tensor([0, -1]), 4)
    with pytest.raises(ValueError, match="nodes has negative node ids: min -1"):
        induced_subgraph(ei, torch.tensor([0, -1]))
    with pytest.raises(TypeError, match="nodes must be an integer tensor"):
        induced_subgraph(ei, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"nodes has entries outside \[0, 4\)"):
        NodeMap(torch.tensor([0, 9]), 4)
    m = NodeMap(torch.tensor([3, 1]), 4)
    assert m.contains(torch.tensor([1, 2, 3])).tolist() == [True, False, True]
    assert m(torch.tensor([3, 1])).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"query has entries outside \[0, 4\).*max 7"):
        m.contains(torch.tensor([7]))
    with pytest.raises(ValueError, match="query"):
        m(torch.tensor([-1]))
    with pytest.raises(ValueError, match="query"):
        m.extend(torch.tensor([4]))
    # unbounded maps answer membership for any id
    assert NodeMap(torch.tensor([5])).contains(torch.tensor([5, 10**9])).tolist() == [True, False]


def test_anneal_refuses_degenerate_schedules() -> None:
    with pytest.raises(ValueError, match="steps must be an int > 0, got 0"):
        anneal("linear", 3, start=1.0, end=0.1, steps=0)
    with pytest.raises(ValueError, match="steps must be an int > 0, got -2"):
        anneal("cosine", 3, start=1.0, end=0.1, steps=-2)
    with pytest.raises(ValueError, match="step_size must be an int > 0, got 0"):
        anneal("step", 3, start=1.0, end=0.1, steps=1, values=[1.0], step_size=0)
    with pytest.raises(ValueError, match="values must be non-empty"):
        anneal("step", 3, start=1.0, end=0.1, steps=1, values=[])
    with pytest.raises(ValueError, match=r"start and end must be > 0.*start=0"):
        anneal("exponential", 3, start=0.0, end=0.1, steps=5)
    with pytest.raises(ValueError, match="step must be an int >= 0, got -1"):
        anneal("linear", -1, start=1.0, end=0.1, steps=5)
    with pytest.raises(ValueError, match="schedule"):
        anneal("wavy", 1, start=1.0, end=0.1, steps=5)  # type: ignore[arg-type]
    assert anneal("linear", 5, start=1.0, end=0.0, steps=10) == pytest.approx(0.5)
    assert anneal("constant", 5, start=0.3, end=0.0, steps=0) == 0.3


def test_memory_queue_load_state_dict_refuses_malformed_states() -> None:
    q = MemoryQueue(4, 2)
    q.enqueue(torch.ones(3, 2), labels=torch.tensor([0, 1, 1]))
    good = q.state_dict()
    bad: list[tuple[object, type[Exception], str]] = [
        ([1, 2], TypeError, "state must be a mapping"),
        (
            {},
            ValueError,
            r"state is missing keys \['embeddings', 'labels', 'ids', 'ptr', 'count'\]",
        ),
        ({**good, "embeddings": [[0.0]]}, TypeError, r"state\['embeddings'\] must be a torch"),
        (
            {**good, "embeddings": torch.zeros(3, 2)},
            ValueError,
            r"state\['embeddings'\] must have shape \(4, 2\)",
        ),
        (
            {**good, "embeddings": torch.full((4, 2), float("nan"))},
            ValueError,
            r"state\['embeddings'\] contains NaN",
        ),
        (
            {**good, "labels": torch.zeros(3, dtype=torch.int64)},
            ValueError,
            r"state\['labels'\] must have 4 entries, got 3",
        ),
        ({**good, "ids": torch.zeros(4)}, TypeError, r"state\['ids'\] must be an integer tensor"),
        ({**good, "ptr": 9}, ValueError, r"state\['ptr'\] must be in \[0, 4\), got 9"),
        ({**good, "ptr": -1}, ValueError, r"state\['ptr'\] must be >= 0, got -1"),
        ({**good, "count": 7}, ValueError, r"state\['count'\] must be in \[0, 4\], got 7"),
        ({**good, "count": "3"}, TypeError, r"state\['count'\] must be an int"),
        ({**good, "ptr": 1}, ValueError, r"state\['ptr'\] must equal state\['count'\] = 3"),
    ]
    for state, exc, pattern in bad:
        with pytest.raises(exc, match=pattern):
            q.load_state_dict(state)  # type: ignore[arg-type]
    assert len(q) == 3 and q.labels.tolist() == [0, 1, 1]  # a failed load leaves it alone
    fresh = MemoryQueue(4, 2)
    fresh.load_state_dict({**good, "ptr": torch.tensor(3)})  # 0-dim int tensors are ints
    assert len(fresh) == 3 and torch.equal(fresh.embeddings, q.embeddings)


def test_faiss_ivf_with_more_lists_than_points() -> None:
    pytest.importorskip("faiss")
    pool = torch.randn(10, 4, generator=_gen(0))
    with pytest.raises(
        ValueError, match=r"nlist=20 exceeds the number of points in the pool \(10\)"
    ):
        FaissIndex(pool, index="ivf", nlist=20)
    with pytest.raises(ValueError, match="nlist"):
        FaissIndex(pool[:0], index="ivf")
    with pytest.raises(ValueError, match="nlist must be > 0"):
        FaissIndex(pool, index="ivf", nlist=0)
    # the default never exceeds the pool
    _, i = FaissIndex(pool[:3], index="ivf", nprobe=4, distance="dot").search(pool[:2], 1)
    assert i.shape == (2, 1) and bool((i >= 0).all())


# ---------------------------------------------------------------------------------------
# 5. silently accepted values
# ---------------------------------------------------------------------------------------
def test_head_validates_k_and_alpha() -> None:
    with pytest.raises(ValueError, match="k must be > 0, got -1"):
        Head(k=-1)
    with pytest.raises(ValueError, match="k must be > 0, got 0"):
        Head(k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        Head(k=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha must be finite"):
        Head(k=1, alpha=float("nan"))
    with pytest.raises(TypeError, match="bounds"):
        Head(k=1, bounds=[1])  # type: ignore[arg-type]
    assert Head(3, alpha=0.0).k == 3


def test_fanouts_must_be_ints_from_minus_one() -> None:
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    csr = sampling_csr(ei, 4)
    with pytest.raises(ValueError, match=r"fanouts\[0\] must be an int >= -1.*got -2"):
        neighbor_sample(csr, torch.tensor([0]), [-2])
    with pytest.raises(ValueError, match=r"fanouts\[1\] must be an int >= -1.*got -5"):
        neighbor_sample(csr, torch.tensor([0]), [2, -5])
    with pytest.raises(TypeError, match=r"fanouts\[0\] must be an int"):
        neighbor_sample(csr, torch.tensor([0]), [1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="fanouts must be a sequence"):
        neighbor_sample(csr, torch.tensor([0]), 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"fanout must be an int >= -1.*got -2"):
        sample_neighbors(csr, torch.tensor([0]), -2)
    with pytest.raises(ValueError, match=r"fanouts\[0\] must be an int >= -1.*got -3"):
        NeighborLoader(ei, 4, [-3])
    with pytest.raises(TypeError, match="fanouts must be a sequence of ints, got str"):
        NeighborLoader(ei, 4, "ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"fanouts\[0\] must be > 0"):
        NeighborLoader(ei, 4, [0], sampler="layerwise")
    # -1 (all neighbours) and 0 (none) stay valid
    assert neighbor_sample(csr, torch.tensor([0]), [-1, 0]).num_sampled_nodes == [1, 1, 0]
    assert [b.batch_size for b in NeighborLoader(ei, 4, [-1], batch_size=2)] == [2, 2]


def test_k_hop_rings_refuses_min_hop_above_k() -> None:
    csr = to_csr(torch.tensor([[0, 1], [1, 2]]), undirected=True)
    with pytest.raises(ValueError, match="min_hop must be <= k = 1, got 3"):
        k_hop_rings(csr, torch.tensor([0]), 1, min_hop=3)
    with pytest.raises(ValueError, match="min_hop must be <= k = 0, got 1"):
        k_hop_rings(csr, torch.tensor([0]), 0)
    assert k_hop_rings(csr, torch.tensor([0]), 2, min_hop=2).node.tolist() == [2]


def test_probability_targets_must_lie_in_the_unit_interval() -> None:
    pred = torch.zeros(2, 3)
    for bad, shown in ((2.0, "max 2.0"), (-0.5, "min -0.5"), (float("nan"), "nan")):
        target = torch.full((2, 3), 0.5)
        target[1, 2] = bad
        with pytest.raises(ValueError, match=rf"target must lie in \[0, 1\].*{shown}"):
            feature_reconstruction_loss(pred, target, "bce")
    soft = torch.tensor([[0.0, 0.3, 1.0], [1.0, 0.5, 0.0]])
    assert torch.isfinite(feature_reconstruction_loss(pred, soft, "bce"))
    assert torch.isfinite(feature_reconstruction_loss(pred, soft * 5, "mse"))  # any value
    z = torch.randn(3, 2, generator=_gen(0))
    with pytest.raises(ValueError, match=r"adjacency must lie in \[0, 1\].*max 2"):
        dense_adjacency_reconstruction_loss(z, torch.full((3, 3), 2))
    assert torch.isfinite(dense_adjacency_reconstruction_loss(z, torch.eye(3, dtype=torch.bool)))


def test_memory_budget_zero_is_an_error_not_the_default() -> None:
    a, p = torch.randn(4, 3, generator=_gen(0)), torch.randn(4, 3, generator=_gen(1))
    for budget in (0, -5):
        with pytest.raises(ValueError, match=rf"memory_budget must be > 0, got {budget}"):
            tiled_info_nce(a, p, memory_budget=budget)
        with pytest.raises(ValueError, match="memory_budget"):
            tiled_multiple_negatives_ranking_loss(a, p, memory_budget=budget)
        with pytest.raises(ValueError, match="memory_budget"):
            InfoNCELoss(tiled=True, memory_budget=budget)
        with pytest.raises(ValueError, match="memory_budget"):
            MultipleNegativesRankingLoss(tiled=True, memory_budget=budget)
        with pytest.raises(ValueError, match="memory_budget"):
            exact_topk(a, p, 2, memory_budget=budget)
        with pytest.raises(ValueError, match="memory_budget"):
            mine(a, p, 2, memory_budget=budget)
    # None still means the default
    torch.testing.assert_close(tiled_info_nce(a, p, memory_budget=None), info_nce(a, p))
    assert torch.isfinite(InfoNCELoss(tiled=True)(a, p))


# ---------------------------------------------------------------------------------------
# 6. property-based fuzz over the public API
# ---------------------------------------------------------------------------------------
#: generated calls per target function (all of them), and how many had a bad input
FUZZ_CASES: Counter[str] = Counter()
FUZZ_BAD: Counter[str] = Counter()
FUZZ_RAISED: Counter[str] = Counter()
_FUZZ_TESTS_RUN: set[str] = set()


@dataclass
class Mutation:
    """One way of breaking (or stretching) a valid call: ``apply(kwargs, r)`` edits the
    keyword arguments in place (``r`` a random int); a ``ValueError``/``TypeError`` must
    then name one of ``names`` (default: the mutated argument). ``must_raise=False``
    marks inputs that may be valid (empty batches, ...): success is fine then."""

    label: str
    arg: str
    apply: Callable[[dict[str, Any], int], None]
    names: tuple[str, ...] = ()
    must_raise: bool = True
    when: Callable[[dict[str, Any]], bool] = field(default=lambda kw: True)


def _set(arg: str, fn: Callable[[Any, int], Any]) -> Callable[[dict[str, Any], int], None]:
    def apply(kw: dict[str, Any], r: int) -> None:
        kw[arg] = fn(kw[arg], r)

    return apply


def _put(arg: str, value: Any) -> Callable[[dict[str, Any], int], None]:
    def apply(kw: dict[str, Any], r: int) -> None:
        kw[arg] = value

    return apply


def _poke(t: torch.Tensor, r: int, value: float) -> torch.Tensor:
    """A copy with one entry (chosen by ``r``) set to ``value``."""
    out = t.clone()
    out.view(-1)[r % out.numel()] = value
    return out


def _poke_with(value: float, t: torch.Tensor, r: int) -> torch.Tensor:
    return _poke(t, r, value)


def _outside_ball(t: torch.Tensor, r: int) -> torch.Tensor:
    """A copy with one row moved to norm 2 (outside the unit ball)."""
    out = t.clone()
    rows = out.reshape(-1, out.shape[-1])
    rows[r % rows.shape[0]] = 2.0 / math.sqrt(out.shape[-1])
    return rows.view_as(out)


def _all_outside_ball(t: torch.Tensor, r: int) -> torch.Tensor:
    """Every row moved to norm 2 (node tables: a loss reads only the rows its edges name)."""
    return torch.full_like(t, 2.0 / math.sqrt(t.shape[-1]))


def float_mutations(
    arg: str,
    *,
    fixed_ndim: bool = True,
    partner: Sequence[str] = (),
    rows: bool = True,
    cols: bool = True,
    finite: bool = False,
    ball: bool = False,
    ball_rows: str = "one",
    dtype_pair: str | None = None,
) -> list[Mutation]:
    """Bad versions of a floating-point tensor argument: wrong dtype (int, bool), not a
    tensor, wrong rank, a row or column too many/few (``partner`` arguments it is matched
    against may be named instead), NaN/inf where a finiteness check is documented, a row
    outside the Poincaré ball where the distance is Poincaré, another float dtype than
    ``dtype_pair``."""
    names = (arg, *partner)
    out = [
        Mutation(f"{arg}:int", arg, _set(arg, lambda t, r: (t * 10).long())),
        Mutation(f"{arg}:bool", arg, _set(arg, lambda t, r: t > 0)),
        Mutation(f"{arg}:list", arg, _set(arg, lambda t, r: t.tolist())),
        Mutation(f"{arg}:number", arg, _put(arg, 1.5)),
    ]
    if fixed_ndim:
        out += [
            Mutation(f"{arg}:flat", arg, _set(arg, lambda t, r: t.reshape(-1)), names),
            Mutation(f"{arg}:rank+2", arg, _set(arg, lambda t, r: t[None, None]), names),
        ]
    if rows:
        out.append(
            Mutation(
                f"{arg}:rows",
                arg,
                _set(arg, lambda t, r: torch.cat([t, t[:1]]) if r % 2 and len(t) else t[1:]),
                names,
                when=lambda kw: isinstance(kw[arg], torch.Tensor) and kw[arg].dim() > 0,
            )
        )
    if cols:
        out.append(
            Mutation(
                f"{arg}:cols",
                arg,
                _set(arg, lambda t, r: torch.cat([t, t[..., :1]], dim=-1)),
                names,
                when=lambda kw: isinstance(kw[arg], torch.Tensor) and kw[arg].shape[-1] > 0,
            )
        )
    if finite:
        for value in (float("nan"), float("inf"), float("-inf")):
            out.append(
                Mutation(
                    f"{arg}:{value}",
                    arg,
                    _set(arg, functools.partial(_poke_with, value)),
                    when=lambda kw: isinstance(kw[arg], torch.Tensor) and kw[arg].numel() > 0,
                )
            )
    if ball:
        out.append(
            Mutation(
                f"{arg}:outside_ball",
                arg,
                _set(arg, _outside_ball if ball_rows == "one" else _all_outside_ball),
                when=lambda kw: (
                    kw.get("distance") == "poincare"
                    and isinstance(kw[arg], torch.Tensor)
                    and kw[arg].numel() > 0
                ),
            )
        )
    if dtype_pair is not None:
        out.append(
            Mutation(
                f"{arg}:float64",
                arg,
                _set(arg, lambda t, r: t.double()),
                (arg, dtype_pair),
                when=lambda kw: isinstance(kw[arg], torch.Tensor),
            )
        )
    return out


def id_mutations(
    arg: str,
    bound: str | int | None,
    *,
    shape: str = "any",
    bool_ok: bool = False,
) -> list[Mutation]:
    """Bad versions of an integer id tensor: float/bool dtype, not a tensor, an id at or
    above the bound (``bound`` is the keyword holding it, a number, or None for no upper
    bound), a negative id, the wrong rank (``shape="edge_index"``: ``[3, E]`` and 1-D;
    ``"1d"``: ``[1, n]``)."""

    def nonempty(kw: dict[str, Any]) -> bool:
        return isinstance(kw[arg], torch.Tensor) and kw[arg].numel() > 0

    def upper(kw: dict[str, Any]) -> int:
        if isinstance(bound, str):
            value = kw[bound]
            return int(value.shape[0]) if isinstance(value, torch.Tensor) else int(value)
        return int(bound or 0)

    def high(kw: dict[str, Any], r: int) -> None:
        kw[arg] = _poke(kw[arg], r, upper(kw) + r % 3)

    out = [
        Mutation(f"{arg}:float", arg, _set(arg, lambda t, r: t.float())),
        Mutation(f"{arg}:list", arg, _set(arg, lambda t, r: t.tolist())),
        Mutation(
            f"{arg}:negative", arg, _set(arg, lambda t, r: _poke(t, r, -1 - r % 3)), when=nonempty
        ),
    ]
    if not bool_ok:
        out.append(Mutation(f"{arg}:bool", arg, _set(arg, lambda t, r: t > 0)))
    if bound is not None:
        out.append(Mutation(f"{arg}:high", arg, high, when=nonempty))
    if shape == "edge_index":
        out += [
            Mutation(f"{arg}:3xE", arg, _set(arg, lambda t, r: torch.cat([t, t[:1]]))),
            Mutation(f"{arg}:1d", arg, _set(arg, lambda t, r: t.reshape(-1))),
        ]
    elif shape == "1d":
        out.append(Mutation(f"{arg}:2d", arg, _set(arg, lambda t, r: t[None])))
    return out


def option_mutations(
    arg: str, bad: Sequence[Any] = ("", "Mean", "bogus", 3, None)
) -> list[Mutation]:
    return [Mutation(f"{arg}={v!r}", arg, _put(arg, v)) for v in bad]


def number_mutations(arg: str, bad: Sequence[Any]) -> list[Mutation]:
    return [Mutation(f"{arg}={v!r}", arg, _put(arg, v)) for v in bad]


POSITIVE_BAD = (0.0, -0.5, float("nan"), float("inf"), "x", True)
NON_NEGATIVE_BAD = (-0.5, float("nan"), float("inf"), "x", True)
POSITIVE_INT_BAD = (0, -1, 1.5, "2", True)


def weight_mutations(arg: str = "weight") -> list[Mutation]:
    def present(kw: dict[str, Any]) -> bool:
        return isinstance(kw.get(arg), torch.Tensor) and kw[arg].numel() > 0

    return [
        Mutation(f"{arg}:len", arg, _set(arg, lambda t, r: torch.cat([t, t[:1]])), when=present),
        Mutation(f"{arg}:negative", arg, _set(arg, lambda t, r: _poke(t, r, -1.0)), when=present),
        Mutation(f"{arg}:int", arg, _set(arg, lambda t, r: t.long()), when=present),
        Mutation(f"{arg}:2d", arg, _set(arg, lambda t, r: t[None]), when=present),
    ]


def _guarded(
    cond: Callable[[dict[str, Any]], bool], mutations: Sequence[Mutation]
) -> list[Mutation]:
    """The mutations, each applied only where ``cond`` holds as well."""
    return [dataclasses.replace(m, when=_both(cond, m.when)) for m in mutations]


def _both(
    a: Callable[[dict[str, Any]], bool], b: Callable[[dict[str, Any]], bool]
) -> Callable[[dict[str, Any]], bool]:
    return lambda kw: a(kw) and b(kw)


@dataclass
class Target:
    """A public function, a builder of valid keyword arguments, and ways to break them."""

    name: str
    fn: Callable[..., Any]
    build: Callable[[st.DataObject], dict[str, Any]]
    mutations: list[Mutation]


def _empty_batch(*args: str) -> Mutation:
    """All named tensors cut to zero rows at once: a valid, empty call."""

    def apply(kw: dict[str, Any], r: int) -> None:
        for a in args:
            if isinstance(kw.get(a), torch.Tensor):
                kw[a] = kw[a][:0]

    return Mutation("empty_batch", args[0], apply, must_raise=False)


def _cast(*args: str) -> Mutation:
    """All named float tensors in another floating dtype at once (half, bfloat16 or
    float64): valid, and must not hit a dtype the kernels lack."""
    dtypes = (torch.float16, torch.bfloat16, torch.float64)

    def apply(kw: dict[str, Any], r: int) -> None:
        for a in args:
            t = kw.get(a)
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                kw[a] = t.to(dtypes[r % 3])

    return Mutation("cast", args[0], apply, must_raise=False)


def _zero_dim(*args: str, names: tuple[str, ...] = ()) -> Mutation:
    """All named float tensors cut to an embedding dimension of 0 at once (valid for
    every distance: zero vectors get a defined score)."""

    def apply(kw: dict[str, Any], r: int) -> None:
        for a in args:
            if isinstance(kw.get(a), torch.Tensor):
                kw[a] = kw[a][..., :0]

    return Mutation("zero_dim", args[0], apply, names, must_raise=False)


# ---- losses ---------------------------------------------------------------------------
def _build_info_nce(data: st.DataObject) -> dict[str, Any]:
    b, d, k = (
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 3)),
    )
    seed = data.draw(st.integers(0, 10**6))
    explicit = data.draw(st.booleans())
    kw: dict[str, Any] = {
        "anchors": _points(seed, b, d),
        "positives": _points(seed + 1, b, d),
        "negatives": _points(seed + 2, b, k, d) if explicit else None,
        "temperature": data.draw(st.sampled_from([0.05, 1.0])),
        "distance": data.draw(st.sampled_from(DISTANCE_NAMES)),
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
        "weight": torch.rand(b, generator=_gen(seed)) if data.draw(st.booleans()) else None,
    }
    if explicit and data.draw(st.booleans()):
        kw["negative_mask"] = torch.rand(b, k, generator=_gen(seed)) > 0.3
    return kw


def _masks(arg: str, shape_of: Callable[[dict[str, Any]], tuple[int, ...]]) -> list[Mutation]:
    def bad_shape(kw: dict[str, Any], r: int) -> None:
        b, m = shape_of(kw)
        kw[arg] = torch.zeros(b, m + 1, dtype=torch.bool)

    def bad_dtype(kw: dict[str, Any], r: int) -> None:
        kw[arg] = torch.zeros(shape_of(kw))

    return [Mutation(f"{arg}:shape", arg, bad_shape), Mutation(f"{arg}:float", arg, bad_dtype)]


def _explicit(kw: dict[str, Any]) -> bool:
    return kw.get("negatives") is not None


INFO_NCE = Target(
    "info_nce",
    info_nce,
    _build_info_nce,
    [
        *float_mutations("anchors", partner=("positives", "negatives"), ball=True),
        *float_mutations("positives", partner=("anchors",), ball=True, dtype_pair="anchors"),
        *_guarded(
            _explicit,
            [
                *float_mutations(
                    "negatives", partner=("anchors",), ball=True, dtype_pair="anchors"
                ),
                *_masks("negative_mask", lambda kw: tuple(kw["negatives"].shape[:2])),
            ],
        ),
        Mutation(
            "negative_mask:in_batch",
            "negative_mask",
            _put("negative_mask", torch.ones(1, 1, dtype=torch.bool)),
            when=lambda kw: not _explicit(kw),
        ),
        *_masks(
            "false_negative_mask",
            lambda kw: (
                kw["anchors"].shape[0],
                kw["negatives"].shape[1] if _explicit(kw) else kw["anchors"].shape[0],
            ),
        ),
        Mutation("symmetric+negatives", "symmetric", _put("symmetric", True), when=_explicit),
        *number_mutations(
            "temperature",
            [*POSITIVE_BAD, torch.tensor([0.1, 0.2]), torch.tensor(1), torch.tensor(-1.0)],
        ),
        *option_mutations("distance", ("manhattan", "", 3, None)),
        *option_mutations("reduction"),
        *weight_mutations(),
        _empty_batch("anchors", "positives", "negatives", "weight", "negative_mask"),
        _zero_dim("anchors", "positives", "negatives"),
        _cast("anchors", "positives", "negatives", "weight"),
    ],
)


def _build_triplet(data: st.DataObject) -> dict[str, Any]:
    b, d, k = (
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 3)),
    )
    seed = data.draw(st.integers(0, 10**6))
    many = data.draw(st.booleans())
    return {
        "anchor": _points(seed, b, d),
        "positive": _points(seed + 1, b, d),
        "negative": _points(seed + 2, b, k, d) if many else _points(seed + 2, b, d),
        "negative_mask": (torch.rand(b, k, generator=_gen(seed)) > 0.3) if many else None,
        "margin": 0.2,
        "distance": data.draw(st.sampled_from(DISTANCE_NAMES)),
        "negative_reduction": data.draw(st.sampled_from(["mean", "max", "sum"])),
        "hard_negative_penalty": data.draw(st.booleans()),
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
        "weight": torch.rand(b, generator=_gen(seed)) if data.draw(st.booleans()) else None,
    }


TRIPLET = Target(
    "triplet_margin_loss",
    triplet_margin_loss,
    _build_triplet,
    [
        *float_mutations("anchor", partner=("positive", "negative"), ball=True),
        *float_mutations("positive", partner=("anchor",), ball=True),
        *float_mutations("negative", partner=("anchor",), ball=True),
        *_guarded(
            lambda kw: kw["negative_mask"] is not None,
            _masks("negative_mask", lambda kw: tuple(kw["negative"].shape[:2])),
        ),
        Mutation(
            "negative_mask:2d_negative",
            "negative_mask",
            _put("negative_mask", torch.ones(1, 1, dtype=torch.bool)),
            when=lambda kw: kw["negative"].dim() == 2,
        ),
        *number_mutations("margin", NON_NEGATIVE_BAD),
        *number_mutations("penalty_weight", NON_NEGATIVE_BAD),
        *number_mutations("penalty_threshold", (float("nan"), float("inf"), "t", None)),
        *option_mutations("negative_reduction", ("median", "", None)),
        *option_mutations("distance", ("manhattan", 7)),
        *option_mutations("reduction"),
        *weight_mutations(),
        _empty_batch("anchor", "positive", "negative", "negative_mask", "weight"),
        _zero_dim("anchor", "positive", "negative"),
        _cast("anchor", "positive", "negative", "weight"),
    ],
)


def _build_mnr(data: st.DataObject) -> dict[str, Any]:
    b, d, h = (
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 3)),
    )
    seed = data.draw(st.integers(0, 10**6))
    form = data.draw(st.sampled_from(["none", "2d", "3d"]))
    negatives = {"none": None, "2d": _points(seed + 2, b, d), "3d": _points(seed + 2, b, h, d)}[
        form
    ]
    return {
        "anchors": _points(seed, b, d),
        "positives": _points(seed + 1, b, d),
        "negatives": negatives,
        "scale": 20.0,
        "distance": data.draw(st.sampled_from(DISTANCE_NAMES)),
        "symmetric": data.draw(st.booleans()),
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
        "weight": torch.rand(b, generator=_gen(seed)) if data.draw(st.booleans()) else None,
    }


def _mnr_columns(kw: dict[str, Any]) -> tuple[int, int]:
    b, n = kw["anchors"].shape[0], kw["negatives"]
    h = 0 if n is None else (1 if n.dim() == 2 else n.shape[1])
    return b, b * (1 + h)


MNR = Target(
    "multiple_negatives_ranking_loss",
    multiple_negatives_ranking_loss,
    _build_mnr,
    [
        *float_mutations("anchors", partner=("positives", "negatives"), ball=True),
        *float_mutations("positives", partner=("anchors",), ball=True, dtype_pair="anchors"),
        *_guarded(
            _explicit,
            float_mutations("negatives", partner=("anchors",), ball=True, dtype_pair="anchors"),
        ),
        *_masks("false_negative_mask", _mnr_columns),
        *number_mutations("scale", POSITIVE_BAD),
        *option_mutations("distance", ("manhattan",)),
        *option_mutations("reduction"),
        *weight_mutations(),
        _empty_batch("anchors", "positives", "negatives", "weight"),
        _zero_dim("anchors", "positives", "negatives"),
        _cast("anchors", "positives", "negatives", "weight"),
    ],
)


def _build_graph_z(data: st.DataObject, *, weights: bool = False) -> dict[str, Any]:
    n, d, e = (
        data.draw(st.integers(2, 6)),
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 8)),
    )
    seed = data.draw(st.integers(0, 10**6))
    kw: dict[str, Any] = {
        "z": _points(seed, n, d),
        "edge_index": torch.randint(0, n, (2, e), generator=_gen(seed)),
    }
    if weights:
        kw["edge_weight"] = (
            torch.rand(e, generator=_gen(seed + 1)) if data.draw(st.booleans()) else None
        )
    return kw


def _build_link(data: st.DataObject) -> dict[str, Any]:
    kw = _build_graph_z(data)
    n = kw["z"].shape[0]
    seed = data.draw(st.integers(0, 10**6))
    e_neg = data.draw(st.integers(1, 6))
    return {
        "z": kw["z"],
        "pos_edge_index": kw["edge_index"],
        "neg_edge_index": torch.randint(0, n, (2, e_neg), generator=_gen(seed)),
        "distance": data.draw(st.sampled_from(DISTANCE_NAMES)),
        "temperature": 0.5,
        "bias": 0.1,
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
        "pos_edge_weight": torch.rand(kw["edge_index"].shape[1])
        if data.draw(st.booleans())
        else None,
    }


LINK = Target(
    "link_prediction_loss",
    link_prediction_loss,
    _build_link,
    [
        *float_mutations("z", rows=False, cols=False, ball=True, ball_rows="all"),
        Mutation(
            "z:few_rows",
            "z",
            _set("z", lambda t, r: t[:1]),
            ("pos_edge_index", "neg_edge_index"),
            when=lambda kw: (
                max(int(kw["pos_edge_index"].max()), int(kw["neg_edge_index"].max())) >= 1
            ),
        ),
        *id_mutations("pos_edge_index", "z", shape="edge_index"),
        *id_mutations("neg_edge_index", "z", shape="edge_index"),
        *number_mutations("temperature", POSITIVE_BAD),
        *number_mutations("bias", ("b", None, torch.tensor([0.1, 0.2]))),
        *option_mutations("distance", ("manhattan",)),
        *option_mutations("reduction"),
        *weight_mutations("pos_edge_weight"),
        _cast("z", "pos_edge_weight"),
        Mutation(
            "empty_edges",
            "pos_edge_index",
            _set("pos_edge_index", lambda t, r: t[:, :0]),
            must_raise=False,
            when=lambda kw: kw["pos_edge_weight"] is None,
        ),
    ],
)


SMOOTHNESS = Target(
    "laplacian_smoothness",
    laplacian_smoothness,
    lambda data: {
        **_build_graph_z(data, weights=True),
        "normalization": data.draw(st.sampled_from(["none", "sym"])),
        "duplicates": data.draw(st.sampled_from(["max", "mean", "keep"])),
        "reduction": data.draw(st.sampled_from(["sum", "mean", "none"])),
    },
    [
        *float_mutations("z", rows=False, cols=False),
        Mutation(
            "z:few_rows",
            "z",
            _set("z", lambda t, r: t[:1]),
            ("edge_index",),
            when=lambda kw: int(kw["edge_index"].max()) >= 1,
        ),
        *id_mutations("edge_index", "z", shape="edge_index"),
        *_guarded(
            lambda kw: kw["edge_weight"] is not None,
            [
                m
                for m in float_mutations("edge_weight", fixed_ndim=False, cols=False, finite=True)
                if m.label != "edge_weight:rows"
            ],
        ),
        *weight_mutations("edge_weight"),
        *option_mutations("normalization"),
        *option_mutations("duplicates"),
        *option_mutations("reduction"),
        *number_mutations("lambda_", NON_NEGATIVE_BAD),
        _cast("z", "edge_weight"),
        Mutation(
            "empty_edges",
            "edge_index",
            _set("edge_index", lambda t, r: t[:, :0]),
            must_raise=False,
            when=lambda kw: kw["edge_weight"] is None,
        ),
    ],
)


def _build_recon(data: st.DataObject) -> dict[str, Any]:
    n, f = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    seed = data.draw(st.integers(0, 10**6))
    kind = data.draw(st.sampled_from(["mse", "bce", "ce"]))
    pred = torch.randn(n, f, generator=_gen(seed))
    if kind == "ce":
        hard = data.draw(st.booleans())
        target = (
            torch.randint(0, f, (n,), generator=_gen(seed + 1))
            if hard
            else torch.softmax(torch.randn(n, f, generator=_gen(seed + 1)), 1)
        )
    else:
        target = torch.rand(n, f, generator=_gen(seed + 1))
    kw: dict[str, Any] = {"pred": pred, "target": target, "kind": kind}
    if data.draw(st.booleans()):
        kw["node_mask"] = torch.rand(n, generator=_gen(seed)) > 0.3
    return kw


def _kind(*kinds: str) -> Callable[[dict[str, Any]], bool]:
    return lambda kw: kw["kind"] in kinds


RECON = Target(
    "feature_reconstruction_loss",
    feature_reconstruction_loss,
    _build_recon,
    [
        *[
            m
            for m in float_mutations("pred", partner=("target", "node_mask"))
            if m.label != "pred:cols"
        ],
        # one more class is valid against class-index targets
        *_guarded(
            lambda kw: not (kw["kind"] == "ce" and kw["target"].dim() == 1),
            [m for m in float_mutations("pred", partner=("target",)) if m.label == "pred:cols"],
        ),
        Mutation(
            "target:int_for_mse",
            "target",
            _set("target", lambda t, r: (t * 3).long()),
            when=_kind("mse", "bce"),
        ),
        Mutation(
            "target:1d_for_bce",
            "target",
            _set("target", lambda t, r: t[:, 0]),
            when=_kind("mse", "bce"),
        ),
        Mutation(
            "target:cols",
            "target",
            _set("target", lambda t, r: torch.cat([t, t[:, :1]], 1)),
            ("target", "pred"),
            when=lambda kw: kw["target"].dim() == 2,
        ),
        Mutation("target:rows", "target", _set("target", lambda t, r: t[1:]), ("target", "pred")),
        Mutation("target:3d", "target", _set("target", lambda t, r: t[None]), ("target",)),
        *[
            Mutation(
                f"target:bce={v}",
                "target",
                _set("target", functools.partial(_poke_with, v)),
                when=_kind("bce"),
            )
            for v in (1.5, -0.25, float("nan"), float("inf"))
        ],
        Mutation(
            "target:class_high",
            "target",
            lambda kw, r: kw.__setitem__(
                "target", _poke(kw["target"], r, kw["pred"].shape[1] + r % 2)
            ),
            when=lambda kw: kw["kind"] == "ce" and kw["target"].dim() == 1,
        ),
        Mutation(
            "target:class_negative",
            "target",
            _set("target", lambda t, r: _poke(t, r, -1)),
            when=lambda kw: kw["kind"] == "ce" and kw["target"].dim() == 1,
        ),
        Mutation(
            "target:class_float",
            "target",
            _set("target", lambda t, r: t.float()),
            when=lambda kw: kw["kind"] == "ce" and kw["target"].dim() == 1,
        ),
        Mutation(
            "target:class_bool",
            "target",
            _set("target", lambda t, r: t > 0),
            when=lambda kw: kw["kind"] == "ce" and kw["target"].dim() == 1,
        ),
        *_guarded(
            lambda kw: "node_mask" in kw,
            [
                Mutation("node_mask:float", "node_mask", _set("node_mask", lambda t, r: t.float())),
                Mutation(
                    "node_mask:len",
                    "node_mask",
                    _set("node_mask", lambda t, r: torch.cat([t, t[:1]])),
                ),
                Mutation("node_mask:2d", "node_mask", _set("node_mask", lambda t, r: t[None])),
            ],
        ),
        *option_mutations("kind", ("MSE", "l1", None)),
        *option_mutations("feature_reduction", ("avg", None)),
        *[
            Mutation(f"pos_weight={v!r}", "pos_weight", _put("pos_weight", v), when=_kind("bce"))
            for v in (0.0, -1.0, float("nan"), "w", torch.ones(7), torch.ones(2, 2))
        ],
        *[
            Mutation(
                f"label_smoothing={v!r}",
                "label_smoothing",
                _put("label_smoothing", v),
                when=_kind("ce"),
            )
            for v in (1.5, -0.1, float("nan"), "x", None)
        ],
        *option_mutations("reduction"),
        Mutation(
            "weight:len",
            "weight",
            lambda kw, r: kw.__setitem__("weight", torch.ones(kw["pred"].shape[0] + 1)),
        ),
        Mutation(
            "weight:negative",
            "weight",
            lambda kw, r: kw.__setitem__("weight", -torch.ones(kw["pred"].shape[0])),
        ),
        _empty_batch("pred", "target", "node_mask"),
        _zero_dim("pred", "target", names=("pred", "target")),
        _cast("pred", "target"),
    ],
)


LOCAL = Target(
    "local_contrastive_loss",
    local_contrastive_loss,
    lambda data: {
        **_build_graph_z(data),
        "similar": data.draw(st.one_of(st.none(), st.just("mask"))),
        # normalised rows lie on the Poincaré ball's boundary: no poincare with normalize
        **data.draw(
            st.sampled_from(
                [
                    {"distance": "euclidean", "normalize": True},
                    {"distance": "sqeuclidean", "normalize": True},
                    {"distance": "euclidean", "normalize": False},
                    {"distance": "poincare", "normalize": False},
                ]
            )
        ),
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
    },
    [
        *float_mutations("z", rows=False, cols=False, ball=True, ball_rows="all"),
        Mutation(
            "z:few_rows",
            "z",
            _set("z", lambda t, r: t[:1]),
            ("edge_index",),
            when=lambda kw: int(kw["edge_index"].max()) >= 1,
        ),
        *id_mutations("edge_index", "z", shape="edge_index"),
        Mutation(
            "similar:float",
            "similar",
            lambda kw, r: kw.__setitem__("similar", torch.ones(kw["edge_index"].shape[1])),
        ),
        Mutation(
            "similar:len",
            "similar",
            lambda kw, r: kw.__setitem__(
                "similar", torch.ones(kw["edge_index"].shape[1] + 1, dtype=torch.bool)
            ),
        ),
        *number_mutations("margin", NON_NEGATIVE_BAD),
        *option_mutations("distance", ("cosine", "dot", "manhattan")),
        _cast("z"),
        *option_mutations("reduction"),
        Mutation(
            "weight:len",
            "weight",
            lambda kw, r: kw.__setitem__("weight", torch.ones(kw["edge_index"].shape[1] + 1)),
        ),
        Mutation(
            "weight:negative",
            "weight",
            lambda kw, r: kw.__setitem__("weight", -torch.ones(kw["edge_index"].shape[1])),
        ),
        Mutation(
            "empty_edges",
            "edge_index",
            _set("edge_index", lambda t, r: t[:, :0]),
            must_raise=False,
            when=lambda kw: kw["similar"] is None,
        ),
    ],
)


def _local_call(**kw: Any) -> Any:
    if isinstance(kw.get("similar"), str):
        e = kw["edge_index"].shape[-1] if isinstance(kw["edge_index"], torch.Tensor) else 1
        kw["similar"] = torch.arange(e) % 2 == 0
    return local_contrastive_loss(**kw)


LOCAL.fn = _local_call


# ---- miners ---------------------------------------------------------------------------
def _build_mine(data: st.DataObject) -> dict[str, Any]:
    b, m, d = (
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 12)),
        data.draw(st.integers(1, 4)),
    )
    seed = data.draw(st.integers(0, 10**6))
    strategy = data.draw(
        st.sampled_from(["hardest", "semi_hard", "weighted", "random", "mixed", "cluster"])
    )
    return {
        "anchors": _points(seed, b, d),
        "pool": _points(seed + 1, m, d),
        "k": data.draw(st.integers(1, 4)),
        "strategy": strategy,
        "positives": _points(seed + 2, b, d),
        "distance": data.draw(st.sampled_from(DISTANCE_NAMES)),
        "generator": seed,
    }


MINE = Target(
    "mine",
    mine,
    _build_mine,
    [
        *float_mutations("anchors", partner=("pool", "positives"), finite=True, ball=True),
        *float_mutations("pool", partner=("anchors",), rows=False, finite=True, ball=True),
        *float_mutations("positives", partner=("anchors",), finite=True, ball=True),
        Mutation(
            "positives:none_for_semi_hard",
            "positives",
            _put("positives", None),
            when=lambda kw: kw["strategy"] == "semi_hard",
        ),
        Mutation(
            "positive_scores:nan",
            "positive_scores",
            lambda kw, r: kw.update(
                positives=None, positive_scores=torch.full((kw["anchors"].shape[0],), float("nan"))
            ),
        ),
        Mutation(
            "positive_scores:len",
            "positive_scores",
            lambda kw, r: kw.update(
                positives=None, positive_scores=torch.zeros(kw["anchors"].shape[0] + 1)
            ),
        ),
        *number_mutations("k", POSITIVE_INT_BAD),
        *option_mutations("strategy", ("hardestt", "", 4)),
        *option_mutations("distance", ("manhattan",)),
        *number_mutations("memory_budget", (0, -1, 2.5, "big")),
        *number_mutations("generator", ("seed", -1, 1.5)),
        Mutation("empty_pool", "pool", _set("pool", lambda t, r: t[:0]), must_raise=False),
        Mutation(
            "k>pool",
            "k",
            lambda kw, r: kw.__setitem__("k", kw["pool"].shape[0] + 1 + r % 3),
            must_raise=False,
        ),
        _empty_batch("anchors", "positives"),
        _zero_dim("anchors", "pool", "positives"),
        _cast("anchors", "pool", "positives"),
    ],
)


def _build_topk(data: st.DataObject) -> dict[str, Any]:
    kw = _build_mine(data)
    return {"queries": kw["anchors"], "pool": kw["pool"], "k": kw["k"], "distance": kw["distance"]}


TOPK = Target(
    "exact_topk",
    exact_topk,
    _build_topk,
    [
        *float_mutations("queries", partner=("pool",), rows=False, finite=True, ball=True),
        *float_mutations("pool", partner=("queries",), rows=False, finite=True, ball=True),
        *number_mutations("k", POSITIVE_INT_BAD),
        *option_mutations("distance", ("manhattan", None)),
        *number_mutations("memory_budget", (0, -1, 2.5)),
        Mutation("empty_pool", "pool", _set("pool", lambda t, r: t[:0]), must_raise=False),
        _empty_batch("queries"),
        _zero_dim("queries", "pool"),
        _cast("queries", "pool"),
    ],
)


# ---- graph utilities ------------------------------------------------------------------
def _build_to_csr(data: st.DataObject) -> dict[str, Any]:
    n, e = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 10))
    seed = data.draw(st.integers(0, 10**6))
    return {
        "edge_index": torch.randint(0, n, (2, e), generator=_gen(seed)),
        "num_nodes": n,
        "undirected": data.draw(st.booleans()),
        "remove_self_loops": data.draw(st.booleans()),
    }


TO_CSR = Target(
    "to_csr",
    to_csr,
    _build_to_csr,
    [
        *id_mutations("edge_index", "num_nodes", shape="edge_index"),
        *number_mutations("num_nodes", (-1, 2.5, "3", True)),
        Mutation("num_nodes:None", "num_nodes", _put("num_nodes", None), must_raise=False),
        Mutation(
            "empty_edges", "edge_index", _set("edge_index", lambda t, r: t[:, :0]), must_raise=False
        ),
        Mutation(
            "zero_nodes",
            "num_nodes",
            lambda kw, r: kw.update(edge_index=kw["edge_index"][:, :0], num_nodes=0),
            must_raise=False,
        ),
    ],
)


def _build_csr(data: st.DataObject) -> dict[str, Any]:
    g = _graph(data, undirected=data.draw(st.booleans()))
    return {"rowptr": g.rowptr, "col": g.col, "num_nodes": g.num_nodes}


def _rowptr_poke(kw: dict[str, Any], r: int) -> None:
    rp = kw["rowptr"].clone()
    rp[1 + r % (rp.numel() - 2)] += 1 + r % 3  # an inner offset moved: may stay consistent
    kw["rowptr"] = rp


CSR_TARGET = Target(
    "CSR",
    CSR,
    _build_csr,
    [
        Mutation("rowptr:short", "rowptr", _set("rowptr", lambda t, r: t[:-1]), ("rowptr",)),
        Mutation(
            "rowptr:long",
            "rowptr",
            _set("rowptr", lambda t, r: torch.cat([t, t[-1:]])),
            ("rowptr",),
        ),
        Mutation(
            "rowptr:first",
            "rowptr",
            _set("rowptr", lambda t, r: _poke(t, 0, 1 + r % 3)),
            ("rowptr",),
        ),
        Mutation(
            "rowptr:last",
            "rowptr",
            _set("rowptr", lambda t, r: _poke(t, -1, int(t[-1]) + 1 + r % 3)),
            ("rowptr",),
        ),
        Mutation(
            "rowptr:inner",
            "rowptr",
            _rowptr_poke,
            ("rowptr", "col"),
            must_raise=False,
            when=lambda kw: kw["rowptr"].numel() > 2,
        ),
        Mutation("rowptr:float", "rowptr", _set("rowptr", lambda t, r: t.float())),
        Mutation("rowptr:2d", "rowptr", _set("rowptr", lambda t, r: t[None])),
        Mutation(
            "col:high",
            "col",
            lambda kw, r: kw.__setitem__("col", _poke(kw["col"], r, kw["num_nodes"] + r % 3)),
            when=lambda kw: kw["col"].numel() > 0,
        ),
        Mutation(
            "col:negative",
            "col",
            _set("col", lambda t, r: _poke(t, r, -1 - r % 3)),
            when=lambda kw: kw["col"].numel() > 0,
        ),
        Mutation("col:reversed", "col", _set("col", lambda t, r: t.flip(0)), must_raise=False),
        Mutation("col:float", "col", _set("col", lambda t, r: t.float())),
        Mutation("col:bool", "col", _set("col", lambda t, r: t > 0)),
        Mutation("col:list", "col", _set("col", lambda t, r: t.tolist())),
        *number_mutations("num_nodes", (-1, 2.5, "3", None, True)),
    ],
)


def _graph(data: st.DataObject, *, undirected: bool = True) -> CSR:
    n = data.draw(st.integers(0, 7))  # 0: the empty graph
    e = data.draw(st.integers(0, 12)) if n else 0
    seed = data.draw(st.integers(0, 10**6))
    return to_csr(
        torch.randint(0, max(n, 1), (2, e), generator=_gen(seed)), n, undirected=undirected
    )


def _ids(n: int, size: int, seed: int) -> torch.Tensor:
    """``size`` uniform ids in ``[0, n)`` (none when the graph is empty)."""
    return (
        torch.randint(0, n, (size,), generator=_gen(seed))
        if n
        else torch.zeros(0, dtype=torch.int64)
    )


def _build_has_edge(data: st.DataObject) -> dict[str, Any]:
    g = _graph(data, undirected=False)
    q = data.draw(st.integers(1, 6))
    seed = data.draw(st.integers(0, 10**6))
    return {
        "csr": g,
        "src": _ids(g.num_nodes, q, seed),
        "dst": _ids(g.num_nodes, q, seed + 1),
    }


def _num_nodes(kw: dict[str, Any]) -> int:
    return int(kw["csr"].num_nodes)


def _id_mutations_csr(arg: str, **kwargs: Any) -> list[Mutation]:
    out = id_mutations(arg, None, **kwargs)

    def high(kw: dict[str, Any], r: int) -> None:
        kw[arg] = _poke(kw[arg], r, _num_nodes(kw) + r % 3)

    out.append(Mutation(f"{arg}:high", arg, high, when=lambda kw: kw[arg].numel() > 0))
    return out


HAS_EDGE = Target(
    "has_edge",
    has_edge,
    _build_has_edge,
    [
        *_id_mutations_csr("src"),
        *_id_mutations_csr("dst"),
        Mutation(
            "dst:broadcast",
            "dst",
            _set("dst", lambda t, r: torch.cat([t, t])),
            ("src", "dst"),
            when=lambda kw: kw["dst"].numel() > 1,
        ),
        Mutation("src:column", "src", _set("src", lambda t, r: t[:, None]), must_raise=False),
        _empty_batch("src", "dst"),
    ],
)


def _build_grouped(data: st.DataObject) -> dict[str, Any]:
    g = _graph(data, undirected=False)
    groups, m, k = (
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(1, 4)),
    )
    seed = data.draw(st.integers(0, 10**6))
    return {
        "csr": g,
        "src": _ids(g.num_nodes, groups * m, seed).reshape(-1, m)
        if g.num_nodes
        else torch.zeros(0, m, dtype=torch.int64),
        "dst": _ids(g.num_nodes, groups * k, seed + 1).reshape(-1, k)
        if g.num_nodes
        else torch.zeros(0, k, dtype=torch.int64),
        "include_self": data.draw(st.booleans()),
    }


GROUPED = Target(
    "has_edge_grouped",
    has_edge_grouped,
    _build_grouped,
    [
        *_id_mutations_csr("src"),
        *_id_mutations_csr("dst"),
        Mutation("src:1d", "src", _set("src", lambda t, r: t.reshape(-1))),
        Mutation(
            "dst:groups",
            "dst",
            _set("dst", lambda t, r: torch.cat([t, t[:1]])),
            ("src", "dst"),
            when=lambda kw: kw["dst"].shape[0] > 0,
        ),
    ],
)


def _build_induced(data: st.DataObject) -> dict[str, Any]:
    n, e = data.draw(st.integers(1, 7)), data.draw(st.integers(0, 10))
    seed = data.draw(st.integers(0, 10**6))
    size = data.draw(st.integers(0, n))
    return {
        "edge_index": torch.randint(0, n, (2, e), generator=_gen(seed)),
        "nodes": torch.randperm(n, generator=_gen(seed + 1))[:size],
        "num_nodes": data.draw(st.sampled_from([n, None])),
        "relabel": data.draw(st.booleans()),
    }


INDUCED = Target(
    "induced_subgraph",
    induced_subgraph,
    _build_induced,
    [
        *[
            m
            for m in id_mutations("edge_index", "num_nodes", shape="edge_index")
            if m.label != "edge_index:high"
        ],
        Mutation(
            "edge_index:high",
            "edge_index",
            lambda kw, r: kw.__setitem__(
                "edge_index", _poke(kw["edge_index"], r, kw["num_nodes"] + r % 3)
            ),
            when=lambda kw: kw["num_nodes"] is not None and kw["edge_index"].numel() > 0,
        ),
        *id_mutations("nodes", None, shape="1d"),
        Mutation(
            "nodes:high",
            "nodes",
            lambda kw, r: kw.__setitem__(
                "nodes", torch.cat([kw["nodes"], torch.tensor([kw["num_nodes"] + r % 3])])
            ),
            when=lambda kw: kw["num_nodes"] is not None,
        ),
        Mutation(
            "nodes:repeat",
            "nodes",
            _set("nodes", lambda t, r: torch.cat([t, t[:1]])),
            when=lambda kw: kw["nodes"].numel() > 0,
        ),
        *number_mutations("num_nodes", (-1, 2.5, "4", True)),
    ],
)


def _loader_call(**kw: Any) -> Any:
    return [sub.num_nodes for sub in NeighborLoader(**kw)]


def _build_loader(data: st.DataObject) -> dict[str, Any]:
    n, e = data.draw(st.integers(1, 7)), data.draw(st.integers(0, 10))
    seed = data.draw(st.integers(0, 10**6))
    sampler = data.draw(st.sampled_from(["neighbor", "layerwise"]))
    low = -1 if sampler == "neighbor" else 1
    return {
        "edge_index": torch.randint(0, n, (2, e), generator=_gen(seed)),
        "num_nodes": n,
        "fanouts": data.draw(st.lists(st.integers(low, 3), min_size=1, max_size=2)),
        "batch_size": data.draw(st.integers(1, 4)),
        "sampler": sampler,
        "seed": seed,
    }


LOADER = Target(
    "NeighborLoader",
    _loader_call,
    _build_loader,
    [
        *id_mutations("edge_index", "num_nodes", shape="edge_index"),
        *number_mutations("num_nodes", (0, -1, 2.5, None)),
        *[
            Mutation(f"fanouts={v!r}", "fanouts", _put("fanouts", v))
            for v in ([-2], [0, -3], [1.5], [], "ab", None)
        ],
        Mutation(
            "fanouts=[0]:layerwise",
            "fanouts",
            _put("fanouts", [0]),
            when=lambda kw: kw["sampler"] == "layerwise",
        ),
        Mutation(
            "seeds:high",
            "seeds",
            lambda kw, r: kw.__setitem__("seeds", torch.tensor([kw["num_nodes"] + r % 3])),
        ),
        Mutation("seeds:negative", "seeds", _put("seeds", torch.tensor([-1]))),
        Mutation("seeds:float", "seeds", _put("seeds", torch.tensor([0.0]))),
        Mutation("seeds:2d", "seeds", _put("seeds", torch.tensor([[0]]))),
        Mutation("seeds:repeat", "seeds", _put("seeds", torch.tensor([0, 0]))),
        Mutation(
            "x:rows", "x", lambda kw, r: kw.__setitem__("x", torch.zeros(kw["num_nodes"] + 1, 2))
        ),
        *number_mutations("batch_size", POSITIVE_INT_BAD),
        *option_mutations("sampler", ("cluster", None)),
        *number_mutations("seed", (-1, 1.5, "s")),
    ],
)


def _build_khop(data: st.DataObject) -> dict[str, Any]:
    g = _graph(data)
    b = data.draw(st.integers(1, 4))
    seed = data.draw(st.integers(0, 10**6))
    k = data.draw(st.integers(0, 3))
    return {
        "csr": g,
        "anchors": _ids(g.num_nodes, b, seed),
        "k": k,
        "min_hop": data.draw(st.integers(0, k)),
        "backend": data.draw(st.sampled_from(["auto", "scipy", "torch"])),
    }


KHOP = Target(
    "k_hop_rings",
    k_hop_rings,
    _build_khop,
    [
        *_id_mutations_csr("anchors", shape="1d"),
        *number_mutations("k", (-1, 1.5, "2", True)),
        *number_mutations("min_hop", (-1, 0.5, None)),
        Mutation(
            "min_hop>k", "min_hop", lambda kw, r: kw.__setitem__("min_hop", kw["k"] + 1 + r % 3)
        ),
        *number_mutations("chunk_size", (0, -2, 1.5)),
        *option_mutations("backend", ("gpu", "", None)),
        _empty_batch("anchors"),
    ],
)


def _build_neighbor_sample(data: st.DataObject) -> dict[str, Any]:
    g = _graph(data)
    seed = data.draw(st.integers(0, 10**6))
    b = data.draw(st.integers(min(1, g.num_nodes), g.num_nodes))
    return {
        "csr": g,
        "seeds": torch.randperm(g.num_nodes, generator=_gen(seed))[:b],
        "fanouts": data.draw(st.lists(st.integers(-1, 4), min_size=1, max_size=3)),
        "generator": seed,
    }


NEIGHBOR_SAMPLE = Target(
    "neighbor_sample",
    neighbor_sample,
    _build_neighbor_sample,
    [
        *_id_mutations_csr("seeds", shape="1d"),
        Mutation(
            "seeds:repeat",
            "seeds",
            _set("seeds", lambda t, r: torch.cat([t, t[:1]])),
            when=lambda kw: kw["seeds"].numel() > 0,
        ),
        *[
            Mutation(f"fanouts={v!r}", "fanouts", _put("fanouts", v))
            for v in ([-2], [2, -3], [1.5], [], "ab", 3, [True], None)
        ],
        *number_mutations("generator", ("seed", -1, 2.5)),
        _empty_batch("seeds"),
    ],
)


def _distance_call(distance: str, form: str, x: Any, y: Any) -> Any:
    dist = get_distance(distance)
    return dist.pairwise(x, y) if form == "pairwise" else dist.paired(x, y)


DISTANCES = Target(
    "distances",
    _distance_call,
    lambda data: {
        "distance": data.draw(st.sampled_from(DISTANCE_NAMES)),
        "form": data.draw(st.sampled_from(["pairwise", "paired"])),
        "x": _points(data.draw(st.integers(0, 10**6)), 3, 2),
        "y": _points(data.draw(st.integers(0, 10**6)), 3, 2),
    },
    [
        *float_mutations("x", fixed_ndim=False, rows=False, partner=("y",), ball=True),
        *float_mutations("y", fixed_ndim=False, rows=False, partner=("x",), ball=True),
        Mutation("x:rank+2", "x", _set("x", lambda t, r: t[None, None]), ("x",), must_raise=False),
        Mutation("y:rows", "y", _set("y", lambda t, r: t[:2]), ("x", "y"), must_raise=False),
        *option_mutations("distance", ("manhattan", "Cosine", None)),
        _zero_dim("x", "y"),
        _cast("x", "y"),
    ],
)


def _poincare_call(curvature: Any, eps: Any, x: Any) -> Any:
    return PoincareDistance(curvature, eps).pairwise(project_to_ball(x, curvature, eps), x * 0)


POINCARE = Target(
    "poincare",
    _poincare_call,
    lambda data: {
        "curvature": data.draw(st.sampled_from([0.5, 1.0, 2.0])),
        "eps": data.draw(st.sampled_from([1e-5, 1e-3, 0.1])),
        "x": torch.randn(4, 3, generator=_gen(data.draw(st.integers(0, 10**6)))) * 3,
    },
    [
        *number_mutations("curvature", POSITIVE_BAD),
        *number_mutations("eps", (0.0, 1.0, 1.5, -1e-3, float("nan"), "e", True)),
        Mutation("x:int", "x", _set("x", lambda t, r: t.long())),
        Mutation("x:list", "x", _set("x", lambda t, r: t.tolist())),
    ],
)


TARGETS = [
    INFO_NCE,
    TRIPLET,
    MNR,
    LINK,
    SMOOTHNESS,
    RECON,
    LOCAL,
    MINE,
    TOPK,
    TO_CSR,
    CSR_TARGET,
    HAS_EDGE,
    GROUPED,
    INDUCED,
    LOADER,
    KHOP,
    NEIGHBOR_SAMPLE,
    DISTANCES,
    POINCARE,
]


def _check_call(target: Target, mutation: Mutation, kw: dict[str, Any]) -> None:
    """Run one mutated call: success is allowed only for inputs that may be valid;
    a ValueError/TypeError must name one of the mutation's names; nothing else."""
    FUZZ_CASES[target.name] += 1
    if mutation.must_raise:
        FUZZ_BAD[target.name] += 1
    label = f"{target.name} [{mutation.label}]"
    names = mutation.names or (mutation.arg,)
    try:
        target.fn(**kw)
    except (ValueError, TypeError) as err:
        msg = str(err)
        named = any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", msg) for n in names)
        assert named, f"{label}: {type(err).__name__}({msg!r}) names none of {names}"
        FUZZ_RAISED[target.name] += 1
        return
    except Exception as err:  # any other type is the bug this test hunts
        raise AssertionError(f"{label}: raw {type(err).__name__}: {err}") from err
    assert not mutation.must_raise, f"{label}: the bad input was accepted"


def _fuzz(data: st.DataObject, targets: Sequence[Target]) -> None:
    target = data.draw(st.sampled_from(list(targets)), label="target")
    kw = target.build(data)
    usable = [m for m in target.mutations if m.when(kw)]
    mutation = data.draw(st.sampled_from(usable), label="mutation")
    mutation.apply(kw, data.draw(st.integers(0, 10**6), label="r"))
    _check_call(target, mutation, kw)


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@FUZZ
@given(data=st.data())
def test_fuzz_losses_contrastive(data: st.DataObject) -> None:
    _FUZZ_TESTS_RUN.add("losses_contrastive")
    _fuzz(data, [INFO_NCE, TRIPLET, MNR])


@FUZZ
@given(data=st.data())
def test_fuzz_losses_graph(data: st.DataObject) -> None:
    _FUZZ_TESTS_RUN.add("losses_graph")
    _fuzz(data, [LINK, SMOOTHNESS, RECON, LOCAL])


@FUZZ
@given(data=st.data())
def test_fuzz_miners(data: st.DataObject) -> None:
    _FUZZ_TESTS_RUN.add("miners")
    _fuzz(data, [MINE, TOPK])


@FUZZ
@given(data=st.data())
def test_fuzz_graph(data: st.DataObject) -> None:
    _FUZZ_TESTS_RUN.add("graph")
    _fuzz(data, [TO_CSR, CSR_TARGET, HAS_EDGE, GROUPED, KHOP, NEIGHBOR_SAMPLE, INDUCED, LOADER])


@FUZZ
@given(data=st.data())
def test_fuzz_distances(data: st.DataObject) -> None:
    _FUZZ_TESTS_RUN.add("distances")
    _fuzz(data, [DISTANCES, POINCARE])


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_mutation_once(target: Target) -> None:
    """Each mutation at least once on a fixed valid call (where it applies), so the fuzz's
    coverage does not depend on the draw."""

    @settings(max_examples=6, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        kw = target.build(data)
        for mutation in target.mutations:
            if mutation.when(kw):
                trial = dict(kw)
                mutation.apply(trial, 7)
                _check_call(target, mutation, trial)

    run()


def test_zz_fuzz_case_count() -> None:
    """Runs last in the file: the default run generates >= 300 bad inputs in all."""
    if len(_FUZZ_TESTS_RUN) < 5:
        pytest.skip("only part of the fuzz ran")
    total, bad = sum(FUZZ_CASES.values()), sum(FUZZ_BAD.values())
    print(f"\nfuzz: {total} calls, {bad} with a must-raise input; per target {dict(FUZZ_CASES)}")
    assert bad >= 300, dict(FUZZ_BAD)


@pytest.mark.parametrize("nodes", [[0, -1], [0, 6]])
def test_induced_edges_refuses_out_of_range_ids(nodes: list[int]) -> None:
    from contrastkit.data.closure import induced_edges

    edges = torch.tensor([[0, 3], [3, 0]])
    with pytest.raises(ValueError, match=r"nodes must hold ids in \[0, 6\)"):
        induced_edges(edges, torch.tensor(nodes), 6)
    with pytest.raises(ValueError, match=r"edge_index must hold ids"):
        induced_edges(torch.tensor([[0, 9]]).t(), torch.tensor([0]), 6)
    kept = induced_edges(edges, torch.tensor([3, 0]), 6)
    assert kept.tolist() == [[1, 0], [0, 1]]
