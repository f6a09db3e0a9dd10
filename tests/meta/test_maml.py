"""MAML's meta-gradient: gradcheck in float64 (second order), first order against a
by-hand computation, and the exact relation between them (the Hessian terms)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from contrastkit.meta.maml import adapt, episode_losses
from contrastkit.meta.network import FewShotNet, episode_input

LR = 0.4


def _tiny() -> tuple[nn.Module, list[tuple[str, torch.Size]], Tensor, tuple[Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    shapes = [(n, p.shape) for n, p in net.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    xs, xq = torch.randn(6, 3, generator=g).double(), torch.randn(8, 3, generator=g).double()
    ys, yq = torch.tensor([0, 1] * 3), torch.tensor([0, 1] * 4)
    return net, shapes, flat, (xs, ys, xq, yq)


NET, SHAPES, FLAT0, DATA = _tiny()


def _unflatten(flat: Tensor, shapes: list[tuple[str, torch.Size]]) -> dict[str, Tensor]:
    sizes = [s.numel() for _, s in shapes]
    return {n: t.reshape(s) for (n, s), t in zip(shapes, flat.split(sizes), strict=True)}


def _meta_loss(flat: Tensor, steps: int, first_order: bool) -> Tensor:
    net, shapes, (xs, ys, xq, yq) = NET, SHAPES, DATA

    def support(p: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(functional_call(net, p, (xs,)), ys)

    fast = adapt(_unflatten(flat, shapes), support, steps=steps, lr=LR, first_order=first_order)
    return F.cross_entropy(functional_call(net, fast, (xq,)), yq)


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_meta_gradient_passes_gradcheck(steps: int) -> None:
    flat = FLAT0.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: _meta_loss(f, steps, False), (flat,))


def _support_loss_flat(flat: Tensor) -> Tensor:
    net, shapes, (xs, ys, _, _) = NET, SHAPES, DATA
    return F.cross_entropy(functional_call(net, _unflatten(flat, shapes), (xs,)), ys)


def _query_loss_flat(flat: Tensor) -> Tensor:
    net, shapes, (_, _, xq, yq) = NET, SHAPES, DATA
    return F.cross_entropy(functional_call(net, _unflatten(flat, shapes), (xq,)), yq)


def _by_hand(steps: int) -> tuple[Tensor, Tensor]:
    """``(first-order meta-gradient, full meta-gradient)`` from plain gradient steps and
    explicit Hessians: FO = grad L_q(theta_T); full = prod_t (I - a H_s(theta_t)) FO."""
    theta = FLAT0.clone()
    path = []
    for _ in range(steps):
        path.append(theta)
        g = torch.func.grad(_support_loss_flat)(theta)
        theta = theta - LR * g
    fo = torch.func.grad(_query_loss_flat)(theta)
    full = fo
    for point in reversed(path):
        h = torch.autograd.functional.hessian(_support_loss_flat, point)
        full = (torch.eye(h.shape[0], dtype=h.dtype) - LR * h) @ full
    return fo, full


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_first_order_is_the_full_gradient_without_the_hessian_terms(steps: int) -> None:
    fo_hand, full_hand = _by_hand(steps)
    flat = FLAT0.clone().requires_grad_(True)
    (fo,) = torch.autograd.grad(_meta_loss(flat, steps, True), flat)
    (full,) = torch.autograd.grad(_meta_loss(flat, steps, False), flat)
    torch.testing.assert_close(fo, fo_hand, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(full, full_hand, atol=1e-12, rtol=1e-10)
    # the Hessian terms are not negligible here: the two estimates differ
    assert float((full - fo).norm()) > 1e-3 * float(full.norm())


def test_zero_steps_is_the_query_loss_gradient() -> None:
    flat = FLAT0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(_meta_loss(flat, 0, False), flat)
    torch.testing.assert_close(g, torch.func.grad(_query_loss_flat)(FLAT0))


def test_second_order_through_a_pyg_gnn_matches_a_finite_difference() -> None:
    """Double backward through SAGEConv's scatter: the meta-gradient's directional
    derivative equals a central difference, and differs from first order."""
    torch.manual_seed(0)
    net = FewShotNet(5, 2, dim=4, hidden=6, layers=2, encoder="gnn").double()
    x = torch.randn(12, 5, dtype=torch.float64)
    ring = torch.stack([torch.arange(12), (torch.arange(12) + 1) % 12])
    edges = torch.cat([ring, ring.flip(0)], dim=1)
    inp = episode_input(x, edges, torch.tensor([0, 6, 3, 9]), hops=2)
    ys, yq = torch.tensor([0, 1]), torch.tensor([0, 1])
    base = {n: p.detach() for n, p in net.named_parameters()}
    direction = {n: torch.randn_like(p) for n, p in base.items()}

    def loss_at(eps: float, first_order: bool = False) -> Tensor:
        params = {n: (p + eps * direction[n]).requires_grad_(True) for n, p in base.items()}
        loss, _ = episode_losses(
            net, params, inp, 2, ys, yq, steps=2, lr=0.5, first_order=first_order
        )
        return loss

    params = {n: p.clone().requires_grad_(True) for n, p in base.items()}
    for first_order, expect_match in ((False, True), (True, False)):
        loss, _ = episode_losses(
            net, params, inp, 2, ys, yq, steps=2, lr=0.5, first_order=first_order
        )
        grads = torch.autograd.grad(loss, list(params.values()))
        analytic = sum(float((g * direction[n]).sum()) for n, g in zip(params, grads, strict=True))
        h = 1e-6
        numeric = float((loss_at(h) - loss_at(-h)).detach()) / (2 * h)
        assert (abs(analytic - numeric) < 1e-6 * max(1.0, abs(numeric))) == expect_match


def test_adapt_rejects_bad_arguments() -> None:
    p = {"w": torch.zeros(2, requires_grad=True)}
    with pytest.raises(ValueError, match="lr"):
        adapt(p, lambda q: q["w"].sum(), steps=1, lr=0.0)
    with pytest.raises(ValueError, match="steps"):
        adapt(p, lambda q: q["w"].sum(), steps=-1, lr=0.1)
    with pytest.raises(ValueError, match="requires grad"):
        adapt({"w": torch.zeros(2)}, lambda q: q["w"].sum(), steps=1, lr=0.1)
