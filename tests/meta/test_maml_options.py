"""The MAML literature's options: learned inner rates (MAML++'s LSLR, Meta-SGD) get the
meta-gradient a by-hand computation gives and pass gradcheck; ANIL adapts only the head
and equals full-network adaptation restricted to it; Proto-MAML's head starts as
ProtoNet; MAML++'s multi-step loss weights and loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from contrastkit.meta.inner_lr import InnerLR
from contrastkit.meta.maml import (
    HEAD,
    adapt,
    adapt_path,
    episode_losses,
    head_start,
    multi_step_weights,
)
from contrastkit.meta.network import EpisodeInput, FewShotNet, episode_input
from contrastkit.meta.protonet import protonet_logits

STEPS = 3


def _problem() -> tuple[nn.Module, dict[str, Tensor], tuple[Tensor, ...]]:
    g = torch.Generator().manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    xs, xq = torch.randn(6, 3, generator=g).double(), torch.randn(8, 3, generator=g).double()
    ys, yq = torch.tensor([0, 1] * 3), torch.tensor([0, 1] * 4)
    return net, params, (xs, ys, xq, yq)


NET, PARAMS, (XS, YS, XQ, YQ) = _problem()


def _support(p: dict[str, Tensor]) -> Tensor:
    return F.cross_entropy(functional_call(NET, p, (XS,)), YS)


def _query(p: dict[str, Tensor]) -> Tensor:
    return F.cross_entropy(functional_call(NET, p, (XQ,)), YQ)


def _rates(kind: str) -> InnerLR:
    rates = InnerLR(
        {n: p.shape for n, p in PARAMS.items()},
        steps=STEPS,
        init=0.3,
        kind=kind,  # type: ignore[arg-type]
    ).double()
    with torch.no_grad():  # distinct rates, so a mix-up of layers or steps shows
        for i, r in enumerate(rates.rates):
            r.add_(0.05 * torch.arange(r.numel(), dtype=r.dtype).reshape(r.shape) + 0.01 * i)
    return rates


@pytest.mark.parametrize("kind", ["per_layer_step", "per_parameter"])
def test_learned_rates_get_the_by_hand_first_order_meta_gradient(kind: str) -> None:
    """First order, theta_T = theta_0 - sum_t alpha_t g_t with constant g_t, so
    dL_q/d alpha_{l,t} = -<g_{l,t}, grad_l L_q(theta_T)> (per layer and step) and
    dL_q/d alpha = -sum_t g_t * grad L_q(theta_T) (per parameter)."""
    rates = _rates(kind)
    start = {n: p.clone().requires_grad_(True) for n, p in PARAMS.items()}
    loss = _query(adapt(start, _support, steps=STEPS, lr=rates.rate, first_order=True))
    got = torch.autograd.grad(loss, list(rates.parameters()))
    assert all(float(g.abs().sum()) > 0 for g in got)  # every rate is reached
    # by hand: plain steps, the inner gradients recorded
    theta, inner = dict(PARAMS), []
    for t in range(STEPS):
        g = torch.func.grad(_support)(theta)
        inner.append(g)
        # the raw rate tensors, not InnerLR.rate (the code under test)
        raw = {n: rates.rates[i].detach() for i, n in enumerate(rates.names)}
        step = {n: raw[n][t] if kind == "per_layer_step" else raw[n] for n in raw}
        theta = {n: theta[n] - step[n] * g[n] for n in theta}
    outer = torch.func.grad(_query)(theta)
    for i, name in enumerate(rates.names):
        if kind == "per_layer_step":
            want = torch.stack([-(inner[t][name] * outer[name]).sum() for t in range(STEPS)])
        else:
            want = -sum(inner[t][name] for t in range(STEPS)) * outer[name]
        torch.testing.assert_close(got[i], want, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("kind", ["per_layer_step", "per_parameter"])
def test_second_order_meta_gradient_in_parameters_and_rates_passes_gradcheck(kind: str) -> None:
    rates = _rates(kind)
    names = list(PARAMS)
    sizes = [p.numel() for p in PARAMS.values()]

    def meta_loss(flat: Tensor, *rate_tensors: Tensor) -> Tensor:
        chunks = flat.split(sizes)
        params = {n: c.reshape(PARAMS[n].shape) for n, c in zip(names, chunks, strict=True)}
        lookup = dict(zip(rates.names, rate_tensors, strict=True))

        def lr(name: str, t: int) -> Tensor:
            return lookup[name][t] if kind == "per_layer_step" else lookup[name]

        return _query(adapt(params, _support, steps=2, lr=lr))

    flat = torch.cat([p.reshape(-1) for p in PARAMS.values()]).requires_grad_(True)
    inputs = (flat, *(r.detach().clone().requires_grad_(True) for r in rates.rates))
    assert torch.autograd.gradcheck(meta_loss, inputs)


def test_fixed_rates_equal_a_constant_step_and_are_not_parameters() -> None:
    fixed = InnerLR({n: p.shape for n, p in PARAMS.items()}, steps=2, init=0.3, kind="fixed")
    assert list(fixed.parameters()) == [] and not fixed.learnt
    start = {n: p.clone().requires_grad_(True) for n, p in PARAMS.items()}
    a = adapt(start, _support, steps=2, lr=fixed.rate)
    b = adapt(start, _support, steps=2, lr=0.3)
    for n in a:
        assert torch.equal(a[n], b[n])
    lslr = InnerLR(
        {n: p.shape for n, p in PARAMS.items()}, steps=2, init=0.3, kind="per_layer_step"
    )
    c = adapt(start, _support, steps=2, lr=lslr.rate)  # learnt rates start at init
    for n in a:
        torch.testing.assert_close(c[n], a[n])
    with pytest.raises(KeyError, match="nope"):
        lslr.rate("nope", 0)
    with pytest.raises(ValueError, match="step"):
        lslr.rate("0.weight", 2)
    with pytest.raises(ValueError, match="kind"):
        InnerLR({}, steps=1, init=0.1, kind="bogus")  # type: ignore[arg-type]


def _gnn_episode() -> tuple[FewShotNet, dict[str, Tensor], EpisodeInput, Tensor, Tensor]:
    torch.manual_seed(0)
    net = FewShotNet(5, 3, dim=4, hidden=6, layers=2, encoder="gnn", head_input="embedding")
    net = net.double()
    x = torch.randn(20, 5, dtype=torch.float64)
    ring = torch.stack([torch.arange(20), (torch.arange(20) + 1) % 20])
    inp = episode_input(x, torch.cat([ring, ring.flip(0)], 1), torch.arange(0, 18, 2), hops=2)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters()}
    return net, params, inp, torch.arange(3).repeat_interleave(2), torch.arange(3)


def test_anil_adapts_only_the_head_and_equals_full_adaptation_restricted_to_it() -> None:
    net, params, inp, ys, yq = _gnn_episode()
    rows_s, rows_q = inp.nodes[:6], inp.nodes[6:]

    def support(p: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(functional_call(net, p, (inp.x, inp.edge_index, rows_s)), ys)

    path = adapt_path(params, support, steps=3, lr=0.5, only=HEAD)
    for fast in path:
        for name in params:
            assert (fast[name] is params[name]) == (name not in HEAD), name
    want = functional_call(net, path[-1], (inp.x, inp.edge_index, rows_q))
    loss, got = episode_losses(net, params, inp, 6, ys, yq, steps=3, lr=0.5, scope="head")
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
    # the encoder is meta-learnt through the head's adaptation (second order)
    grads = torch.autograd.grad(loss, list(params.values()))
    assert all(float(g.abs().sum()) > 0 for g in grads)
    _, full = episode_losses(net, params, inp, 6, ys, yq, steps=3, lr=0.5, scope="all")
    assert not torch.allclose(full, got)  # adapting the encoder too is another learner


def test_anil_second_order_meta_gradient_passes_gradcheck() -> None:
    net, params, inp, ys, yq = _gnn_episode()
    names = list(params)

    def meta_loss(*tensors: Tensor) -> Tensor:
        p = dict(zip(names, tensors, strict=True))
        return episode_losses(
            net, p, inp, 6, ys, yq, steps=2, lr=0.5, scope="head", head_init="proto"
        )[0]

    assert torch.autograd.gradcheck(meta_loss, tuple(params.values()))


def test_proto_head_starts_as_protonet_and_zero_head_as_zeros() -> None:
    net, params, inp, ys, yq = _gnn_episode()
    _, logits = episode_losses(net, params, inp, 6, ys, yq, steps=0, lr=0.5, head_init="proto")
    z = net.embed(inp.x, inp.edge_index, inp.nodes).detach()
    proto = protonet_logits(z[:6].reshape(3, 2, -1), z[6:])  # -|z - p_c|^2
    # w_c . z + b_c = -|z - p_c|^2 + |z|^2: the same softmax, the same predictions
    torch.testing.assert_close(logits.detach(), proto + z[6:].pow(2).sum(-1, keepdim=True))
    zero = head_start(params, None, 3, "zero")
    assert all(float(zero[n].detach().abs().sum()) == 0 and zero[n].is_leaf for n in HEAD)
    assert all(zero[n] is params[n] for n in params if n not in HEAD)
    with pytest.raises(ValueError, match="support"):
        head_start(params, None, 3, "proto")


def test_head_input_embedding_drops_the_relu() -> None:
    net, _, inp, _, _ = _gnn_episode()
    z = net.embed(inp.x, inp.edge_index, inp.nodes)
    torch.testing.assert_close(net(inp.x, inp.edge_index, inp.nodes, features_only=True), z)
    net.head_input = "relu"
    torch.testing.assert_close(
        net(inp.x, inp.edge_index, inp.nodes, features_only=True), torch.relu(z)
    )
    assert float((z < 0).sum()) > 0  # the relu has something to drop


def test_multi_step_weights_follow_maml_plus_plus() -> None:
    w0 = multi_step_weights(5, 0.0)
    assert w0 is not None
    torch.testing.assert_close(w0, torch.full((5,), 0.2))
    prev = w0
    for progress in (0.25, 0.5, 0.99):
        w = multi_step_weights(5, progress)
        assert w is not None
        torch.testing.assert_close(w.sum(), torch.tensor(1.0))
        assert bool((w[:-1] <= prev[:-1]).all()) and float(w[-1]) > float(prev[-1])
        assert bool((w[:-1] >= 0.03 / 5 - 1e-9).all())
        prev = w
    assert multi_step_weights(5, 1.0) is None
    with pytest.raises(ValueError, match="progress"):
        multi_step_weights(5, -0.1)


def test_multi_step_loss_is_the_weighted_sum_of_the_per_step_query_losses() -> None:
    net, params, inp, ys, yq = _gnn_episode()
    weights = torch.tensor([0.2, 0.3, 0.5])
    got, _ = episode_losses(net, params, inp, 6, ys, yq, steps=3, lr=0.5, step_weights=weights)
    want = sum(
        float(w) * episode_losses(net, params, inp, 6, ys, yq, steps=t + 1, lr=0.5)[0]
        for t, w in enumerate(weights)
    )
    torch.testing.assert_close(got, want)
    last, _ = episode_losses(
        net, params, inp, 6, ys, yq, steps=3, lr=0.5, step_weights=torch.tensor([0.0, 0.0, 1.0])
    )
    torch.testing.assert_close(
        last, episode_losses(net, params, inp, 6, ys, yq, steps=3, lr=0.5)[0]
    )
    with pytest.raises(ValueError, match="step_weights"):
        episode_losses(net, params, inp, 6, ys, yq, steps=3, lr=0.5, step_weights=[1.0])
