"""Laplacian smoothness tr(ZᵀLZ): dense trace and loop references, gradcheck, edge cases."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.laplacian import laplacian
from contrastkit.functional.spectral import laplacian_smoothness
from tests.conftest import tol


def graph(gen: torch.Generator, n: int, e: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    ei = torch.randint(0, n, (2, e), generator=gen)
    w = torch.rand(e, generator=gen, dtype=dtype) + 0.1
    z = torch.randn(n, 5, generator=gen, dtype=dtype)
    return z, ei, w


@pytest.mark.parametrize("normalization", ["none", "sym"])
@pytest.mark.parametrize("dup", ["max", "mean", "keep"])
def test_equals_dense_trace(
    gen: torch.Generator, dtype: torch.dtype, normalization: str, dup: str
) -> None:
    n = 12  # ids from [0, 10): two isolated nodes
    z, ei, w = graph(gen, 10, 30, dtype)
    z = torch.cat([z, torch.randn(2, 5, generator=gen, dtype=dtype)])
    lap = laplacian(ei, n, w, normalization, dup).to_dense()
    ref = torch.trace(z.T @ lap @ z)
    out = laplacian_smoothness(z, ei, w, normalization=normalization, duplicates=dup)
    torch.testing.assert_close(out, ref, **tol(dtype))


def test_equals_edge_loop_of_the_design(gen: torch.Generator) -> None:
    # duplicates="keep": the design's literal sum over the listed edges
    z, ei, w = graph(gen, 8, 20, torch.float64)
    ref = sum(float(w[e]) * float((z[ei[0, e]] - z[ei[1, e]]).square().sum()) for e in range(20))
    out = laplacian_smoothness(z, ei, w, duplicates="keep")
    assert out.item() == pytest.approx(ref, rel=1e-12)
    deg = torch.zeros(8, dtype=torch.float64)
    for e in range(20):
        if ei[0, e] != ei[1, e]:
            deg[ei[0, e]] += w[e]
            deg[ei[1, e]] += w[e]
    ref_sym = 0.0
    for e in range(20):
        i, j = int(ei[0, e]), int(ei[1, e])
        if i != j:
            diff = z[i] / deg[i].sqrt() - z[j] / deg[j].sqrt()
            ref_sym += float(w[e]) * float(diff.square().sum())
    out_sym = laplacian_smoothness(z, ei, w, normalization="sym", duplicates="keep")
    assert out_sym.item() == pytest.approx(ref_sym, rel=1e-12)


def test_design_normalised_formula_is_not_the_sym_quadratic_form(gen: torch.Generator) -> None:
    z, ei, _ = graph(gen, 6, 12, torch.float64)
    (row, col) = ei[:, ei[0] != ei[1]]
    deg = torch.zeros(6, dtype=torch.float64).index_add(
        0, row, torch.ones(len(row), dtype=torch.float64)
    )
    deg = deg.index_add(0, col, torch.ones(len(col), dtype=torch.float64))
    design = ((z[row] - z[col]).square().sum(1) / (deg[row] * deg[col]).sqrt()).sum()
    ours = laplacian_smoothness(z, ei, normalization="sym", duplicates="keep")
    assert not torch.isclose(ours, design)


def test_both_directions_count_once_by_default(gen: torch.Generator) -> None:
    z, ei, w = graph(gen, 7, 10, torch.float64)
    ei = ei[:, ei[0] != ei[1]]
    w = w[: ei.shape[1]]
    both, w2 = torch.cat([ei, ei.flip(0)], 1), torch.cat([w, w])
    keep = laplacian_smoothness(z, ei, w, duplicates="keep")
    torch.testing.assert_close(laplacian_smoothness(z, both, w2, duplicates="keep"), 2 * keep)
    torch.testing.assert_close(
        laplacian_smoothness(z, both, w2), laplacian_smoothness(z, torch.cat([ei, ei], 1), w2)
    )


def test_reductions_and_lambda(gen: torch.Generator) -> None:
    z, ei, w = graph(gen, 9, 15, torch.float64)
    terms = laplacian_smoothness(z, ei, w, reduction="none")
    total = laplacian_smoothness(z, ei, w)
    torch.testing.assert_close(terms.sum(), total)
    torch.testing.assert_close(laplacian_smoothness(z, ei, w, reduction="mean"), terms.mean())
    torch.testing.assert_close(laplacian_smoothness(z, ei, w, lambda_=0.01), 0.01 * total)


@pytest.mark.parametrize("normalization", ["none", "sym"])
def test_gradcheck_embeddings_and_weights(gen: torch.Generator, normalization: str) -> None:
    z, ei, w = graph(gen, 6, 12, torch.float64)
    z.requires_grad_(True)
    w.requires_grad_(True)

    def fn(z_: torch.Tensor, w_: torch.Tensor) -> torch.Tensor:
        return laplacian_smoothness(z_, ei, w_, normalization=normalization, duplicates="mean")

    assert torch.autograd.gradcheck(fn, (z, w))


@pytest.mark.parametrize("normalization", ["none", "sym"])
def test_second_order_gradients_are_exact(gen: torch.Generator, normalization: str) -> None:
    # create_graph=True differentiates the gather form; gradgradcheck would catch a stale L z
    z, ei, w = graph(gen, 5, 8, torch.float64)
    z.requires_grad_(True)
    w.requires_grad_(True)

    def fn(z_: torch.Tensor, w_: torch.Tensor) -> torch.Tensor:
        return laplacian_smoothness(z_, ei, w_, normalization=normalization)

    assert torch.autograd.gradgradcheck(fn, (z, w))


def test_weight_gradient_is_edge_distance(gen: torch.Generator) -> None:
    z, ei, w = graph(gen, 6, 10, torch.float64)
    w.requires_grad_(True)
    laplacian_smoothness(z, ei, w, duplicates="keep").backward()
    torch.testing.assert_close(w.grad, (z[ei[0]] - z[ei[1]]).square().sum(-1))


def test_gradient_is_two_L_z(gen: torch.Generator) -> None:
    z, ei, w = graph(gen, 8, 16, torch.float64)
    z.requires_grad_(True)
    laplacian_smoothness(z, ei, w, normalization="sym").backward()
    lap = laplacian(ei, 8, w, "sym").to_dense()
    torch.testing.assert_close(z.grad, 2 * lap @ z.detach())


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_empty_edge_list_is_attached_zero(dtype: torch.dtype, reduction: str) -> None:
    z = torch.randn(4, 3, dtype=dtype, requires_grad=True)
    out = laplacian_smoothness(z, torch.zeros(2, 0, dtype=torch.long), reduction=reduction)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert z.grad is not None and not z.grad.any()


def test_degenerate_inputs_stay_finite() -> None:
    one = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    loop = torch.tensor([[0], [0]])
    for normalization in ("none", "sym"):
        out = laplacian_smoothness(one, loop, normalization=normalization)
        out.backward()
        assert out.item() == 0.0 and one.grad is not None and torch.isfinite(one.grad).all()
    z = torch.zeros(5, 2, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)  # a zero-weight edge
    out = laplacian_smoothness(z, torch.tensor([[0, 2], [1, 3]]), w, normalization="sym")
    out.backward()
    assert out.item() == 0.0
    assert z.grad is not None and w.grad is not None
    assert torch.isfinite(z.grad).all() and torch.isfinite(w.grad).all()


def test_never_builds_a_dense_laplacian(gen: torch.Generator) -> None:
    # a dense N×N float32 matrix here would need 160 GB; compare with the compacted graph
    n = 200_000
    nodes = torch.tensor([0, 1, 5, 6, n - 1])
    small = torch.randn(5, 4, generator=gen)
    z = torch.zeros(n, 4).index_copy(0, nodes, small)
    ei = torch.tensor([[0, 5, n - 1], [1, 6, 0]])
    compact = torch.tensor([[0, 2, 4], [1, 3, 0]])
    for normalization in ("none", "sym"):
        out = laplacian_smoothness(z, ei, normalization=normalization)
        ref = laplacian_smoothness(small, compact, normalization=normalization)
        torch.testing.assert_close(out, ref)


def test_bad_inputs_name_the_argument() -> None:
    z = torch.randn(3, 2)
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="z"):
        laplacian_smoothness(torch.randn(3), ei)
    with pytest.raises(TypeError, match="z"):
        laplacian_smoothness(torch.ones(3, 2, dtype=torch.long), ei)
    with pytest.raises(ValueError, match="edge_index"):
        laplacian_smoothness(z, torch.tensor([[0, 3], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index"):
        laplacian_smoothness(z, torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian_smoothness(z, ei, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian_smoothness(z, ei, torch.tensor([1.0]))
    with pytest.raises(ValueError, match="edge_weight"):
        laplacian_smoothness(z, ei, torch.ones(2, 1))
    with pytest.raises(ValueError, match="lambda_"):
        laplacian_smoothness(z, ei, lambda_=-0.1)
    with pytest.raises(ValueError, match="normalization"):
        laplacian_smoothness(z, ei, normalization="random_walk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        laplacian_smoothness(z, ei, reduction="avg")  # type: ignore[arg-type]
