"""L1 sparsity penalty: reference, reductions, gradcheck away from 0, subgradient 0 at 0."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from contrastkit.functional.sparsity import l1_sparsity
from contrastkit.losses.sparsity import SparsityLoss
from tests.conftest import tol


def test_equals_reference(gen: torch.Generator, dtype: torch.dtype) -> None:
    z = torch.randn(9, 5, generator=gen, dtype=dtype)
    rows = [sum(abs(float(v)) for v in z[i]) for i in range(9)]
    assert l1_sparsity(z).item() == pytest.approx(sum(rows) / 9, rel=tol(dtype)["rtol"])
    assert l1_sparsity(z, reduction="sum").item() == pytest.approx(
        sum(rows), rel=tol(dtype)["rtol"]
    )
    torch.testing.assert_close(
        l1_sparsity(z, reduction="none"), torch.tensor(rows, dtype=dtype), **tol(dtype)
    )


def test_gradcheck_away_from_zero(gen: torch.Generator) -> None:
    z = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    z = (z + 0.1 * z.sign()).requires_grad_(True)  # |z| >= 0.1: finite differences stay on one side
    for reduction in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(lambda x, r=reduction: l1_sparsity(x, reduction=r), (z,))


def test_gradient_is_sign_over_n_and_zero_at_zero() -> None:
    z = torch.tensor([[1.5, -2.0, 0.0], [0.0, 0.0, 3.0]], requires_grad=True)
    l1_sparsity(z).backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, torch.tensor([[0.5, -0.5, 0.0], [0.0, 0.0, 0.5]]))


def test_empty_is_attached_zero() -> None:
    z = torch.zeros(0, 3, requires_grad=True)
    out = l1_sparsity(z)
    assert out.item() == 0.0 and out.requires_grad


def test_module(gen: torch.Generator) -> None:
    z = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(SparsityLoss()(z), l1_sparsity(z))
    torch.testing.assert_close(
        SparsityLoss(0.1, reduction="sum")(z), 0.1 * l1_sparsity(z, reduction="sum")
    )
    assert SparsityLoss(reduction="none")(z).shape == (5,)
    assert "lambda_=0.1" in repr(SparsityLoss(0.1))


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="z"):
        l1_sparsity(torch.randn(3))
    with pytest.raises(TypeError, match="z"):
        l1_sparsity(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        l1_sparsity(torch.randn(3, 2), reduction="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lambda_"):
        SparsityLoss(-1.0)
    with pytest.raises(ValueError, match="reduction"):
        SparsityLoss(reduction="avg")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "module", ["contrastkit.functional.sparsity", "contrastkit.losses.sparsity"]
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
