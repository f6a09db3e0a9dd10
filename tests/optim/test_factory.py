"""Optimisers: update formulas of the original design, groups, sparse routing, geoopt, clipping."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from contrastkit.optim.factory import (
    CompositeOptimizer,
    OptimizerConfig,
    build_optimizer,
    clip_gradients,
    parameter_groups,
)

LR = 0.05


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:  # tiny tensors: threads only add contention
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


GRADS = [  # shrinking gradients, so AMSGrad's running max differs from Adam's v
    torch.tensor([0.9, -2.0, 0.3, 1.5]),
    torch.tensor([0.2, -0.5, -0.1, 0.4]),
    torch.tensor([0.05, 0.1, -0.02, 0.1]),
]
THETA0 = torch.tensor([1.0, -0.5, 2.0, 0.25])


def _run_torch(cfg: OptimizerConfig, dtype: torch.dtype) -> list[torch.Tensor]:
    p = nn.Parameter(THETA0.to(dtype).clone())  # the optimiser updates in place
    opt = build_optimizer(cfg, [p])
    out = []
    for g in GRADS:
        p.grad = g.to(dtype).clone()
        opt.step()
        out.append(p.detach().clone())
    return out


# References: the original design's update formulas, one element at a time.
def ref_sgd(momentum: float, dampening: float, wd: float, nesterov: bool) -> list[list[float]]:
    theta, vel, out = THETA0.tolist(), [0.0] * 4, []
    for g in GRADS:
        for i, gi in enumerate(g.tolist()):
            d_p = gi + wd * theta[i]
            if momentum != 0.0:
                vel[i] = momentum * vel[i] + (1.0 - dampening) * d_p
                d_p = d_p + momentum * vel[i] if nesterov else vel[i]
            theta[i] -= LR * d_p
        out.append(list(theta))
    return out


def ref_adam(
    b1: float, b2: float, eps: float, amsgrad: bool, decoupled_wd: float
) -> list[list[float]]:
    theta, m, v, vmax, out = THETA0.tolist(), [0.0] * 4, [0.0] * 4, [0.0] * 4, []
    for t, g in enumerate(GRADS, start=1):
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
        for i, gi in enumerate(g.tolist()):
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            vmax[i] = max(vmax[i], v[i])
            v_hat = (vmax[i] if amsgrad else v[i]) / bc2
            m_hat = m[i] / bc1
            theta[i] -= LR * (m_hat / (v_hat**0.5 + eps) + decoupled_wd * theta[i])
        out.append(list(theta))
    return out


def _close(got: list[torch.Tensor], want: list[list[float]]) -> None:
    for step, (g, w) in enumerate(zip(got, want, strict=True)):
        torch.testing.assert_close(
            g.double(), torch.tensor(w, dtype=torch.float64), atol=1e-6, rtol=0, msg=f"step {step}"
        )


CASES = {  # config kwargs -> the original design's reference trajectory
    "sgd": ({"name": "sgd"}, lambda: ref_sgd(0.0, 0.0, 0.0, False)),
    "momentum": ({"name": "sgd", "momentum": 0.9}, lambda: ref_sgd(0.9, 0.0, 0.0, False)),
    "momentum-wd": (
        {"name": "sgd", "momentum": 0.9, "weight_decay": 0.1},
        lambda: ref_sgd(0.9, 0.0, 0.1, False),
    ),
    "nesterov": (
        {"name": "sgd", "momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
        lambda: ref_sgd(0.8, 0.0, 0.05, True),
    ),
    "adam": ({"name": "adam"}, lambda: ref_adam(0.9, 0.999, 1e-8, False, 0.0)),
    "amsgrad": (
        {"name": "adam", "betas": (0.8, 0.99), "amsgrad": True},
        lambda: ref_adam(0.8, 0.99, 1e-8, True, 0.0),
    ),
    "adamw": (
        {"name": "adamw", "weight_decay": 0.01},
        lambda: ref_adam(0.9, 0.999, 1e-8, False, 0.01),
    ),
    "adamw-ams": (
        {"name": "adamw", "weight_decay": 0.2, "amsgrad": True, "eps": 1e-6},
        lambda: ref_adam(0.9, 0.999, 1e-6, True, 0.2),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_steps_equal_the_original_update_formulas(case: str, dtype: torch.dtype) -> None:
    kwargs, ref = CASES[case]
    _close(_run_torch(OptimizerConfig(lr=LR, **kwargs), dtype), ref())  # type: ignore[arg-type]


def test_the_references_can_fail() -> None:
    # AMSGrad, Nesterov and decoupled decay each change the trajectory measurably.
    ams = _run_torch(OptimizerConfig("adam", lr=LR, betas=(0.8, 0.99), amsgrad=True), torch.float64)
    with pytest.raises(AssertionError):
        _close(ams, ref_adam(0.8, 0.99, 1e-8, False, 0.0))
    nest = _run_torch(OptimizerConfig("sgd", lr=LR, momentum=0.8, nesterov=True), torch.float64)
    with pytest.raises(AssertionError):
        _close(nest, ref_sgd(0.8, 0.0, 0.0, False))
    adamw = _run_torch(OptimizerConfig("adamw", lr=LR, weight_decay=0.2), torch.float64)
    with pytest.raises(AssertionError):
        _close(adamw, ref_adam(0.9, 0.999, 1e-8, False, 0.0))


def test_dampening_follows_torch_first_step_convention() -> None:
    # torch seeds the momentum buffer with the raw gradient; the design starts from 0.
    got = _run_torch(OptimizerConfig("sgd", lr=LR, momentum=0.9, dampening=0.5), torch.float64)
    theta, buf = THETA0.double(), None
    for step, g in enumerate(GRADS):
        g = g.double()
        buf = g.clone() if buf is None else 0.9 * buf + 0.5 * g
        theta = theta - LR * buf
        torch.testing.assert_close(got[step], theta)


class Net(nn.Module):
    def __init__(self, sparse: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 6, sparse=sparse)
        self.lin = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)
        self.bn = nn.BatchNorm1d(6)
        self.out = nn.Linear(6, 1, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.out(self.bn(self.norm(self.lin(self.emb(idx))))).squeeze(-1)


def _ids(groups: list[dict]) -> list[tuple[set[int], float, bool]]:
    return [({id(p) for p in g["params"]}, g["weight_decay"], g["sparse"]) for g in groups]


def test_parameter_groups_exclude_bias_norm_embedding() -> None:
    net = Net()
    groups = _ids(parameter_groups(net, 0.1))
    decay = {id(net.lin.weight), id(net.out.weight)}
    assert (decay, 0.1, False) in groups
    no_decay = {id(p) for p in net.parameters()} - decay
    assert (no_decay, 0.0, False) in groups and len(groups) == 2
    only_bias = _ids(parameter_groups(net, 0.1, exclude=("bias",)))
    assert {id(net.emb.weight), id(net.norm.weight)} <= only_bias[0][0]
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    assert sum(len(g["params"]) for g in parameter_groups(tied, 0.1)) == 3


@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
def test_sparse_embeddings_are_routed_to_a_sparse_optimizer() -> None:
    torch.manual_seed(0)
    idx, y = torch.randint(0, 20, (32,)), torch.randn(32)
    for name, sparse_opt, want in [  # config name, sparse_optimizer, expected optimisers
        ("adamw", "auto", ["AdamW", "SparseAdam"]),
        ("sparse_adam", "auto", ["Adam", "SparseAdam"]),
        ("adam", "sgd", ["Adam", "SGD"]),
        ("sgd", "auto", ["SGD"]),
        ("adagrad", "auto", ["Adagrad"]),
        ("rectified_adam", "adagrad", ["RAdam", "Adagrad"]),
    ]:
        net = Net(sparse=True)
        cfg = OptimizerConfig(name, lr=0.05, weight_decay=0.01, sparse_optimizer=sparse_opt)  # type: ignore[arg-type]
        opt = build_optimizer(cfg, net)
        names = [type(o).__name__ for o in getattr(opt, "optimizers", [opt])]
        assert names == want, name
        losses = []
        for _ in range(15):
            opt.zero_grad()
            loss = (net(idx) - y).pow(2).mean()
            loss.backward()
            assert net.emb.weight.grad is not None and net.emb.weight.grad.is_sparse
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[-1] < losses[0], name
    with pytest.raises(ValueError, match="weight_decay"):
        build_optimizer(
            OptimizerConfig("adam"),
            [{"params": [nn.Parameter(torch.ones(2))], "sparse": True, "weight_decay": 0.1}],
        )


def test_composite_optimizer_state_round_trip_continues_identically() -> None:
    torch.manual_seed(0)
    idx, y = torch.randint(0, 20, (16,)), torch.randn(16)
    cfg = OptimizerConfig("adamw", lr=0.05, weight_decay=0.01)
    a = Net(sparse=True)
    opt_a = build_optimizer(cfg, a)
    assert isinstance(opt_a, CompositeOptimizer)

    def step(net: Net, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad()
        (net(idx) - y).pow(2).mean().backward()
        opt.step()

    for _ in range(3):
        step(a, opt_a)
    buf = io.BytesIO()
    torch.save({"model": a.state_dict(), "opt": opt_a.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    b = Net(sparse=True)
    b.load_state_dict(saved["model"])
    opt_b = build_optimizer(cfg, b)
    opt_b.load_state_dict(saved["opt"])
    for _ in range(3):
        step(a, opt_a)
        step(b, opt_b)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="state_dict"):
        opt_b.load_state_dict({"optimizers": []})


def test_riemannian_optimisers_for_manifold_parameters() -> None:
    geoopt = pytest.importorskip("geoopt")
    ball = geoopt.PoincareBall()
    torch.manual_seed(0)
    for name, cls in [("radam", "RiemannianAdam"), ("rsgd", "RiemannianSGD")]:
        x = geoopt.ManifoldParameter(ball.projx(0.3 * torch.randn(10, 2)), manifold=ball)
        opt = build_optimizer(OptimizerConfig(name, lr=0.5), [x])  # type: ignore[arg-type]
        assert type(opt).__name__ == cls
        target = torch.tensor([0.9, 0.0])
        for _ in range(20):
            opt.zero_grad()
            ball.dist(x, target).pow(2).sum().backward()
            opt.step()
        assert bool((x.detach().norm(dim=-1) < 1.0).all())
        assert float(ball.dist(x, target).detach().mean()) < 0.5
    with pytest.raises(ValueError, match="name"):
        build_optimizer(
            OptimizerConfig("adam"), [geoopt.ManifoldParameter(torch.zeros(2), manifold=ball)]
        )
    emb = nn.Embedding(8, 2, sparse=True)
    emb.weight = geoopt.ManifoldParameter(ball.projx(0.1 * torch.randn(8, 2)), manifold=ball)
    opt = build_optimizer(OptimizerConfig("radam", lr=0.1), emb)
    assert [type(o).__name__ for o in opt.optimizers] == ["SparseRiemannianAdam"]  # type: ignore[attr-defined]
    ball.dist0(emb(torch.tensor([1, 3]))).sum().backward()
    opt.step()


def test_missing_geoopt_gives_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "geoopt", None)
    with pytest.raises(ImportError, match="geoopt"):
        build_optimizer(OptimizerConfig("rsgd", lr=0.1), [nn.Parameter(torch.zeros(2))])


def test_clip_gradients_dense_matches_torch_and_sparse_matches_densified() -> None:
    torch.manual_seed(0)
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    idx = torch.randint(0, 20, (8,))
    for net in (a, b):
        net(idx).sum().mul(10).backward()
    got = clip_gradients(a.parameters(), max_norm=0.5)
    want = nn.utils.clip_grad_norm_(b.parameters(), 0.5)
    torch.testing.assert_close(got, want)
    sparse = Net(sparse=True)
    sparse.load_state_dict(a.state_dict())
    dense = Net()
    dense.load_state_dict(a.state_dict())
    for net in (sparse, dense):
        net(idx).sum().mul(10).backward()
    total = clip_gradients(sparse.parameters(), max_norm=0.5)
    ref = clip_gradients(dense.parameters(), max_norm=0.5)
    torch.testing.assert_close(total, ref)
    for ps, pd in zip(sparse.parameters(), dense.parameters(), strict=True):
        torch.testing.assert_close(ps.grad.to_dense(), pd.grad)  # type: ignore[union-attr]
    clip_gradients(sparse.parameters(), max_value=1e-3)
    assert float(sparse.emb.weight.grad.to_dense().abs().max()) <= 1e-3  # type: ignore[union-attr]
    assert float(clip_gradients([nn.Parameter(torch.ones(2))])) == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_gradients(a.parameters(), max_norm=0.0)
