"""Exact Poincaré top-k through the order-equivalent inner product: the same
neighbours and scores as brute force over the distance itself, near the rim too,
with exclusions, short rows, other curvatures and float32 tables."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.distances import PoincareDistance
from contrastkit.graph.csr import to_csr
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.poincare_topk import poincare_topk
from contrastkit.mining.topk import exact_topk


def _ball(n: int, d: int, rim: float, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Points spread over the ball, a third of them within ``rim`` of its boundary."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    radius = torch.rand(n, 1, generator=gen, dtype=torch.float64) ** 0.5 * 0.99
    radius[: n // 3] = 1.0 - rim * torch.rand(n // 3, 1, generator=gen, dtype=torch.float64)
    return (x / x.norm(dim=1, keepdim=True) * radius).to(dtype)


def _brute(q_ids, x, k, dist, banned):  # type: ignore[no-untyped-def]
    s = dist.score_pairwise(x[q_ids], x).clone()
    s[banned] = float("-inf")
    top = s.topk(k, dim=1)
    return top.values, top.indices


@pytest.mark.parametrize(
    ("dtype", "rim", "eps", "curvature"),
    [
        (torch.float64, 1e-7, 1e-8, 1.0),  # a float64 table at its rim (the noun recipe)
        (torch.float64, 1e-3, 1e-5, 2.0),
        (torch.float32, 1e-4, 1e-5, 1.0),
    ],
)
def test_equals_brute_force_with_exclusions(
    dtype: torch.dtype, rim: float, eps: float, curvature: float
) -> None:
    n, k = 400, 7
    x = _ball(n, 5, rim, dtype, seed=0) / curvature**0.5
    dist = PoincareDistance(curvature=curvature, eps=eps)
    gen = torch.Generator().manual_seed(1)
    edges = torch.randint(0, n, (2, 3000), generator=gen)
    csr = to_csr(edges, num_nodes=n)
    q_ids = torch.arange(0, n, 3)
    excl = build_exclusions(q_ids.numel(), n, query_ids=q_ids, edges=csr)
    banned = torch.zeros(q_ids.numel(), n, dtype=torch.bool)
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[edges[0], edges[1]] = True
    banned |= dense[q_ids]
    banned[torch.arange(q_ids.numel()), q_ids] = True  # a query's own id is excluded too
    want_s, want_i = _brute(q_ids, x, k, dist, banned)
    got_s, got_i = poincare_topk(x[q_ids], x, k, dist, exclusions=excl, memory_budget=2**16)
    assert torch.equal(got_i, want_i)
    torch.testing.assert_close(got_s, want_s)
    # exact_topk takes this path for a Poincaré distance over a tensor pool
    via_s, via_i = exact_topk(x[q_ids], x, k, distance=dist, exclusions=excl)
    assert torch.equal(via_i, want_i)
    torch.testing.assert_close(via_s, want_s)


def test_rows_short_of_candidates_hold_minus_inf_and_minus_one() -> None:
    x = _ball(6, 3, 1e-3, torch.float64, seed=2)
    dist = PoincareDistance()
    edges = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 4]])
    excl = build_exclusions(1, 6, query_ids=torch.tensor([0]), edges=to_csr(edges, num_nodes=6))
    scores, idx = poincare_topk(x[:1], x, 3, dist, exclusions=excl)
    assert idx.tolist() == [[5, -1, -1]]
    assert torch.isfinite(scores[0, 0]) and bool((scores[0, 1:] == float("-inf")).all())


def test_points_outside_the_ball_are_projected_as_the_distance_does() -> None:
    x = _ball(50, 4, 1e-3, torch.float64, seed=3)
    x = x / (x.norm(dim=1, keepdim=True) / (1 - 1e-6)).clamp_max(1.0)  # some beyond the rim
    dist = PoincareDistance(eps=1e-5)
    want_s, want_i = dist.score_pairwise(x[:5], x[5:]).topk(4, dim=1)
    got_s, got_i = poincare_topk(x[:5], x[5:], 4, dist)
    assert torch.equal(got_i, want_i)
    torch.testing.assert_close(got_s, want_s)
