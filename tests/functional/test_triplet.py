"""Explicit-triplet margin loss: brute-force loops, the GATE notebook formula, gradcheck,
degenerate and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastkit.functional.triplet import triplet_hinge, triplet_margin_loss
from tests.conftest import tol

DISTANCES = ["cosine", "sqeuclidean", "euclidean", "dot"]
D = torch.float64


def ref_score(name: str, u: torch.Tensor, v: torch.Tensor) -> float:
    """Score (larger = closer) of two vectors, written out independently of the library."""
    u, v = u.double(), v.double()
    if name == "cosine":
        return float(u @ v / (max(float(u.norm()), 1e-8) * max(float(v.norm()), 1e-8)))
    if name == "dot":
        return float(u @ v)
    sq = float(((u - v) ** 2).sum())
    return -sq if name == "sqeuclidean" else -math.sqrt(max(sq, 1e-12))


def ref_hinge(sp: float, sn: float, m: float, adaptive: bool, penalty: bool) -> float:
    mm = m * max(0.0, 1.0 - sp) if adaptive else m
    loss = max(0.0, mm + sn - sp)
    if penalty:
        loss += 0.1 * max(0.0, sn - 0.8)
    return loss


def ref_explicit(a, p, n, mask, m, dist, adaptive, penalty, agg, reduction, weight):
    per_anchor, valid = [], []
    for b in range(a.shape[0]):
        sp = ref_score(dist, a[b], p[b])
        vals = [
            ref_hinge(sp, ref_score(dist, a[b], n[b, k]), m, adaptive, penalty)
            for k in range(n.shape[1])
            if mask is None or bool(mask[b, k])
        ]
        valid.append(bool(vals))
        if not vals:
            per_anchor.append(0.0)
        elif agg == "mean":
            per_anchor.append(sum(vals) / len(vals))
        elif agg == "max":
            per_anchor.append(max(vals))
        else:
            per_anchor.append(sum(vals))
    w = [1.0] * len(per_anchor) if weight is None else weight.tolist()
    w = [wi if v else 0.0 for wi, v in zip(w, valid, strict=True)]
    if reduction == "none":
        return torch.tensor([wi * li for wi, li in zip(w, per_anchor, strict=True)], dtype=D)
    total = sum(wi * li for wi, li in zip(w, per_anchor, strict=True))
    if reduction == "sum":
        return torch.tensor(total, dtype=D)
    return torch.tensor(total / sum(w) if sum(w) > 0 else 0.0, dtype=D)


@pytest.mark.parametrize("dist", DISTANCES)
@pytest.mark.parametrize("agg", ["mean", "max", "sum"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_explicit_matches_brute_force(dist, agg, reduction, dtype, gen):
    a = torch.randn(5, 4, generator=gen, dtype=dtype)
    p = a + 0.5 * torch.randn(5, 4, generator=gen, dtype=dtype)
    n = torch.randn(5, 3, 4, generator=gen, dtype=dtype)
    mask = torch.rand(5, 3, generator=gen) > 0.3
    mask[0] = False  # one anchor with no negative at all
    weight = torch.rand(5, generator=gen, dtype=dtype)
    for adaptive, penalty in [(False, False), (True, True)]:
        got = triplet_margin_loss(
            a,
            p,
            n,
            negative_mask=mask,
            margin=0.3,
            distance=dist,
            adaptive_margin=adaptive,
            hard_negative_penalty=penalty,
            negative_reduction=agg,
            reduction=reduction,
            weight=weight,
        )
        want = ref_explicit(a, p, n, mask, 0.3, dist, adaptive, penalty, agg, reduction, weight)
        torch.testing.assert_close(got.double(), want.double(), **tol(dtype))


def test_squared_l2_and_cosine_forms(gen):
    a, p, n = (torch.randn(6, 5, generator=gen) for _ in range(3))
    d_ap, d_an = ((a - p) ** 2).sum(1), ((a - n) ** 2).sum(1)
    want = (d_ap - d_an + 1.0).clamp_min(0).mean()
    got = triplet_margin_loss(a, p, n, margin=1.0, distance="sqeuclidean")
    torch.testing.assert_close(got, want)
    cos_ap, cos_an = F.cosine_similarity(a, p), F.cosine_similarity(a, n)
    want = (0.5 + cos_an - cos_ap).clamp_min(0).mean()
    torch.testing.assert_close(triplet_margin_loss(a, p, n), want)


def test_gate_notebook_formula(gen):
    """Replicates ``triplet_loss_with_hard_negatives`` of the GATE notebook (seed 004)."""
    a = torch.randn(8, 6, generator=gen, requires_grad=True)
    p = (a.detach() + 0.3 * torch.randn(8, 6, generator=gen)).requires_grad_()
    n = (0.3 * a.detach() + 0.7 * torch.randn(8, 6, generator=gen)).requires_grad_()
    pos_sim, neg_sim = F.cosine_similarity(a, p, dim=1), F.cosine_similarity(a, n, dim=1)
    margin = 0.5 * (1.0 - pos_sim.detach())
    base = torch.clamp(margin + neg_sim - pos_sim, min=0.0)
    want = (base + torch.clamp(neg_sim - 0.8, min=0.0) * 0.1).mean()
    got = triplet_margin_loss(a, p, n, adaptive_margin=True, hard_negative_penalty=True)
    torch.testing.assert_close(got, want)
    g_want = torch.autograd.grad(want, (a, p, n))
    g_got = torch.autograd.grad(got, (a, p, n))
    for x, y in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(x, y)


def test_two_dim_negative_is_one_negative(gen):
    a, p, n = (torch.randn(4, 3, generator=gen) for _ in range(3))
    one = triplet_margin_loss(a, p, n, reduction="none")
    many = triplet_margin_loss(a, p, n.unsqueeze(1), reduction="none")
    torch.testing.assert_close(one, many)


@pytest.mark.parametrize("dist", [*DISTANCES, "poincare"])
def test_gradcheck(dist, gen):
    a = (0.3 * torch.randn(3, 4, generator=gen, dtype=torch.float64)).requires_grad_()
    p = (0.3 * torch.randn(3, 4, generator=gen, dtype=torch.float64)).requires_grad_()
    n = (0.3 * torch.randn(3, 2, 4, generator=gen, dtype=torch.float64)).requires_grad_()
    mask = torch.tensor([[True, False], [True, True], [False, True]])

    def fn(a, p, n, adaptive=False):
        return triplet_margin_loss(
            a,
            p,
            n,
            negative_mask=mask,
            margin=2.0,
            distance=dist,
            adaptive_margin=adaptive,
            hard_negative_penalty=True,
            penalty_threshold=-1.0,
            negative_reduction="mean",
        )

    assert torch.autograd.gradcheck(fn, (a, p, n))
    # the adaptive margin is a stop-gradient of s(a, p): finite differences only agree
    # with autograd when a and p are held fixed
    a0, p0 = a.detach(), p.detach()
    assert torch.autograd.gradcheck(lambda n: fn(a0, p0, n, adaptive=True), (n,))


def test_hinge_broadcasts():
    out = triplet_hinge(torch.tensor([[0.9], [0.1]]), torch.tensor([[0.0, 0.5]]), 0.2)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0], [0.1, 0.6]]))


def test_zero_vectors_and_single_anchor():
    z = torch.zeros(1, 4, requires_grad=True)
    for dist in ["cosine", "euclidean", "sqeuclidean"]:
        loss = triplet_margin_loss(z, z, z.unsqueeze(1), distance=dist, margin=0.5)
        assert torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(z.grad).all()
        z.grad = None


def test_all_negatives_masked_gives_attached_zero():
    a = torch.randn(3, 2, requires_grad=True)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    loss = triplet_margin_loss(a, a, torch.randn(3, 4, 2), negative_mask=mask)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(a.grad, torch.zeros_like(a))
    none = triplet_margin_loss(a, a, torch.randn(3, 4, 2), negative_mask=mask, reduction="none")
    assert torch.equal(none, torch.zeros(3))


def test_max_with_zero_negatives_and_empty_batch():
    a = torch.randn(2, 3)
    assert triplet_margin_loss(a, a, torch.zeros(2, 0, 3), negative_reduction="max") == 0
    e = torch.zeros(0, 3, requires_grad=True)
    loss = triplet_margin_loss(e, e, e)
    assert loss.item() == 0.0 and loss.requires_grad


def test_bad_inputs():
    a = torch.randn(3, 4)
    with pytest.raises(ValueError, match="margin"):
        triplet_margin_loss(a, a, a, margin=-0.1)
    with pytest.raises(ValueError, match="anchor"):
        triplet_margin_loss(a.unsqueeze(0), a, a)
    with pytest.raises(ValueError, match="positive"):
        triplet_margin_loss(a, a[:2], a)
    with pytest.raises(ValueError, match="negative"):
        triplet_margin_loss(a, a, torch.randn(3, 2, 5))
    with pytest.raises(ValueError, match="negative"):
        triplet_margin_loss(a, a, torch.randn(2, 2, 4))
    with pytest.raises(ValueError, match="negative_mask"):
        triplet_margin_loss(a, a, torch.randn(3, 2, 4), negative_mask=torch.ones(3, 3).bool())
    with pytest.raises(TypeError, match="negative_mask"):
        triplet_margin_loss(a, a, torch.randn(3, 2, 4), negative_mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match="negative_reduction"):
        triplet_margin_loss(a, a, a, negative_reduction="min")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        triplet_margin_loss(a, a, a, reduction="avg")
    with pytest.raises(ValueError, match="weight"):
        triplet_margin_loss(a, a, a, weight=torch.ones(2))
    with pytest.raises(ValueError, match="penalty_weight"):
        triplet_margin_loss(a, a, a, penalty_weight=-1.0)
    with pytest.raises(ValueError, match="distance"):
        triplet_margin_loss(a, a, a, distance="manhattan")
