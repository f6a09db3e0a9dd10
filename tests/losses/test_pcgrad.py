"""PCGrad (Yu et al. 2020): reference loop, conflict-free guarantees, optimiser wrapper."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from contrastkit.losses.pcgrad import PCGrad, pcgrad, projection_order
from tests.conftest import tol


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny tensors: thread hand-off costs more than it saves on a shared 2-core machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def reference_pcgrad(grads: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 of the paper, one objective and one partner at a time."""
    out = []
    for i in range(grads.shape[0]):
        gi = grads[i].clone()
        for j in order[i].tolist():
            gj = grads[j]
            dot = float(gi @ gj)
            if dot < 0 and float(gj @ gj) > 0:
                gi = gi - dot / float(gj @ gj) * gj
        out.append(gi)
    return torch.stack(out)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_matches_reference_loop(k: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(k)
    grads = torch.randn(k, 40, generator=g, dtype=dtype)
    order = projection_order(k, generator=torch.Generator().manual_seed(7))
    got = pcgrad(grads, reduction="none", generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(got, reference_pcgrad(grads, order), **tol(dtype))
    torch.testing.assert_close(
        pcgrad(grads, generator=torch.Generator().manual_seed(7)), got.sum(0), **tol(dtype)
    )
    torch.testing.assert_close(
        pcgrad(grads, reduction="mean", generator=torch.Generator().manual_seed(7)),
        got.mean(0),
        **tol(dtype),
    )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 30))
def test_two_objectives_never_conflict_after_projection(seed: int, p: int) -> None:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(p, generator=g, dtype=torch.float64)
    r = torch.randn(p, generator=g, dtype=torch.float64)
    b = r - ((r @ a) / (a @ a) + 0.5) * a  # b . a = -|a|^2 / 2: a guaranteed conflict
    raw = torch.stack([a, b])
    assert float(raw[0] @ raw[1]) < 0  # the conflict exists without the method
    out = pcgrad(raw, reduction="none", generator=g)
    scale = float(raw.norm(dim=1).prod())
    assert float(out[0] @ out[1]) >= -1e-12 * scale
    assert float(out[0] @ raw[1]) >= -1e-12 * scale and float(out[1] @ raw[0]) >= -1e-12 * scale


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 6))
def test_each_projected_gradient_agrees_with_its_last_partner(seed: int, k: int) -> None:
    g = torch.Generator().manual_seed(seed)
    grads = torch.randn(k, 12, generator=g, dtype=torch.float64)
    order = projection_order(k, generator=torch.Generator().manual_seed(seed))
    out = pcgrad(grads, reduction="none", generator=torch.Generator().manual_seed(seed))
    last = order[:, -1]
    dots = (out * grads[last]).sum(1)
    assert bool((dots >= -1e-10 * grads.norm(dim=1).max() ** 2).all())
    assert sorted(order[0].tolist()) == list(range(1, k))


def test_no_conflict_is_unchanged_and_zero_gradient_is_safe() -> None:
    grads = torch.tensor([[1.0, 2.0], [0.5, 0.1], [0.0, 0.0]])
    out = pcgrad(grads, reduction="none")
    torch.testing.assert_close(out, grads)
    single = pcgrad([torch.ones(2, 2)], reduction="none")
    torch.testing.assert_close(single, torch.ones(1, 4))
    assert bool(torch.isfinite(pcgrad(torch.zeros(3, 4))).all())


def test_order_comes_from_the_generator() -> None:
    a = projection_order(6, generator=torch.Generator().manual_seed(1))
    b = projection_order(6, generator=torch.Generator().manual_seed(1))
    c = projection_order(6, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(projection_order(3), torch.tensor([[1, 2], [0, 2], [0, 1]]))


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 3, sparse=True)
        self.lin = nn.Linear(3, 2)
        self.unused = nn.Parameter(torch.ones(2))


def _losses(m: Shared, x: torch.Tensor) -> dict[str, torch.Tensor]:
    z = m.lin(m.emb(x))
    return {"pull": z[:, 0].mean(), "push": -(z[:, 0] + 0.3 * z[:, 1]).mean()}


def test_optimiser_wrapper_writes_projected_grads_and_steps() -> None:
    torch.manual_seed(0)
    model = Shared()
    x = torch.tensor([0, 1, 3])
    params = list(model.parameters())
    inner = torch.optim.SGD(params, lr=0.1)
    opt = PCGrad(inner, generator=torch.Generator().manual_seed(0))
    # Reference: flattened per-objective gradients, projected by the function.
    losses = _losses(model, x)
    rows = []
    for loss in losses.values():
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g.to_dense()).reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
            )
        )
    raw = torch.stack(rows)
    assert float(raw[0] @ raw[1]) < 0
    want = pcgrad(raw, generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in params]
    opt.zero_grad()
    combined = opt.pc_backward(_losses(model, x))
    projected = pcgrad(raw, reduction="none", generator=torch.Generator().manual_seed(0))
    assert float(projected[0] @ projected[1]) >= -1e-6
    torch.testing.assert_close(combined, want)
    got = torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]
    torch.testing.assert_close(got, want)
    opt.step()
    after = torch.cat([p.detach().reshape(-1) for p in params])
    torch.testing.assert_close(after, torch.cat([b.reshape(-1) for b in before]) - 0.1 * want)
    assert opt.param_groups is inner.param_groups


def test_reduce_acts_on_the_per_objective_gradients_before_the_projection() -> None:
    """``reduce`` sees the ``[K, P]`` matrix (data parallelism averages it over ranks):
    replacing the second objective's row by the first's, the projection of equal rows
    is their sum — which no reduction applied after the projection could give."""
    torch.manual_seed(0)
    model = Shared()
    x = torch.tensor([0, 1, 3])
    params = list(model.parameters())
    seen: list[tuple[int, ...]] = []

    def duplicate_first(g: torch.Tensor) -> None:
        seen.append(tuple(g.shape))
        g[1] = g[0]

    opt = PCGrad(torch.optim.SGD(params, lr=0.1), reduce=duplicate_first)
    combined = opt.pc_backward(_losses(model, x))
    first = torch.cat(
        [
            (torch.zeros_like(p) if g is None else g.to_dense()).reshape(-1)
            for p, g in zip(
                params,
                torch.autograd.grad(
                    next(iter(_losses(model, x).values())), params, allow_unused=True
                ),
                strict=True,
            )
        ]
    )
    assert seen == [(2, first.numel())]
    torch.testing.assert_close(combined, 2 * first)


def test_optimiser_wrapper_state_round_trip() -> None:
    torch.manual_seed(0)
    x = torch.tensor([0, 2, 4])
    model_a = Shared()
    opt_a = PCGrad(
        torch.optim.Adagrad(model_a.parameters(), lr=0.1),
        generator=torch.Generator().manual_seed(5),
        reduction="mean",
    )

    def step(model: Shared, opt: PCGrad) -> None:
        opt.zero_grad()
        opt.pc_backward(list(_losses(model, x).values()))
        opt.step()

    for _ in range(3):
        step(model_a, opt_a)
    model_b = copy.deepcopy(model_a)
    opt_b = PCGrad(
        torch.optim.Adagrad(model_b.parameters(), lr=0.1),
        generator=torch.Generator().manual_seed(99),
        reduction="mean",
    )
    buf = io.BytesIO()  # a real checkpoint: no tensors shared between the two runs
    torch.save(opt_a.state_dict(), buf)
    buf.seek(0)
    opt_b.load_state_dict(torch.load(buf, weights_only=True))
    for _ in range(3):
        step(model_a, opt_a)
        step(model_b, opt_b)
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="reduction"):
        pcgrad(torch.ones(2, 3), reduction="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grads"):
        pcgrad(torch.ones(3))
    with pytest.raises(ValueError, match="grads"):
        pcgrad([])
    with pytest.raises(ValueError, match="grads"):
        pcgrad([torch.ones(2), torch.ones(3)])
    with pytest.raises(TypeError, match="grads"):
        pcgrad([torch.ones(2), torch.ones(2, dtype=torch.long)])
    with pytest.raises(ValueError, match="num_objectives"):
        projection_order(0)
    with pytest.raises(TypeError, match="optimizer"):
        PCGrad(object())  # type: ignore[arg-type]
    opt = PCGrad(torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1))
    with pytest.raises(ValueError, match="losses"):
        opt.pc_backward([])
    with pytest.raises(ValueError, match="losses"):
        opt.pc_backward([torch.ones(3)])
    with pytest.raises(ValueError, match="state_dict"):
        opt.load_state_dict({})
