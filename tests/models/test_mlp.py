"""MLP: shapes, residual/norm options against a hand-written reference, bad input."""

from __future__ import annotations

import pytest
import torch

from contrastkit.models.mlp import MLP


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
@pytest.mark.parametrize("residual", [False, True])
def test_shapes_and_gradients(norm: str, residual: bool) -> None:
    mlp = MLP(6, [8, 8, 5], 3, norm=norm, residual=residual, dropout=0.1)  # type: ignore[arg-type]
    x = torch.randn(10, 6, requires_grad=True)
    out = mlp(x)
    assert out.shape == (10, 3)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_matches_reference_residual() -> None:
    torch.manual_seed(0)
    mlp = MLP(4, [4, 6], 2, residual=True, activation="tanh").double().eval()
    x = torch.randn(5, 4, dtype=torch.float64)
    l0, l1 = mlp.linears
    h1 = torch.tanh(l0(x)) + x  # same width: identity skip
    h2 = torch.tanh(l1(h1)) + mlp.skips[1](h1)  # 4 -> 6: linear skip
    torch.testing.assert_close(mlp(x), mlp.out(h2))
    assert isinstance(mlp.skips[0], torch.nn.Identity)


def test_gradcheck() -> None:
    mlp = MLP(3, [4], 2, activation="gelu", norm="layer").double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mlp, (x,))


def test_no_hidden_layers_is_linear() -> None:
    mlp = MLP(3, [], 2)
    x = torch.randn(4, 3)
    torch.testing.assert_close(mlp(x), mlp.out(x))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="in_dim"):
        MLP(0, [2], 2)
    with pytest.raises(ValueError, match=r"hidden_dims\[1\]"):
        MLP(2, [2, 0], 2)
    with pytest.raises(ValueError, match="dropout"):
        MLP(2, [2], 2, dropout=1.0)
    with pytest.raises(ValueError, match="activation"):
        MLP(2, [2], 2, activation="swish")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="norm"):
        MLP(2, [2], 2, norm="group")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="features"):
        MLP(2, [2], 2)(torch.zeros(3, 5))
    with pytest.raises(TypeError, match="x"):
        MLP(2, [2], 2)(torch.zeros(3, 2, dtype=torch.int64))
