"""Shared-negative relation softmax: equal to the per-relation kernel on written-out
negatives (values and gradients, float64), with and without each anchor's own
negatives beside the shared ones, gradcheck, masks, short groups, bad input."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.functional.shared_relation_loss import shared_relation_softmax_loss

DISTANCES = ["poincare", "sqeuclidean", "dot"]


def _inputs(b: int, g: int, k: int, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    u = (torch.rand(b, d, generator=gen, dtype=torch.float64) - 0.5) * 0.8
    p = (torch.rand(b, d, generator=gen, dtype=torch.float64) - 0.5) * 0.8
    n = (torch.rand(g, k, d, generator=gen, dtype=torch.float64) - 0.5) * 0.8
    mask = torch.rand(b, k, generator=gen) > 0.3
    return u, p, n, mask


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize(("b", "g"), [(12, 3), (10, 3), (5, 5)])  # even, short last, m = 1
def test_equals_the_per_relation_loss_on_written_out_negatives(
    distance: str, b: int, g: int
) -> None:
    u, p, n, mask = _inputs(b, g, 6)
    m = -(-b // g)
    leaves = [t.clone().requires_grad_() for t in (u, p, n)]
    got = shared_relation_softmax_loss(*leaves, mask, 0.7, distance)
    got.backward()
    ref_leaves = [t.clone().requires_grad_() for t in (u, p, n)]
    ru, rp, rn = ref_leaves
    cand = torch.cat([rp.unsqueeze(1), rn.repeat_interleave(m, dim=0)[:b]], dim=1)
    want = relation_softmax_loss(ru, cand, mask, 0.7, distance)
    want.backward()
    torch.testing.assert_close(got, want)
    for ours, ref in zip(leaves, ref_leaves, strict=True):
        assert ours.grad is not None and ref.grad is not None
        torch.testing.assert_close(ours.grad, ref.grad)


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize(("b", "g"), [(12, 3), (10, 3)])
def test_own_negatives_equal_the_per_relation_loss_after_the_shared_ones(
    distance: str, b: int, g: int
) -> None:
    u, p, n, mask = _inputs(b, g, 5)
    gen = torch.Generator().manual_seed(3)
    h = (torch.rand(b, 2, u.shape[1], generator=gen, dtype=torch.float64) - 0.5) * 0.8
    own_mask = torch.rand(b, 2, generator=gen) > 0.3
    own_mask[0] = False  # an anchor whose own negatives are all dropped
    m = -(-b // g)
    leaves = [t.clone().requires_grad_() for t in (u, p, n, h)]
    lu, lp, ln, lh = leaves
    got = shared_relation_softmax_loss(lu, lp, ln, mask, 0.7, distance, lh, own_mask)
    got.backward()
    ref = [t.clone().requires_grad_() for t in (u, p, n, h)]
    ru, rp, rn, rh = ref
    cand = torch.cat([rp.unsqueeze(1), rn.repeat_interleave(m, dim=0)[:b], rh], dim=1)
    want = relation_softmax_loss(ru, cand, torch.cat([mask, own_mask], 1), 0.7, distance)
    want.backward()
    torch.testing.assert_close(got, want)
    for ours, theirs in zip(leaves, ref, strict=True):
        assert ours.grad is not None and theirs.grad is not None
        torch.testing.assert_close(ours.grad, theirs.grad)
    assert lh.grad is not None and bool((lh.grad[~own_mask] == 0).all())


def test_gradcheck_with_own_negatives() -> None:
    u, p, n, mask = _inputs(7, 3, 4, d=3, seed=1)
    h = torch.rand(7, 2, 3, dtype=torch.float64) * 0.4 - 0.2
    own_mask = torch.tensor([[True, False]] * 7)
    args = [t.requires_grad_() for t in (u, p, n, h)]

    def loss(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return shared_relation_softmax_loss(a, b, c, mask, 0.5, "poincare", e, own_mask)

    assert torch.autograd.gradcheck(loss, args)


def test_own_negatives_must_fit_the_anchors() -> None:
    u, p, n, _ = _inputs(6, 2, 3)
    with pytest.raises(ValueError, match="own_negatives must be"):
        shared_relation_softmax_loss(u, p, n, own_negatives=torch.zeros(5, 2, 4, dtype=u.dtype))
    with pytest.raises(ValueError, match="own_mask must have shape"):
        shared_relation_softmax_loss(
            u,
            p,
            n,
            own_negatives=torch.zeros(6, 2, 4, dtype=u.dtype),
            own_mask=torch.ones(6, 3, dtype=torch.bool),
        )
    with pytest.raises(ValueError, match="own_mask was given without"):
        shared_relation_softmax_loss(u, p, n, own_mask=torch.ones(6, 2, dtype=torch.bool))


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradcheck(distance: str) -> None:
    u, p, n, mask = _inputs(7, 3, 4, d=3, seed=1)
    args = [t.requires_grad_() for t in (u, p, n)]

    def loss(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return shared_relation_softmax_loss(a, b, c, mask, 0.5, distance)

    assert torch.autograd.gradcheck(loss, args)


def test_a_row_without_negatives_has_zero_loss_and_a_second_backward_agrees() -> None:
    u, p, n, mask = _inputs(4, 2, 3)
    mask[:] = False
    u.requires_grad_()
    loss = shared_relation_softmax_loss(u, p, n, mask)
    assert float(loss.detach()) == 0.0
    u, p, n, mask = _inputs(4, 2, 3)
    u.requires_grad_()
    loss = shared_relation_softmax_loss(u, p, n, mask)
    (first,) = torch.autograd.grad(loss, u, retain_graph=True)
    (second,) = torch.autograd.grad(loss, u)
    torch.testing.assert_close(first, second)


def test_float32_agrees_with_float64() -> None:
    u, p, n, mask = _inputs(64, 8, 20, d=10, seed=3)
    want = shared_relation_softmax_loss(u, p, n, mask)
    got = shared_relation_softmax_loss(u.float(), p.float(), n.float(), mask)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)


def test_close_pairs_near_the_boundary_keep_float32_accuracy() -> None:
    # leaves 1e-4 inside the unit sphere, each group's negatives their near siblings:
    # ||u - n||^2 ~ 1e-8 against ||u||^2 + ||n||^2 ~ 2, where the expanded form's float32
    # rounding alone is ~2e-7 (a distance error of several units); the loss must still
    # match float64 to float32's accuracy for the difference form
    gen = torch.Generator().manual_seed(3)
    b, g, k, d = 12, 3, 5, 6
    centre = torch.nn.functional.normalize(
        torch.randn(g, 1, d, generator=gen, dtype=torch.float64), dim=-1
    )

    def near(shape: tuple[int, ...]) -> torch.Tensor:
        x = centre + 1e-4 * torch.randn(*shape, d, generator=gen, dtype=torch.float64)
        return torch.nn.functional.normalize(x, dim=-1) * (1 - 1e-4)

    u = near((g, b // g)).reshape(b, d)
    p = near((g, b // g)).reshape(b, d)
    n = near((g, k))
    want = shared_relation_softmax_loss(u, p, n, None, 1.0, "poincare")
    # the float32 inputs are rounded copies: compare against float64 on the same points
    u32, p32, n32 = (t.float() for t in (u, p, n))
    exact = shared_relation_softmax_loss(u32.double(), p32.double(), n32.double())
    got = shared_relation_softmax_loss(u32, p32, n32, None, 1.0, "poincare")
    assert abs(float(got) - float(exact)) < 1e-2 * max(1.0, abs(float(exact)))
    assert abs(float(exact) - float(want)) < 1.0  # the rounding of the inputs themselves


def test_bad_arguments_are_named() -> None:
    u, p, n, mask = _inputs(6, 2, 3)
    with pytest.raises(ValueError, match="n must be"):
        shared_relation_softmax_loss(u, p, n.repeat(4, 1, 1))  # 8 groups of 1 leave 2 empty
    with pytest.raises(ValueError, match="mask"):
        shared_relation_softmax_loss(u, p, n, mask[:, :2])
    with pytest.raises(ValueError, match="p must"):
        shared_relation_softmax_loss(u, p[:3], n)
    with pytest.raises(ValueError, match="temperature"):
        shared_relation_softmax_loss(u, p, n, temperature=0.0)


def test_a_negative_on_its_anchor_gets_no_gradient_through_the_distance() -> None:
    # x - 1 = 0 (the floor): arcosh's derivative is cut there, as in relation_kernels
    u, p, n, _ = _inputs(4, 2, 3)
    n[0, 1] = u[1]
    leaves = [t.clone().requires_grad_() for t in (u, p, n)]
    shared_relation_softmax_loss(*leaves).backward()
    ref_leaves = [t.clone().requires_grad_() for t in (u, p, n)]
    ru, rp, rn = ref_leaves
    relation_softmax_loss(
        ru, torch.cat([rp.unsqueeze(1), rn.repeat_interleave(2, dim=0)], dim=1)
    ).backward()
    for ours, ref in zip(leaves, ref_leaves, strict=True):
        assert ours.grad is not None and ref.grad is not None
        assert torch.isfinite(ours.grad).all()
        torch.testing.assert_close(ours.grad, ref.grad)
