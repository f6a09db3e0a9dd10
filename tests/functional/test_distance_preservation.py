"""Distance preservation (stress): loop reference, BFS against scipy, gradcheck, masking, errors."""

from __future__ import annotations

import doctest
import importlib
import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import shortest_path

from contrastkit.functional.distance_preservation import (
    distance_preservation_loss,
    hop_distance_pairs,
)
from contrastkit.functional.distances import PoincareDistance
from contrastkit.losses.distance_preservation import DistancePreservationLoss
from tests.conftest import tol


def _graph(gen: torch.Generator, n: int, e: int) -> torch.Tensor:
    return torch.randint(0, n, (2, e), generator=gen)


def _scipy_hops(ei: torch.Tensor, n: int, directed: bool) -> np.ndarray:
    adj = sp.csr_matrix((np.ones(ei.shape[1]), (ei[0].numpy(), ei[1].numpy())), shape=(n, n))
    return shortest_path(adj, method="D", directed=directed, unweighted=True)


@pytest.mark.parametrize("undirected", [True, False])
@pytest.mark.parametrize("max_hops", [1, 2, 4])
def test_hops_match_scipy_shortest_path(
    gen: torch.Generator, undirected: bool, max_hops: int
) -> None:
    n = 25  # ids from [0, 22): three isolated nodes
    ei = _graph(gen, 22, 35)
    sources = torch.tensor([0, 3, 3, 24, 7, 11])
    pairs, hops = hop_distance_pairs(ei, n, sources, max_hops, undirected=undirected)
    assert pairs.dtype == hops.dtype == torch.int64 and pairs.shape == (2, hops.numel())
    dist = _scipy_hops(ei, n, directed=not undirected)
    want = sorted(
        (int(s), v, int(dist[s, v]))
        for s in sources.tolist()
        for v in range(n)
        if 0 < dist[s, v] <= max_hops
    )
    got = sorted(zip(pairs[0].tolist(), pairs[1].tolist(), hops.tolist(), strict=True))
    assert got == want
    # grouped by source position, in the order given (a repeated source is its own group)
    counts = torch.tensor([int(((dist[s] > 0) & (dist[s] <= max_hops)).sum()) for s in sources])
    assert torch.equal(pairs[0], torch.repeat_interleave(sources, counts))


def test_hop_pairs_edge_cases() -> None:
    path = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    pairs, hops = hop_distance_pairs(path, 5, torch.tensor([2]), 10)
    assert pairs.tolist() == [[2, 2, 2, 2], [1, 3, 0, 4]] and hops.tolist() == [1, 1, 2, 2]
    empty_pairs, empty_hops = hop_distance_pairs(path, 5, torch.zeros(0, dtype=torch.long), 3)
    assert empty_pairs.shape == (2, 0) and empty_hops.shape == (0,)
    no_edges = torch.zeros(2, 0, dtype=torch.long)
    p, h = hop_distance_pairs(no_edges, 3, torch.tensor([0, 2]), 2)
    assert p.shape == (2, 0) and h.numel() == 0


def _reference(z: torch.Tensor, pairs: torch.Tensor, t: torch.Tensor, normalized: bool) -> float:
    terms = []
    for k in range(pairs.shape[1]):
        tk = float(t[k])
        if tk == 0 or not math.isfinite(tk):
            continue
        d = math.dist(z[int(pairs[0, k])].tolist(), z[int(pairs[1, k])].tolist())
        terms.append((d - tk) ** 2 / (tk**2 if normalized else 1.0))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("normalized", [True, False])
def test_equals_loop_reference(gen: torch.Generator, dtype: torch.dtype, normalized: bool) -> None:
    z = torch.randn(12, 3, generator=gen, dtype=dtype)
    pairs = _graph(gen, 12, 40)
    pairs = pairs[:, pairs[0] != pairs[1]]  # L2Distance floors a self-distance at ~1e-6
    p = pairs.shape[1]
    t = torch.randint(0, 5, (p,), generator=gen).to(dtype)
    t[3], t[7] = math.inf, math.nan
    out = distance_preservation_loss(z, pairs, t, normalized=normalized)
    assert out.item() == pytest.approx(_reference(z, pairs, t, normalized), rel=tol(dtype)["rtol"])
    total = distance_preservation_loss(z, pairs, t, normalized=normalized, reduction="sum")
    per_pair = distance_preservation_loss(z, pairs, t, normalized=normalized, reduction="none")
    kept = (t > 0) & torch.isfinite(t)
    assert per_pair.shape == (p,) and not per_pair[~kept].any()
    torch.testing.assert_close(per_pair.sum(), total, **tol(dtype))
    torch.testing.assert_close(total / kept.sum(), out, **tol(dtype))


def test_integer_hops_and_end_to_end_with_the_sampler(gen: torch.Generator) -> None:
    ei = _graph(gen, 15, 30)
    pairs, hops = hop_distance_pairs(ei, 15, torch.arange(15), 3)
    z = torch.randn(15, 4, generator=gen, dtype=torch.float64)
    out = distance_preservation_loss(z, pairs, hops)
    torch.testing.assert_close(out, distance_preservation_loss(z, pairs, hops.double()))
    assert out.item() == pytest.approx(_reference(z, pairs, hops, True), rel=1e-12)


def test_poincare_distance(gen: torch.Generator) -> None:
    z = 0.3 * torch.randn(8, 2, generator=gen, dtype=torch.float64)
    pairs = _graph(gen, 8, 20)
    t = torch.randint(1, 4, (20,), generator=gen).double()
    for dist in (PoincareDistance(), PoincareDistance(curvature=2.0)):
        d = dist.paired(z[pairs[0]], z[pairs[1]])
        want = ((d - t) / t).square().mean()
        torch.testing.assert_close(distance_preservation_loss(z, pairs, t, distance=dist), want)
    by_name = distance_preservation_loss(z, pairs, t, distance="poincare")
    euclid = distance_preservation_loss(z, pairs, t, distance="l2")
    torch.testing.assert_close(
        by_name, distance_preservation_loss(z, pairs, t, distance=PoincareDistance())
    )
    assert not torch.isclose(by_name, euclid)


@pytest.mark.parametrize("distance", ["euclidean", "poincare"])
@pytest.mark.parametrize("normalized", [True, False])
def test_gradcheck(gen: torch.Generator, distance: str, normalized: bool) -> None:
    z = (0.3 * torch.randn(7, 3, generator=gen, dtype=torch.float64)).requires_grad_(True)
    pairs = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 0], [1, 2, 3, 4, 5, 6, 0, 0]])
    t = torch.tensor([1.0, 2.0, 0.0, 1.5, math.inf, 0.5, 3.0, 0.0], dtype=torch.float64)

    def fn(z_: torch.Tensor) -> torch.Tensor:
        return distance_preservation_loss(z_, pairs, t, distance=distance, normalized=normalized)

    assert torch.autograd.gradcheck(fn, (z,))


def test_ignored_pairs_are_attached_zero_without_nan(gen: torch.Generator) -> None:
    z = torch.randn(4, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    pairs = torch.tensor([[0, 1, 2], [0, 3, 1]])
    t = torch.tensor([0.0, math.inf, math.nan], dtype=torch.float64)
    for reduction in ("mean", "sum"):
        out = distance_preservation_loss(z, pairs, t, reduction=reduction)
        assert out.item() == 0.0 and out.requires_grad
        (grad,) = torch.autograd.grad(out, z)
        assert torch.isfinite(grad).all() and not grad.any()
    # a kept pair next to ignored ones gets a finite gradient, the ignored ones none
    t2 = torch.tensor([0.0, math.inf, 2.0], dtype=torch.float64)
    (grad,) = torch.autograd.grad(distance_preservation_loss(z, pairs, t2), z)
    assert torch.isfinite(grad).all() and not grad[[0, 3]].any() and grad[[1, 2]].any()
    none = torch.zeros(2, 0, dtype=torch.long)
    empty = distance_preservation_loss(z, none, torch.zeros(0, dtype=torch.float64))
    assert empty.item() == 0.0 and empty.requires_grad


def test_zero_loss_at_a_perfect_embedding() -> None:
    # a path embedded on a line with unit spacing reproduces every hop distance
    z = torch.arange(6, dtype=torch.float64).unsqueeze(1)
    path = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    pairs, hops = hop_distance_pairs(path, 6, torch.arange(6), 5)
    assert distance_preservation_loss(z, pairs, hops).item() == pytest.approx(0.0, abs=1e-10)
    assert distance_preservation_loss(2 * z, pairs, hops).item() == pytest.approx(1.0)


def test_module(gen: torch.Generator) -> None:
    # inside the Poincaré ball (the poincare case refuses points outside it)
    z = 0.2 * torch.randn(9, 3, generator=gen, dtype=torch.float64)
    pairs = _graph(gen, 9, 20)
    t = torch.randint(0, 4, (20,), generator=gen)
    cases: list[dict[str, Any]] = [
        {},
        {"normalized": False, "reduction": "sum"},
        {"distance": "poincare"},
    ]
    for kwargs in cases:
        loss = DistancePreservationLoss(**kwargs)
        torch.testing.assert_close(
            loss(z, pairs, t), distance_preservation_loss(z, pairs, t, **kwargs)
        )
    assert "normalized=True" in repr(DistancePreservationLoss())
    with pytest.raises(ValueError, match="distance"):
        DistancePreservationLoss("cosine")
    with pytest.raises(ValueError, match="reduction"):
        DistancePreservationLoss(reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="normalized"):
        DistancePreservationLoss(normalized=1)  # type: ignore[arg-type]


def test_bad_inputs_name_the_argument() -> None:
    z = torch.randn(4, 2)
    pairs = torch.tensor([[0, 1], [2, 3]])
    t = torch.tensor([1.0, 2.0])
    for bad in ("cosine", "dot", "sqeuclidean", "manhattan"):
        with pytest.raises(ValueError, match="distance"):
            distance_preservation_loss(z, pairs, t, distance=bad)
    with pytest.raises(ValueError, match="z"):
        distance_preservation_loss(torch.randn(4), pairs, t)
    with pytest.raises(ValueError, match="pairs"):
        distance_preservation_loss(z, torch.tensor([[0, 4], [1, 2]]), t)
    with pytest.raises(ValueError, match="pairs"):
        distance_preservation_loss(z, torch.tensor([0, 1]), t)
    with pytest.raises(ValueError, match="target"):
        distance_preservation_loss(z, pairs, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="target"):
        distance_preservation_loss(z, pairs, torch.tensor([1.0, -1.0]))
    with pytest.raises(TypeError, match="target"):
        distance_preservation_loss(z, pairs, torch.tensor([True, False]))
    with pytest.raises(ValueError, match="reduction"):
        distance_preservation_loss(z, pairs, t, reduction="avg")  # type: ignore[arg-type]
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="edge_index"):
        hop_distance_pairs(ei, 2, torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="sources"):
        hop_distance_pairs(ei, 3, torch.tensor([3]), 2)
    with pytest.raises(TypeError, match="sources"):
        hop_distance_pairs(ei, 3, torch.tensor([0.0]), 2)
    with pytest.raises(ValueError, match="max_hops"):
        hop_distance_pairs(ei, 3, torch.tensor([0]), 0)
    with pytest.raises(TypeError, match="num_nodes"):
        hop_distance_pairs(ei, 3.0, torch.tensor([0]), 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "module",
    ["contrastkit.functional.distance_preservation", "contrastkit.losses.distance_preservation"],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
