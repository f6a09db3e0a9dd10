"""Deep Graph Infomax: loop reference, gradcheck, saturation, the module, PyG's DeepGraphInfomax."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from contrastkit.functional.dgi import dgi_logits, dgi_loss, dgi_summary
from contrastkit.losses.dgi import DeepGraphInfomaxLoss
from tests.conftest import tol


def _inputs(
    gen: torch.Generator, n: int, m: int, d: int, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    pos = torch.randn(n, d, generator=gen, dtype=dtype)
    neg = torch.randn(m, d, generator=gen, dtype=dtype)
    w = torch.randn(d, d, generator=gen, dtype=dtype) / math.sqrt(d)
    return pos, neg, w


def _reference(pos: torch.Tensor, neg: torch.Tensor, s: torch.Tensor, w: torch.Tensor) -> float:
    def sig(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x))

    pos_terms = [-math.log(sig(float(pos[i] @ w @ s))) for i in range(pos.shape[0])]
    neg_terms = [-math.log(1.0 - sig(float(neg[j] @ w @ s))) for j in range(neg.shape[0])]
    return sum(pos_terms) / len(pos_terms) + sum(neg_terms) / len(neg_terms)


def test_summary_is_sigmoid_of_the_mean(gen: torch.Generator, dtype: torch.dtype) -> None:
    z = torch.randn(7, 4, generator=gen, dtype=dtype)
    want = torch.tensor(
        [1.0 / (1.0 + math.exp(-sum(float(z[i, k]) for i in range(7)) / 7)) for k in range(4)],
        dtype=dtype,
    )
    torch.testing.assert_close(dgi_summary(z), want, **tol(dtype))


@pytest.mark.parametrize(("n", "m"), [(6, 6), (5, 9)])
def test_equals_loop_reference(gen: torch.Generator, dtype: torch.dtype, n: int, m: int) -> None:
    pos, neg, w = _inputs(gen, n, m, 4, dtype)
    s = dgi_summary(pos)
    out = dgi_loss(pos, neg, s, w)
    assert out.dtype == dtype and out.shape == ()
    assert out.item() == pytest.approx(_reference(pos, neg, s, w), rel=tol(dtype)["rtol"])
    logits = dgi_logits(pos, s, w)
    want = torch.tensor([float(pos[i] @ w @ s) for i in range(n)], dtype=dtype)
    torch.testing.assert_close(logits, want, **tol(dtype))


def test_gradcheck_all_inputs(gen: torch.Generator) -> None:
    pos, neg, w = _inputs(gen, 5, 4, 3, torch.float64)
    s = torch.rand(3, generator=gen, dtype=torch.float64)
    inputs = tuple(t.requires_grad_(True) for t in (pos, neg, s, w))
    assert torch.autograd.gradcheck(dgi_loss, inputs)
    assert torch.autograd.gradcheck(
        lambda p, n, w_: dgi_loss(p, n, dgi_summary(p), w_), (pos, neg, w)
    )


def test_saturated_logits_stay_exact_and_keep_gradients() -> None:
    # log(sigmoid(-100) + 1e-15) would cap the term at 34.5 with no gradient
    pos = torch.tensor([[-100.0]], requires_grad=True)
    neg = torch.tensor([[100.0]], requires_grad=True)
    one, w = torch.ones(1), torch.ones(1, 1)
    out = dgi_loss(pos, neg, one, w)
    assert out.item() == pytest.approx(200.0, rel=1e-6)
    out.backward()
    assert pos.grad is not None and neg.grad is not None
    assert pos.grad.item() == pytest.approx(-1.0) and neg.grad.item() == pytest.approx(1.0)


def test_chance_level_and_empty_sides(gen: torch.Generator) -> None:
    pos, neg, _ = _inputs(gen, 4, 4, 3, torch.float64)
    zero_w = torch.zeros(3, 3, dtype=torch.float64)
    assert dgi_loss(pos, neg, dgi_summary(pos), zero_w).item() == pytest.approx(2 * math.log(2))
    w = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    empty = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    s = dgi_summary(pos)
    out = dgi_loss(pos, empty, s, w)
    assert torch.isfinite(out) and out.item() == pytest.approx(_pos_only(pos, s, w))
    out.backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


def _pos_only(pos: torch.Tensor, s: torch.Tensor, w: torch.Tensor) -> float:
    return float(-torch.nn.functional.logsigmoid(pos @ w.detach() @ s).mean())


def test_module_init_forward_and_default_summary(gen: torch.Generator) -> None:
    pos, neg, _ = _inputs(gen, 6, 6, 5, torch.float32)
    a = DeepGraphInfomaxLoss(5, generator=torch.Generator().manual_seed(3))
    b = DeepGraphInfomaxLoss(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.weight, b.weight)
    assert a.weight.abs().max().item() <= 1 / math.sqrt(5)
    assert a.weight.std().item() > 0.1  # uniform on [-0.447, 0.447]: std 0.258
    assert isinstance(a.weight, torch.nn.Parameter) and "dim=5" in repr(a)
    torch.testing.assert_close(a(pos, neg), dgi_loss(pos, neg, dgi_summary(pos), a.weight))
    s = torch.rand(5, generator=gen)
    torch.testing.assert_close(a(pos, neg, s), dgi_loss(pos, neg, s, a.weight))
    torch.testing.assert_close(a.discriminate(pos, s), pos @ a.weight @ s)
    big = DeepGraphInfomaxLoss(400, dtype=torch.float64)
    assert big.weight.dtype == torch.float64
    assert big.weight.abs().max().item() == pytest.approx(1 / 20, rel=1e-3)


def _gcn_encoder(in_dim: int, hidden: int) -> torch.nn.Module:
    from torch_geometric.nn import GCNConv

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = GCNConv(in_dim, hidden)
            self.act = torch.nn.PReLU(hidden)

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            return self.act(self.conv(x, edge_index))

    return Encoder()


@pytest.mark.peers
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_pyg_deep_graph_infomax(dtype: torch.dtype) -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn.models import DeepGraphInfomax

    torch.manual_seed(0)  # PyG's layers draw their initialisation from the global RNG
    gen = torch.Generator().manual_seed(7)
    n, f, hidden = 30, 8, 16
    x = torch.randn(n, f, generator=gen, dtype=dtype)
    ei = torch.randint(0, n, (2, 80), generator=gen)
    ei = torch.cat([ei, ei.flip(0)], 1)
    perm = torch.randperm(n, generator=gen)
    encoder = _gcn_encoder(f, hidden).to(dtype)
    model = DeepGraphInfomax(
        hidden,
        encoder=encoder,
        summary=lambda z, *args, **kwargs: torch.sigmoid(z.mean(dim=0)),
        corruption=lambda x_, ei_: (x_[perm], ei_),
    ).to(dtype)
    ours = DeepGraphInfomaxLoss(hidden, generator=torch.Generator().manual_seed(1), dtype=dtype)
    with torch.no_grad():
        model.weight.copy_(ours.weight)

    pos_z, neg_z, summary = model(x, ei)
    want = model.loss(pos_z, neg_z, summary)
    want.backward()
    want_grads = [p.grad.clone() for p in encoder.parameters()]  # type: ignore[union-attr]
    want_w = model.weight.grad
    encoder.zero_grad()

    got = ours(encoder(x, ei), encoder(x[perm], ei))
    got.backward()
    close = (
        {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-10}
    )
    torch.testing.assert_close(got, want, **close)
    for p, g in zip(encoder.parameters(), want_grads, strict=True):
        torch.testing.assert_close(p.grad, g, **close)
    torch.testing.assert_close(ours.weight.grad, want_w, **close)
    assert want.item() > 0.5  # an ordinary, non-degenerate value


def test_bad_inputs_name_the_argument(gen: torch.Generator) -> None:
    pos, neg, w = _inputs(gen, 4, 4, 3, torch.float32)
    s = torch.rand(3)
    with pytest.raises(ValueError, match="pos_z"):
        dgi_loss(pos[0], neg, s, w)
    with pytest.raises(TypeError, match="neg_z"):
        dgi_loss(pos, neg.long(), s, w)
    with pytest.raises(ValueError, match="neg_z"):
        dgi_loss(pos, torch.randn(4, 2), s, w)
    with pytest.raises(ValueError, match="summary"):
        dgi_loss(pos, neg, torch.rand(4), w)
    with pytest.raises(ValueError, match="summary"):
        dgi_loss(pos, neg, torch.rand(1, 3), w)
    with pytest.raises(ValueError, match="weight"):
        dgi_loss(pos, neg, s, torch.randn(3, 4))
    with pytest.raises(TypeError, match="weight"):
        dgi_loss(pos, neg, s, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="z"):
        dgi_summary(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="dim"):
        DeepGraphInfomaxLoss(0)
    with pytest.raises(TypeError, match="dim"):
        DeepGraphInfomaxLoss(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight"):
        DeepGraphInfomaxLoss(4)(pos, neg)


@pytest.mark.parametrize("module", ["contrastkit.functional.dgi", "contrastkit.losses.dgi"])
def test_docstring_examples_run(module: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
