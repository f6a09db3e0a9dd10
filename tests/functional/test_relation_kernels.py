"""Fused relation scores and loss against contrastkit's distances, loops, float64 and info_nce."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contrastkit.functional.distances import PoincareDistance, get_distance
from contrastkit.functional.info_nce import info_nce
from contrastkit.functional.relation_kernels import relation_scores
from contrastkit.functional.relation_loss import relation_softmax_loss
from tests.conftest import tol

DISTANCES = ["poincare", "sqeuclidean", "dot"]


def ball_points(
    gen: torch.Generator, b: int, c: int, d: int, radius: float, spread: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchors at ``radius`` and candidates around them (angular ``spread``), float64
    values that are exactly representable in float32."""
    u = torch.randn(b, d, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=-1, keepdim=True)
    cand = u.unsqueeze(1) + spread * torch.randn(b, c, d, generator=gen, dtype=torch.float64)
    cand = cand / cand.norm(dim=-1, keepdim=True) * radius
    shrink = 1.0 - 0.5 * torch.rand(b, 1, generator=gen, dtype=torch.float64) * (radius < 0.9)
    return (u * radius * shrink).float().double(), cand.float().double()


def scores_and_grads(fn, u: torch.Tensor, c: torch.Tensor, g: torch.Tensor):  # type: ignore[no-untyped-def]
    u = u.detach().clone().requires_grad_()
    c = c.detach().clone().requires_grad_()
    s = fn(u, c)
    (s * g.to(s.dtype)).sum().backward()
    return s.detach().double(), u.grad.double(), c.grad.double()


def reference(name: str):  # type: ignore[no-untyped-def]
    return lambda u, c: get_distance(name).score_paired(u.unsqueeze(1), c)


def fused(name: str):  # type: ignore[no-untyped-def]
    return lambda u, c: relation_scores(u, c, name)


def errors(got, want) -> list[float]:  # type: ignore[no-untyped-def]
    """Scores: largest relative error per entry. Gradients: largest absolute error over
    the largest reference entry (a gradient row sums many terms that can cancel, so a
    per-row relative error would measure the cancellation, not the kernel)."""
    (s, gu, gc), (rs, rgu, rgc) = got, want
    out = [float(((s - rs).abs() / rs.abs().clamp_min(1e-30)).max())]
    for x, ref in ((gu, rgu), (gc, rgc)):
        out.append(float((x - ref).abs().max() / ref.abs().max().clamp_min(1e-30)))
    return out


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize("radius", [0.3, 0.9, 0.999, 0.9999])
def test_float64_matches_distance(name: str, radius: float, gen: torch.Generator) -> None:
    u, c = ball_points(gen, 16, 9, 5, radius, 0.1)
    c[:, 0] = u + 1e-4 * torch.randn(16, 5, generator=gen, dtype=torch.float64)  # close positives
    # keep them inside the ball (points outside are refused); past the rim is fine
    norm = c[:, 0].norm(dim=-1, keepdim=True)
    c[:, 0] = c[:, 0] / (norm / (1 - 1e-7)).clamp_min(1.0)
    g = torch.randn(16, 9, generator=gen, dtype=torch.float64)
    ours = scores_and_grads(fused(name), u, c, g)
    ref = scores_and_grads(reference(name), u, c, g)
    for mine, want in zip(ours, ref, strict=True):
        torch.testing.assert_close(mine, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize(
    ("radius", "spread"), [(0.3, 1.0), (0.9, 0.3), (0.99, 0.03), (0.999, 0.3), (0.9999, 1.0)]
)
def test_float32_matches_float32_reference(
    name: str, radius: float, spread: float, gen: torch.Generator
) -> None:
    """Where contrastkit's float32 distance is itself accurate, ours agrees to ~1e-5."""
    u, c = ball_points(gen, 64, 11, 10, radius, spread)
    g = torch.randn(64, 11, generator=gen, dtype=torch.float64)
    ours = scores_and_grads(fused(name), u.float(), c.float(), g)
    ref = scores_and_grads(reference(name), u.float(), c.float(), g)
    truth = scores_and_grads(reference(name), u, c, g)
    # ~1e-5, or no worse than float32 contrastkit's own error near the boundary
    for mine, theirs in zip(errors(ours, ref), errors(ref, truth), strict=True):
        assert mine <= max(2e-5, 2 * theirs)


@pytest.mark.parametrize("name", ["poincare", "sqeuclidean"])
@pytest.mark.parametrize("radius", [0.5, 0.99, 0.9999])
def test_float32_close_pairs_accurate_against_float64(
    name: str, radius: float, gen: torch.Generator
) -> None:
    """Nearly coincident pairs take the difference form: ours stays within the float32
    error of the difference form (contrastkit's float32 Poincaré distance rounds
    ``1 + x`` and is worse there)."""
    u, c = ball_points(gen, 64, 11, 10, radius, 1e-3)
    g = torch.randn(64, 11, generator=gen, dtype=torch.float64)
    ours = scores_and_grads(fused(name), u.float(), c.float(), g)
    ref = scores_and_grads(reference(name), u.float(), c.float(), g)
    truth = scores_and_grads(reference(name), u, c, g)
    for mine, theirs in zip(errors(ours, truth), errors(ref, truth), strict=True):
        assert mine <= max(5e-5, 1.5 * theirs)


def test_brute_force_loop(gen: torch.Generator) -> None:
    u, c = ball_points(gen, 3, 4, 3, 0.7, 0.5)
    got = {name: relation_scores(u, c, name) for name in DISTANCES}
    for b in range(3):
        for j in range(4):
            x, y = u[b].tolist(), c[b, j].tolist()
            sq = sum((p - q) ** 2 for p, q in zip(x, y, strict=True))
            nx, ny = sum(p * p for p in x), sum(q * q for q in y)
            want = {
                "poincare": -math.acosh(1 + 2 * sq / ((1 - nx) * (1 - ny))),
                "sqeuclidean": -sq,
                "dot": sum(p * q for p, q in zip(x, y, strict=True)),
            }
            for name in DISTANCES:
                assert got[name][b, j].item() == pytest.approx(want[name], rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", DISTANCES)
def test_gradcheck(name: str, gen: torch.Generator) -> None:
    u, c = ball_points(gen, 3, 5, 4, 0.8, 0.4)
    c[:, 0] = u + 1e-3  # exercises the difference-form fix-up
    u.requires_grad_()
    c.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: relation_scores(a, b, name), (u, c))


def test_gradcheck_outside_ball_projects(gen: torch.Generator) -> None:
    u = torch.randn(3, 4, generator=gen, dtype=torch.float64) * 2.0
    c = (torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * 0.2).requires_grad_()
    with pytest.raises(ValueError, match="u lies outside the Poincaré ball"):
        relation_scores(u, c)
    # between the rim (1 - 1e-5) and the boundary: projected to the rim
    u = (u / u.norm(dim=-1, keepdim=True) * (1 - 1e-6)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: relation_scores(a, b), (u, c))
    g = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    ours = scores_and_grads(fused("poincare"), u, c, g)
    ref = scores_and_grads(reference("poincare"), u, c, g)
    for mine, want in zip(ours, ref, strict=True):
        torch.testing.assert_close(mine, want, rtol=1e-7, atol=1e-9)


def test_curvature_and_eps_from_distance_object(gen: torch.Generator) -> None:
    dist = PoincareDistance(curvature=2.0, eps=1e-3)
    u, c = ball_points(gen, 4, 6, 3, 0.6, 0.5)
    g = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    ours = scores_and_grads(lambda a, b: relation_scores(a, b, dist), u, c, g)
    ref = scores_and_grads(lambda a, b: dist.score_paired(a.unsqueeze(1), b), u, c, g)
    for mine, want in zip(ours, ref, strict=True):
        torch.testing.assert_close(mine, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", DISTANCES)
def test_feature_major_view(name: str, dtype: torch.dtype, gen: torch.Generator) -> None:
    """A permuted view of a ``[d, B, C]`` tensor gives the same result, and its gradient
    comes back in that layout."""
    u, c = ball_points(gen, 6, 7, 5, 0.8, 0.3)
    u, c = u.to(dtype), c.to(dtype)
    c_t = c.permute(2, 0, 1).contiguous().requires_grad_()
    view = c_t.permute(1, 2, 0)
    u1 = u.clone().requires_grad_()
    s = relation_scores(u1, view, name)
    s.sum().backward()
    u2, c2 = u.clone().requires_grad_(), c.clone().requires_grad_()
    s2 = relation_scores(u2, c2, name)
    s2.sum().backward()
    torch.testing.assert_close(s, s2, **tol(dtype))
    torch.testing.assert_close(u1.grad, u2.grad, **tol(dtype))
    assert c_t.grad is not None
    torch.testing.assert_close(c_t.grad.permute(1, 2, 0), c2.grad, **tol(dtype))


@pytest.mark.parametrize("name", DISTANCES)
def test_degenerate_inputs_finite(name: str, dtype: torch.dtype) -> None:
    u = torch.zeros(2, 3, dtype=dtype, requires_grad=True)
    c = torch.zeros(2, 4, 3, dtype=dtype)
    c[1, 1:] = 0.5
    c.requires_grad_()
    s = relation_scores(u, c, name)
    s.sum().backward()
    for t in (s, u.grad, c.grad):
        assert t is not None and bool(torch.isfinite(t).all())
    # coincident off-origin points: zero distance, finite gradient
    v = torch.full((1, 3), 0.3, dtype=dtype, requires_grad=True)
    cv = v.detach().unsqueeze(1).repeat(1, 2, 1).requires_grad_()
    relation_scores(v, cv, name).sum().backward()
    assert v.grad is not None and bool(torch.isfinite(v.grad).all())


def test_empty_batch() -> None:
    u = torch.zeros(0, 3, requires_grad=True)
    c = torch.zeros(0, 5, 3, requires_grad=True)
    assert relation_scores(u, c).shape == (0, 5)
    loss = relation_softmax_loss(u, c)
    loss.backward()
    assert loss.item() == 0.0 and loss.requires_grad


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("masked", [False, True])
def test_loss_agrees_with_info_nce(
    name: str, reduction: str, masked: bool, dtype: torch.dtype, gen: torch.Generator
) -> None:
    u, c = ball_points(gen, 8, 6, 4, 0.7, 0.6)
    u, c = u.to(dtype), c.to(dtype)
    mask = torch.rand(8, 5, generator=gen) < 0.6 if masked else None
    if mask is not None:
        mask[0] = False  # a row with every negative masked: loss 0
    weight = torch.rand(8, generator=gen, dtype=dtype)
    grads = []
    for fn in ("ours", "info_nce"):
        a, b = u.clone().requires_grad_(), c.clone().requires_grad_()
        if fn == "ours":
            loss = relation_softmax_loss(a, b, mask, 0.5, name, reduction=reduction, weight=weight)
        else:
            loss = info_nce(
                a,
                b[:, 0],
                b[:, 1:],
                negative_mask=mask,
                temperature=0.5,
                distance=name,
                reduction=reduction,
                weight=weight,
            )
        loss.sum().backward()
        grads.append((loss.detach(), a.grad, b.grad))
    for mine, want in zip(*grads, strict=True):
        torch.testing.assert_close(mine, want, **tol(dtype))
    if masked and reduction == "none":
        assert grads[0][0][0].item() == 0.0


def test_loss_learnable_temperature(gen: torch.Generator) -> None:
    u, c = ball_points(gen, 5, 4, 3, 0.5, 0.5)
    t1 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    t2 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    relation_softmax_loss(u, c, temperature=t1).backward()
    info_nce(u, c[:, 0], c[:, 1:], temperature=t2, distance="poincare").backward()
    assert t1.grad is not None and t2.grad is not None
    torch.testing.assert_close(t1.grad, t2.grad)


@settings(max_examples=25, deadline=None)
@given(
    radius=st.floats(0.0, 0.999),
    spread=st.floats(1e-4, 2.0),
    seed=st.integers(0, 2**31 - 1),
)
# near the rim with a tiny spread the fused form is ~6 % above the distance's own
# float32 error (3.43e-5 vs 3.23e-5; found by hypothesis, same before this change)
@example(radius=0.999, spread=0.0001, seed=0)
def test_property_float32_error_bounded(radius: float, spread: float, seed: int) -> None:
    """Any configuration: ours in float32 is within float32 reach of the float64 truth."""
    gen = torch.Generator().manual_seed(seed)
    u, c = ball_points(gen, 8, 6, 5, radius, spread)
    ours = relation_scores(u.float(), c.float()).double()
    truth = relation_scores(u, c)
    ref32 = get_distance("poincare").score_paired(u.float().unsqueeze(1), c.float()).double()
    err = ((ours - truth).abs() / truth.abs().clamp_min(1e-30)).max().item()
    err_ref = ((ref32 - truth).abs() / truth.abs().clamp_min(1e-30)).max().item()
    assert err <= max(2e-5, 1.1 * err_ref)


def test_bad_inputs() -> None:
    u, c = torch.zeros(2, 3), torch.zeros(2, 4, 3)
    with pytest.raises(ValueError, match="u"):
        relation_scores(torch.zeros(2, 3, 1), c)
    with pytest.raises(ValueError, match="c"):
        relation_scores(u, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="c must have shape"):
        relation_scores(u, torch.zeros(3, 4, 3))
    with pytest.raises(ValueError, match="c must have shape"):
        relation_scores(u, torch.zeros(2, 4, 5))
    with pytest.raises(TypeError, match="c has dtype"):
        relation_scores(u, c.double())
    with pytest.raises(TypeError, match="u"):
        relation_scores(torch.zeros(2, 3, dtype=torch.long), c)
    with pytest.raises(ValueError, match="distance"):
        relation_scores(u, c, "cosine")
    with pytest.raises(ValueError, match="distance"):
        relation_scores(u, c, get_distance("euclidean"))
    with pytest.raises(ValueError, match="eps"):
        relation_scores(u, c, PoincareDistance(eps=1.0))
    with pytest.raises(ValueError, match="mask"):
        relation_softmax_loss(u, c, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        relation_softmax_loss(u, c, torch.ones(2, 3))
    with pytest.raises(ValueError, match="C >= 1"):
        relation_softmax_loss(u, torch.zeros(2, 0, 3))
    with pytest.raises(ValueError, match="temperature"):
        relation_softmax_loss(u, c, temperature=0.0)
    with pytest.raises(ValueError, match="reduction"):
        relation_softmax_loss(u, c, reduction="avg")
