"""Local (Hadsell) and multi-hop contrastive losses: loops, gradcheck, degenerate, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.functional.pair_contrastive import (
    local_contrastive_loss,
    multi_hop_contrastive_loss,
)
from tests.conftest import tol

D = torch.float64


def floor(dtype):
    """The squared-distance floor of L2Distance (keeps sqrt differentiable at 0)."""
    return 1e-12 if dtype == torch.float64 else 1e-10


def ref_local(z, ei, similar, margin, dist="euclidean", weight=None, reduction="mean"):
    losses, ws = [], []
    for e in range(ei.shape[1]):
        u, v = z[ei[0, e]].double(), z[ei[1, e]].double()
        sq = float(((u - v) ** 2).sum())
        d = sq if dist == "sqeuclidean" else math.sqrt(max(sq, floor(z.dtype)))
        sim = True if similar is None else bool(similar[e])
        losses.append(d * d if sim else max(0.0, margin - d) ** 2)
        ws.append(1.0 if weight is None else float(weight[e]))
    if reduction == "none":
        return torch.tensor([w * v for w, v in zip(ws, losses, strict=True)], dtype=D)
    total = sum(w * v for w, v in zip(ws, losses, strict=True))
    if reduction == "sum":
        return torch.tensor(total, dtype=D)
    return torch.tensor(total / sum(ws) if sum(ws) > 0 else 0.0, dtype=D)


def _graph(gen, n=7, e=12):
    ei = torch.randint(0, n, (2, e), generator=gen)
    similar = torch.rand(e, generator=gen) > 0.5
    return ei, similar


@pytest.mark.parametrize("dist", ["euclidean", "sqeuclidean"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_local_matches_brute_force(dist, reduction, dtype, gen):
    z = torch.randn(7, 3, generator=gen, dtype=dtype)
    ei, similar = _graph(gen)
    w = torch.rand(12, generator=gen, dtype=dtype)
    for sim, weight in [(similar, None), (similar, w), (None, None)]:
        got = local_contrastive_loss(
            z, ei, sim, margin=2.0, distance=dist, reduction=reduction, weight=weight
        )
        want = ref_local(z, ei, sim, 2.0, dist, weight, reduction)
        torch.testing.assert_close(got.double(), want, **tol(dtype))


def test_local_seed_example_and_normalize(gen):
    """All-similar pairs give the seed's mean of squared Euclidean distances; normalize
    turns it into 2 - 2 cos."""
    z = torch.randn(5, 4, generator=gen)
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    want = ((z[ei[0]] - z[ei[1]]) ** 2).sum(1).mean()
    torch.testing.assert_close(local_contrastive_loss(z, ei), want)
    cos = torch.nn.functional.cosine_similarity(z[ei[0]], z[ei[1]])
    torch.testing.assert_close(local_contrastive_loss(z, ei, normalize=True), (2 - 2 * cos).mean())


def test_local_poincare_finite(gen):
    z = 0.3 * torch.randn(6, 2, generator=gen)
    ei, similar = _graph(gen, n=6, e=8)
    assert torch.isfinite(local_contrastive_loss(z, ei, similar, distance="poincare"))


@pytest.mark.parametrize("dist", ["euclidean", "sqeuclidean", "poincare"])
def test_local_gradcheck(dist, gen):
    z = (0.3 * torch.randn(6, 3, generator=gen, dtype=D)).requires_grad_()
    ei = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 5]])
    similar = torch.tensor([True, False, True, False, False, True])
    w = torch.rand(6, generator=gen, dtype=D)

    def fn(z):
        return local_contrastive_loss(z, ei, similar, margin=1.5, distance=dist, weight=w)

    assert torch.autograd.gradcheck(fn, (z,))


def test_multi_hop_matches_brute_force(dtype, gen):
    z = torch.randn(8, 3, generator=gen, dtype=dtype)
    one, two, three = (torch.randint(0, 8, (2, k), generator=gen) for k in (5, 4, 3))
    neg = torch.randint(0, 8, (2, 6), generator=gen)
    hw = [1.0, 0.5, 0.2]
    got = multi_hop_contrastive_loss(
        z,
        [one, two, three],
        hop_weights=hw,
        negative_edge_index=neg,
        negative_weight=0.7,
        margin=1.5,
    )
    num = den = 0.0
    for h, ei in enumerate([one, two, three]):
        for e in range(ei.shape[1]):
            d2 = float(((z[ei[0, e]] - z[ei[1, e]]).double() ** 2).sum())
            num, den = num + hw[h] * d2, den + hw[h]
    for e in range(neg.shape[1]):
        sq = float(((z[neg[0, e]] - z[neg[1, e]]).double() ** 2).sum())
        d = max(sq, floor(dtype)) ** 0.5
        num, den = num + 0.7 * max(0.0, 1.5 - d) ** 2, den + 0.7
    torch.testing.assert_close(got.double(), torch.tensor(num / den, dtype=D), **tol(dtype))


def test_multi_hop_tensor_form_and_default_weights(gen):
    z = torch.randn(6, 2, generator=gen, dtype=D)
    one, two = torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0, 3, 4], [2, 5, 1]])
    as_list = multi_hop_contrastive_loss(z, [one, two], reduction="none")
    hop = torch.tensor([1, 1, 2, 2, 2])
    as_tensor = multi_hop_contrastive_loss(z, torch.cat([one, two], 1), hop, reduction="none")
    torch.testing.assert_close(as_list, as_tensor)
    d2 = ((z[[0, 1, 0, 3, 4]] - z[[1, 2, 2, 5, 1]]) ** 2).sum(1)
    torch.testing.assert_close(as_list, d2 * torch.tensor([1, 1, 0.5, 0.5, 0.5], dtype=D))


def test_multi_hop_per_pair_weight(gen):
    z = torch.randn(6, 2, generator=gen, dtype=D)
    hops = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0], [3]])]
    neg = torch.tensor([[4], [5]])
    w = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=D)
    plain = multi_hop_contrastive_loss(z, hops, negative_edge_index=neg, reduction="none")
    weighted = multi_hop_contrastive_loss(
        z, hops, negative_edge_index=neg, reduction="none", weight=w
    )
    torch.testing.assert_close(weighted, plain * w)
    mean = multi_hop_contrastive_loss(z, hops, negative_edge_index=neg, weight=w)
    total_w = (torch.tensor([1.0, 1.0, 0.5, 1.0], dtype=D) * w).sum()
    torch.testing.assert_close(mean, weighted.sum() / total_w)
    with pytest.raises(ValueError, match="weight"):
        multi_hop_contrastive_loss(z, hops, negative_edge_index=neg, weight=w[:3])


def test_multi_hop_gradcheck(gen):
    z = torch.randn(5, 2, generator=gen, dtype=D, requires_grad=True)
    hops = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0], [2]])]
    neg = torch.tensor([[0, 3], [4, 1]])

    def fn(z):
        return multi_hop_contrastive_loss(z, hops, negative_edge_index=neg, margin=5.0)

    assert torch.autograd.gradcheck(fn, (z,))


def test_empty_edges_give_attached_zero():
    z = torch.randn(4, 3, requires_grad=True)
    empty = torch.zeros(2, 0, dtype=torch.long)
    for loss in [
        local_contrastive_loss(z, empty),
        local_contrastive_loss(z, empty, torch.zeros(0, dtype=torch.bool)),
        multi_hop_contrastive_loss(z, []),
        multi_hop_contrastive_loss(z, [empty, empty]),
        multi_hop_contrastive_loss(z, empty, torch.zeros(0, dtype=torch.long)),
    ]:
        assert loss.item() == 0.0 and loss.requires_grad
        (grad,) = torch.autograd.grad(loss, z)
        assert torch.equal(grad, torch.zeros_like(z))


def test_zero_vectors_and_self_pairs_are_finite():
    z = torch.zeros(3, 4, requires_grad=True)
    ei = torch.tensor([[0, 1, 2], [1, 1, 0]])
    for dist in ["euclidean", "poincare", "sqeuclidean"]:
        loss = local_contrastive_loss(z, ei, torch.tensor([True, False, False]), distance=dist)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
        z.grad = None
    # coincident dissimilar pairs are pushed with the full margin
    assert local_contrastive_loss(z, ei, torch.tensor([False, False, False]), margin=2.0) > 3.99


def test_bad_inputs():
    z = torch.randn(4, 3)
    ei = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="edge_index"):
        local_contrastive_loss(z, torch.tensor([[0, 1], [2, 4]]))
    with pytest.raises(ValueError, match="edge_index"):
        local_contrastive_loss(z, torch.tensor([[0, -1], [2, 3]]))
    with pytest.raises(ValueError, match="edge_index"):
        local_contrastive_loss(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="margin"):
        local_contrastive_loss(z, ei, margin=-1.0)
    with pytest.raises(ValueError, match="z"):
        local_contrastive_loss(z[0], ei)
    with pytest.raises(ValueError, match="similar"):
        local_contrastive_loss(z, ei, torch.tensor([True]))
    with pytest.raises(TypeError, match="similar"):
        local_contrastive_loss(z, ei, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="weight"):
        local_contrastive_loss(z, ei, weight=torch.ones(3))
    with pytest.raises(ValueError, match="distance"):
        local_contrastive_loss(z, ei, distance="cosine")
    with pytest.raises(ValueError, match="edge_index"):
        multi_hop_contrastive_loss(z, [ei, torch.tensor([[0], [9]])])
    with pytest.raises(ValueError, match="hop"):
        multi_hop_contrastive_loss(z, ei)
    with pytest.raises(ValueError, match="hop"):
        multi_hop_contrastive_loss(z, ei, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="hop_weights"):
        multi_hop_contrastive_loss(z, [ei, ei], hop_weights=[1.0])
    with pytest.raises(ValueError, match="hop_weights"):
        multi_hop_contrastive_loss(z, [ei], hop_weights=[-1.0])
    with pytest.raises(ValueError, match="negative_edge_index"):
        multi_hop_contrastive_loss(z, [ei], negative_edge_index=torch.tensor([[5], [0]]))
    with pytest.raises(ValueError, match="negative_weight"):
        multi_hop_contrastive_loss(z, [ei], negative_weight=-0.5)
