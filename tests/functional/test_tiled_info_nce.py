"""Tiled InfoNCE / MNRL: equal to the plain forms in value and gradient, bounded memory."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from contrastkit.functional.info_nce import info_nce
from contrastkit.functional.mnr import multiple_negatives_ranking_loss
from contrastkit.functional.tiled_info_nce import (
    _spans,
    _TiledLogSumExp,
    tile_size_for,
    tiled_info_nce,
    tiled_multiple_negatives_ranking_loss,
)
from tests.conftest import tol


def _leaves(gen: torch.Generator, b: int, h: int | None, d: int, dtype: torch.dtype):
    a = torch.randn(b, d, generator=gen, dtype=dtype, requires_grad=True)
    p = torch.randn(b, d, generator=gen, dtype=dtype, requires_grad=True)
    if h is None:
        return a, p, None
    shape = (b, d) if h == 0 else (b, h, d)
    return a, p, torch.randn(*shape, generator=gen, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("distance", ["cosine", "dot", "sqeuclidean"])
@pytest.mark.parametrize("h", [None, 0, 2])
@pytest.mark.parametrize("symmetric", [False, True])
def test_equals_plain_loss_and_gradients(
    distance: str, h: int | None, symmetric: bool, dtype: torch.dtype, gen: torch.Generator
) -> None:
    b, d = 29, 8
    a, p, n = _leaves(gen, b, h, d, dtype)
    if distance != "cosine":  # keep dot / squared-L2 logits in a softmax-friendly range
        with torch.no_grad():
            for x in (a, p) if n is None else (a, p, n):
                x.mul_(0.3)
    leaves = [x for x in (a, p, n) if x is not None]
    w = torch.rand(b, generator=gen, dtype=dtype)
    t = torch.tensor(0.25, dtype=dtype, requires_grad=True)
    plain = multiple_negatives_ranking_loss(
        a, p, n, scale=1 / t, distance=distance, symmetric=symmetric, weight=w
    )
    want = torch.autograd.grad(plain, [*leaves, t])
    for tile in (5, 64):
        got_loss = tiled_info_nce(
            a, p, n, temperature=t, distance=distance, symmetric=symmetric, tile_size=tile, weight=w
        )
        got = torch.autograd.grad(got_loss, [*leaves, t])
        torch.testing.assert_close(got_loss, plain, **tol(dtype))
        for g, e in zip(got, want, strict=True):
            torch.testing.assert_close(g, e, **tol(dtype))


def test_equals_info_nce_in_batch_float32_1e5(gen: torch.Generator) -> None:
    a, p, _ = _leaves(gen, 300, None, 32, torch.float32)
    plain = info_nce(a, p, temperature=0.05, reduction="none")
    tiled = tiled_info_nce(a, p, temperature=0.05, tile_size=64, reduction="none")
    torch.testing.assert_close(tiled, plain, atol=1e-5, rtol=1e-5)
    g_plain = torch.autograd.grad(plain.mean(), (a, p))
    g_tiled = torch.autograd.grad(tiled.mean(), (a, p))
    for x, y in zip(g_tiled, g_plain, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
    one = tiled_info_nce(a[:9], p[:9], symmetric=True, tile_size=1)  # 1 x 1 tiles
    torch.testing.assert_close(one, info_nce(a[:9], p[:9], symmetric=True), atol=1e-5, rtol=1e-5)
    mnr = tiled_multiple_negatives_ranking_loss(a, p, scale=20.0, tile_size=100)
    torch.testing.assert_close(mnr, multiple_negatives_ranking_loss(a, p), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("symmetric", [False, True])
def test_gradcheck_function_and_loss(symmetric: bool, gen: torch.Generator) -> None:
    """Also covers a single tile larger than the batch."""
    q = torch.randn(7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(12, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    for tile in (3, 50):
        assert torch.autograd.gradcheck(
            lambda q, k, t=tile: _TiledLogSumExp.apply(q, k, symmetric, t), (q, k)
        )
    a, p, n = _leaves(gen, 5, 2, 3, torch.float64)
    w = torch.rand(5, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, p, n: tiled_info_nce(
            a, p, n, temperature=0.5, symmetric=symmetric, tile_size=2, weight=w
        ),
        (a, p, n),
    )


def test_spans_cover_and_split() -> None:
    assert _spans(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert _spans(10, 4, split=6) == [(0, 4), (4, 6), (6, 10)]
    assert _spans(0, 4) == []
    assert tile_size_for(2**20, torch.float32) == 256
    assert tile_size_for(1, torch.float64) == 64


def test_memory_is_bounded_by_the_tile(gen: torch.Generator) -> None:
    """Nothing of size B x B is saved for backward or produced by any op, forward or backward."""
    b, d, tile = 384, 16, 96
    a, p, _ = _leaves(gen, b, None, d, torch.float32)
    saved: list[int] = []

    def pack(x: torch.Tensor) -> torch.Tensor:
        saved.append(x.numel())
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        loss = tiled_info_nce(a, p, tile_size=tile, symmetric=True)
    assert max(saved) <= b * d
    del loss

    # the probe sees the B x B logits of the plain form, so it can fail
    assert _largest_op_output(lambda: info_nce(a, p, symmetric=True)) >= b * b
    tiled = _largest_op_output(lambda: tiled_info_nce(a, p, tile_size=tile, symmetric=True))
    assert tiled <= max(tile * tile, b * d)


class _LargestOutput(TorchDispatchMode):
    """Records the largest tensor any aten op produces (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def _largest_op_output(fn) -> int:  # type: ignore[no-untyped-def]
    with _LargestOutput() as probe:
        fn().backward()
    return probe.largest


def test_degenerate(gen: torch.Generator) -> None:
    z = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    loss = tiled_info_nce(z, z.clone(), symmetric=True, tile_size=2)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(3.0)).item())
    assert torch.isfinite(torch.autograd.grad(loss, z)[0]).all()
    a, p, _ = _leaves(gen, 1, None, 4, torch.float64)
    assert tiled_info_nce(a, p).item() == 0.0
    empty = tiled_info_nce(a[:0], p[:0])
    assert empty.item() == 0.0 and empty.requires_grad


def test_bad_input(gen: torch.Generator) -> None:
    a, p, n = _leaves(gen, 4, 2, 3, torch.float32)
    with pytest.raises(ValueError, match="distance"):
        tiled_info_nce(a, p, distance="poincare")
    with pytest.raises(ValueError, match="tile_size"):
        tiled_info_nce(a, p, tile_size=0)
    with pytest.raises(ValueError, match="memory_budget"):
        tiled_info_nce(a, p, memory_budget=-5)
    with pytest.raises(ValueError, match="tile_size"):
        tiled_info_nce(a, p, tile_size=8, memory_budget=2**20)
    with pytest.raises(ValueError, match="temperature"):
        tiled_info_nce(a, p, temperature=-1.0)
    with pytest.raises(ValueError, match="scale"):
        tiled_multiple_negatives_ranking_loss(a, p, scale=0.0)
    with pytest.raises(ValueError, match="negatives"):
        tiled_info_nce(a, p, n[:3])
    with pytest.raises(ValueError, match="anchors"):
        tiled_info_nce(a[0], p)
