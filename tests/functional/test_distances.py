"""The distance abstraction: brute force, closed forms, geoopt, gradients, edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.functional.distances import (
    DISTANCE_NAMES,
    CosineSimilarity,
    Distance,
    DotProduct,
    L2Distance,
    PoincareDistance,
    SquaredL2Distance,
    arcosh,
    get_distance,
    project_to_ball,
)
from tests.conftest import tol

NAMES = ["cosine", "dot", "sqeuclidean", "euclidean", "poincare"]


def ref_value(name: str, x: list[float], y: list[float], c: float = 1.0) -> float:
    dot = sum(a * b for a, b in zip(x, y, strict=True))
    nx2, ny2 = sum(a * a for a in x), sum(b * b for b in y)
    sq = sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
    if name == "cosine":
        return dot / (max(math.sqrt(nx2), 1e-8) * max(math.sqrt(ny2), 1e-8))
    if name == "dot":
        return dot
    if name == "sqeuclidean":
        return sq
    if name == "euclidean":
        return math.sqrt(sq)
    if name == "poincare":
        return math.acosh(1 + 2 * c * sq / ((1 - c * nx2) * (1 - c * ny2))) / math.sqrt(c)
    raise AssertionError(name)


def _points(
    gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, ball: bool = True
) -> torch.Tensor:
    x = torch.randn(*shape, generator=gen, dtype=dtype)
    return x * (0.25 / math.sqrt(shape[-1])) if ball else x


@pytest.mark.parametrize("name", NAMES)
def test_pairwise_and_paired_match_brute_force(
    name: str, dtype: torch.dtype, gen: torch.Generator
) -> None:
    dist = get_distance(name)
    x, y = _points(gen, 4, 3, dtype=dtype), _points(gen, 5, 3, dtype=dtype)
    pw = dist.pairwise(x, y)
    assert pw.shape == (4, 5) and pw.dtype == dtype
    want = torch.tensor(
        [[ref_value(name, x[i].tolist(), y[j].tolist()) for j in range(5)] for i in range(4)],
        dtype=dtype,
    )
    torch.testing.assert_close(
        pw, want, **(tol(dtype) if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4})
    )
    torch.testing.assert_close(dist.paired(x, y[:4]), torch.diagonal(pw[:, :4]), **tol(dtype))
    # broadcasting: [B, 1, d] against [B, K, d]
    z = _points(gen, 4, 2, 3, dtype=dtype)
    br = dist.paired(x.unsqueeze(1), z)
    assert br.shape == (4, 2)
    torch.testing.assert_close(br[2, 1], dist.paired(x[2], z[2, 1]), **tol(dtype))
    sign = 1.0 if dist.higher_is_closer else -1.0
    torch.testing.assert_close(dist.score_pairwise(x, y), sign * pw)
    torch.testing.assert_close(dist.score_paired(x, y[:4]), sign * dist.paired(x, y[:4]))


def test_direction_flags_and_inner_products(gen: torch.Generator) -> None:
    assert CosineSimilarity.higher_is_closer and DotProduct.higher_is_closer
    assert not any(c.higher_is_closer for c in (SquaredL2Distance, L2Distance, PoincareDistance))
    x, y = _points(gen, 3, 4), _points(gen, 6, 4)
    for name in NAMES:
        dist = get_distance(name)
        v = torch.tensor([0.5, -2.0])
        torch.testing.assert_close(dist.to_score(v), v if dist.higher_is_closer else -v)
        if dist.is_inner_product:
            torch.testing.assert_close(dist.pairwise(x, y), dist.prepare(x) @ dist.prepare(y).T)
        else:
            assert dist.prepare(x) is x


def test_poincare_closed_form_curvature_and_projection(gen: torch.Generator) -> None:
    x, y = _points(gen, 5, 3), _points(gen, 5, 3)
    for c in (0.5, 1.0, 3.0):
        dist = PoincareDistance(curvature=c)
        want = [ref_value("poincare", x[i].tolist(), y[i].tolist(), c) for i in range(5)]
        torch.testing.assert_close(dist.paired(x, y), torch.tensor(want, dtype=torch.float64))
    # a point outside the ball is refused; one between the rim and the boundary is
    # measured from its projection to the rim
    out = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    o = torch.zeros(1, 2, dtype=torch.float64)
    d = PoincareDistance()
    with pytest.raises(ValueError, match="outside the Poincaré ball"):
        d.paired(out, o)
    near = out / 5.0 * (1 - 1e-7)
    inner = project_to_ball(near)
    assert inner.norm().item() == pytest.approx(1 - 1e-5)
    torch.testing.assert_close(d.paired(near, o), d.paired(inner, o))
    assert torch.isfinite(d.pairwise(near, near)).all()
    # symmetric, zero on the diagonal (up to the arcosh floor), triangle inequality
    pw = d.pairwise(x, x)
    torch.testing.assert_close(pw, pw.T)
    assert pw.diagonal().abs().max().item() < 1e-5
    assert (pw[0, 1] <= pw[0, 2] + pw[2, 1] + 1e-12).item()


@pytest.mark.peers
def test_poincare_matches_geoopt(gen: torch.Generator) -> None:
    geoopt = pytest.importorskip("geoopt")
    # spread out, up to radius 0.95 (geoopt does not project points outside the ball)
    x, y = (
        p / (p.norm(dim=1, keepdim=True) / 0.95).clamp_min(1.0)
        for p in (_points(gen, 6, 4) * 4, _points(gen, 6, 4) * 4)
    )
    for c in (1.0, 2.0):
        ball = geoopt.PoincareBall(c=c)
        xs, ys = x / math.sqrt(c), y / math.sqrt(c)
        # geoopt goes through Möbius addition and artanh with its own clamps; near the
        # boundary it drifts ~1e-6 from the closed form, so compare at the peer tolerance
        close = {"atol": 1e-5, "rtol": 1e-5}
        torch.testing.assert_close(
            PoincareDistance(curvature=c).paired(xs, ys), ball.dist(xs, ys), **close
        )
        want = ball.dist(xs.unsqueeze(1), ys.unsqueeze(0))
        torch.testing.assert_close(PoincareDistance(curvature=c).pairwise(xs, ys), want, **close)


def test_arcosh() -> None:
    v = torch.tensor([1.0, 1.5, 10.0, 1e6], dtype=torch.float64)
    torch.testing.assert_close(
        arcosh(v),
        torch.tensor([math.acosh(t) for t in v.tolist()], dtype=torch.float64),
        atol=1e-5,
        rtol=1e-12,
    )
    one = torch.ones(1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(arcosh(one).sum(), one)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name: str, gen: torch.Generator) -> None:
    dist = get_distance(name)
    x, y = _points(gen, 3, 4).requires_grad_(), _points(gen, 2, 4).requires_grad_()
    assert torch.autograd.gradcheck(dist.pairwise, (x, y))
    assert torch.autograd.gradcheck(dist.paired, (x[:2], y))
    # near-coincident points stay differentiable (no sqrt/arcosh blow-up)
    near = (x.detach()[:2] + 1e-3 * _points(gen, 2, 4)).requires_grad_()
    assert torch.autograd.gradcheck(dist.paired, (x[:2], near))
    assert torch.autograd.gradcheck(dist.pairwise, (x[:2], near))


@pytest.mark.parametrize("name", NAMES)
def test_coincident_and_zero_vectors_have_finite_gradients(
    name: str, dtype: torch.dtype, gen: torch.Generator
) -> None:
    dist = get_distance(name)
    x = _points(gen, 3, 4, dtype=dtype).requires_grad_()
    for value in (dist.pairwise(x, x), dist.paired(x, x)):
        (g,) = torch.autograd.grad(value.sum(), x)
        assert torch.isfinite(value).all() and torch.isfinite(g).all()
    z = torch.zeros(2, 4, dtype=dtype, requires_grad=True)
    value = dist.pairwise(z, x.detach())
    (g,) = torch.autograd.grad(value.sum(), z)
    assert torch.isfinite(value).all() and torch.isfinite(g).all()
    if name == "cosine":
        assert value.abs().max().item() == 0.0


def test_get_distance_and_errors(gen: torch.Generator) -> None:
    for name in DISTANCE_NAMES:
        assert isinstance(get_distance(name), Distance)
    assert isinstance(get_distance("l2"), L2Distance) and isinstance(
        get_distance("squared_l2"), SquaredL2Distance
    )
    inst = PoincareDistance(curvature=2.0)
    assert get_distance(inst) is inst and "curvature=2.0" in repr(inst)
    assert isinstance(get_distance(), CosineSimilarity)
    with pytest.raises(ValueError, match="distance"):
        get_distance("manhattan")
    with pytest.raises(ValueError, match="distance"):
        get_distance(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="curvature"):
        PoincareDistance(curvature=0.0)
    with pytest.raises(ValueError, match="eps"):
        PoincareDistance(eps=-1.0)
    d = get_distance("cosine")
    x = _points(gen, 3, 4)
    with pytest.raises(ValueError, match="x"):
        d.pairwise(x[0], x)
    with pytest.raises(ValueError, match="y"):
        d.pairwise(x, x[:, :3])
    with pytest.raises(TypeError, match="x"):
        d.paired(x.long(), x)
    with pytest.raises(TypeError, match="y"):
        d.pairwise(x, [[1.0]])  # type: ignore[arg-type]
