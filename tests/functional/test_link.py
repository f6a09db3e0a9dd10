"""Link prediction and adjacency reconstruction: loops, PyG GAE, gradcheck, edge cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastkit.functional.link import (
    dense_adjacency_reconstruction_loss,
    link_logits,
    link_prediction_loss,
    sparse_adjacency_reconstruction_loss,
)
from tests.conftest import tol

D = torch.float64


def softplus(x: float) -> float:
    """-log sigmoid(-x), written out stably."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def ref_logit(z, i, j, dist, tau, bias):
    u, v = z[i].double(), z[j].double()
    if dist == "dot":
        s = float(u @ v)
    elif dist == "cosine":
        s = float(u @ v / (u.norm() * v.norm()))
    else:
        s = -float(((u - v) ** 2).sum())
    return s / tau + bias


@pytest.mark.parametrize("dist", ["dot", "cosine", "sqeuclidean"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_link_prediction_matches_brute_force(dist, reduction, dtype, gen):
    z = torch.randn(6, 3, generator=gen, dtype=dtype)
    pos, neg = (torch.randint(0, 6, (2, k), generator=gen) for k in (5, 4))
    pw, nw = torch.rand(5, generator=gen, dtype=dtype), torch.rand(4, generator=gen, dtype=dtype)
    got = link_prediction_loss(
        z,
        pos,
        neg,
        distance=dist,
        temperature=0.5,
        bias=0.3,
        reduction=reduction,
        pos_edge_weight=pw,
        neg_edge_weight=nw,
    )
    losses = [softplus(-ref_logit(z, *pos[:, e].tolist(), dist, 0.5, 0.3)) for e in range(5)]
    losses += [softplus(ref_logit(z, *neg[:, e].tolist(), dist, 0.5, 0.3)) for e in range(4)]
    w = pw.tolist() + nw.tolist()
    weighted = [a * b for a, b in zip(w, losses, strict=True)]
    want = {
        "none": torch.tensor(weighted, dtype=D),
        "sum": torch.tensor(sum(weighted), dtype=D),
        "mean": torch.tensor(sum(weighted) / sum(w), dtype=D),
    }[reduction]
    torch.testing.assert_close(got.double(), want, **tol(dtype))


def test_link_prediction_equals_bce_with_logits(gen):
    z = torch.randn(8, 4, generator=gen)
    pos, neg = (torch.randint(0, 8, (2, 6), generator=gen) for _ in range(2))
    logits = torch.cat([(z[pos[0]] * z[pos[1]]).sum(1), (z[neg[0]] * z[neg[1]]).sum(1)])
    labels = torch.cat([torch.ones(6), torch.zeros(6)])
    want = F.binary_cross_entropy_with_logits(logits, labels)
    torch.testing.assert_close(link_prediction_loss(z, pos, neg), want)


def test_link_logits_tensor_temperature_gets_gradient(gen):
    z = torch.randn(4, 3, generator=gen)
    tau = torch.tensor(0.2, requires_grad=True)
    bias = torch.tensor(0.1, requires_grad=True)
    ei = torch.tensor([[0, 1], [2, 3]])
    out = link_logits(z, ei, distance="cosine", temperature=tau, bias=bias)
    torch.testing.assert_close(out, F.cosine_similarity(z[[0, 1]], z[[2, 3]]) / 0.2 + 0.1)
    out.sum().backward()
    assert tau.grad is not None and bias.grad is not None and tau.grad != 0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sparse_reconstruction_matches_brute_force(reduction, gen):
    z = torch.randn(7, 3, generator=gen, dtype=D)
    pos, neg = (
        torch.randint(0, 7, (2, 5), generator=gen),
        torch.randint(0, 7, (2, 3), generator=gen),
    )
    got = sparse_adjacency_reconstruction_loss(z, pos, neg, reduction=reduction)
    lp = [softplus(-ref_logit(z, *pos[:, e].tolist(), "dot", 1.0, 0.0)) for e in range(5)]
    ln = [softplus(ref_logit(z, *neg[:, e].tolist(), "dot", 1.0, 0.0)) for e in range(3)]
    want = {
        "mean": torch.tensor(sum(lp) / 5 + sum(ln) / 3, dtype=D),
        "sum": torch.tensor(sum(lp) + sum(ln), dtype=D),
        "none": torch.tensor(lp + ln, dtype=D),
    }[reduction]
    torch.testing.assert_close(got, want)


@pytest.mark.peers
def test_pyg_gae_recon_loss_agrees(dtype, gen):
    """PyG evaluates -log(sigmoid(x) + 1e-15); with |x| < 20 that is -logsigmoid(x) to 1e-7
    relative, so the two agree to 1e-5 (float32) / 1e-7 (float64)."""
    nn_mod = pytest.importorskip("torch_geometric.nn")
    z = torch.randn(30, 8, generator=gen, dtype=dtype, requires_grad=True)
    pos, neg = (
        torch.randint(0, 30, (2, 60), generator=gen),
        torch.randint(0, 30, (2, 50), generator=gen),
    )
    theirs = nn_mod.GAE(torch.nn.Identity()).recon_loss(z, pos, neg)
    ours = sparse_adjacency_reconstruction_loss(z, pos, neg)
    atol = 1e-5 if dtype == torch.float32 else 1e-7
    torch.testing.assert_close(ours, theirs, atol=atol, rtol=atol)
    g_ours, g_theirs = (torch.autograd.grad(v, z)[0] for v in (ours, theirs))
    torch.testing.assert_close(g_ours, g_theirs, atol=atol, rtol=atol)


def test_sparse_reconstruction_samples_with_generator(gen):
    z = torch.randn(10, 3, generator=gen)
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    a = sparse_adjacency_reconstruction_loss(z, ei, generator=torch.Generator().manual_seed(3))
    b = sparse_adjacency_reconstruction_loss(z, ei, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    none = sparse_adjacency_reconstruction_loss(
        z, ei, num_neg_samples=7, generator=gen, reduction="none"
    )
    assert none.shape == (11,)


@pytest.mark.parametrize("pos_weight", [None, 3.0, "auto"])
@pytest.mark.parametrize("include_diagonal", [True, False])
def test_dense_reconstruction_matches_brute_force(pos_weight, include_diagonal, dtype, gen):
    n = 5
    z = torch.randn(n, 3, generator=gen, dtype=dtype)
    ei = torch.tensor([[0, 1, 2, 3, 3], [1, 0, 3, 2, 3]])
    a = torch.zeros(n, n)
    a[ei[0], ei[1]] = 1.0
    cells = [(i, j) for i in range(n) for j in range(n) if include_diagonal or i != j]
    ones = sum(a[i, j].item() for i, j in cells)
    w = {None: 1.0, 3.0: 3.0, "auto": (len(cells) - ones) / ones}[pos_weight]
    total = 0.0
    for i, j in cells:
        x = ref_logit(z, i, j, "dot", 1.0, 0.0)
        total += w * softplus(-x) if a[i, j] else softplus(x)
    got = dense_adjacency_reconstruction_loss(
        z, edge_index=ei, pos_weight=pos_weight, include_diagonal=include_diagonal
    )
    torch.testing.assert_close(
        got.double(), torch.tensor(total / len(cells), dtype=D), **tol(dtype)
    )
    from_dense = dense_adjacency_reconstruction_loss(
        z, a.to(dtype), pos_weight=pos_weight, include_diagonal=include_diagonal
    )
    torch.testing.assert_close(got, from_dense)


def test_dense_reconstruction_reductions_and_weight(gen):
    z = torch.randn(4, 2, generator=gen, dtype=D)
    a = (torch.rand(4, 4, generator=gen) > 0.5).to(D)
    w = torch.rand(4, 4, generator=gen, dtype=D)
    none = dense_adjacency_reconstruction_loss(z, a, reduction="none", include_diagonal=False)
    assert none.shape == (4, 4) and torch.all(none.diagonal() == 0)
    plain = F.binary_cross_entropy_with_logits(z @ z.T, a, reduction="none")
    torch.testing.assert_close(dense_adjacency_reconstruction_loss(z, a, reduction="none"), plain)
    got = dense_adjacency_reconstruction_loss(z, a, weight=w)
    torch.testing.assert_close(got, (plain * w).sum() / w.sum())


def test_gradcheck(gen):
    z = torch.randn(5, 3, generator=gen, dtype=D, requires_grad=True)
    tau = torch.tensor(0.7, dtype=D, requires_grad=True)
    pos, neg = torch.tensor([[0, 1, 2], [1, 2, 3]]), torch.tensor([[0, 4], [3, 1]])
    a = torch.zeros(5, 5, dtype=D)
    a[pos[0], pos[1]] = 1.0
    fns = [
        lambda z, t: link_prediction_loss(z, pos, neg, distance="cosine", temperature=t),
        lambda z, t: link_prediction_loss(  # scaled into the Poincaré ball
            0.2 * z, pos, neg, distance="poincare", temperature=t, bias=1.0
        ),
        lambda z, t: sparse_adjacency_reconstruction_loss(z, pos, neg, temperature=t),
        lambda z, t: dense_adjacency_reconstruction_loss(z, a, pos_weight="auto", temperature=t),
    ]
    for fn in fns:
        assert torch.autograd.gradcheck(fn, (z, tau), fast_mode=True)


def test_extreme_logits_stay_finite():
    z = torch.tensor([[100.0, 0.0], [100.0, 0.0], [-100.0, 0.0]], requires_grad=True)
    loss = link_prediction_loss(z, torch.tensor([[0], [2]]), torch.tensor([[0], [1]]))
    loss.backward()
    assert torch.isfinite(loss) and loss > 1e3 and torch.isfinite(z.grad).all()


def test_empty_and_degenerate_inputs():
    z = torch.zeros(3, 2, requires_grad=True)
    empty = torch.zeros(2, 0, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    for loss in [
        link_prediction_loss(z, empty, empty),
        sparse_adjacency_reconstruction_loss(z, empty, empty),
        sparse_adjacency_reconstruction_loss(z, empty, generator=g),
    ]:
        assert loss.item() == 0.0 and loss.requires_grad
        (grad,) = torch.autograd.grad(loss, z)
        assert torch.equal(grad, torch.zeros_like(z))
    # zero vectors: cosine logits are 0, loss is log 2 per pair
    loss = link_prediction_loss(z, torch.tensor([[0], [1]]), empty, distance="cosine")
    torch.testing.assert_close(loss, torch.tensor(math.log(2.0)))
    # an empty graph and a boolean adjacency
    none = dense_adjacency_reconstruction_loss(
        torch.zeros(0, 2, requires_grad=True), torch.zeros(0, 0)
    )
    assert none.item() == 0.0 and none.requires_grad
    adj = torch.tensor([[False, True, False], [True, False, False], [False, False, False]])
    torch.testing.assert_close(
        dense_adjacency_reconstruction_loss(z, adj),
        dense_adjacency_reconstruction_loss(z, adj.float()),
    )
    # a graph with no edges: "auto" has no positives to weight and falls back to 1
    dense = dense_adjacency_reconstruction_loss(z, edge_index=empty, pos_weight="auto")
    torch.testing.assert_close(dense, torch.tensor(math.log(2.0)))


def test_bad_inputs():
    z = torch.randn(4, 3)
    ei = torch.tensor([[0, 1], [2, 3]])
    bad = torch.tensor([[0, 1], [2, 4]])
    with pytest.raises(ValueError, match="pos_edge_index"):
        link_prediction_loss(z, bad, ei)
    with pytest.raises(ValueError, match="neg_edge_index"):
        link_prediction_loss(z, ei, bad)
    with pytest.raises(ValueError, match="edge_index"):
        sparse_adjacency_reconstruction_loss(z, bad, ei)
    with pytest.raises(ValueError, match="edge_index"):
        link_logits(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="temperature"):
        link_prediction_loss(z, ei, ei, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        link_prediction_loss(z, ei, ei, temperature=torch.tensor(-1.0))
    with pytest.raises(ValueError, match="z"):
        link_prediction_loss(z[0], ei, ei)
    with pytest.raises(ValueError, match="pos_edge_weight"):
        link_prediction_loss(z, ei, ei, pos_edge_weight=torch.ones(3))
    with pytest.raises(ValueError, match="generator"):
        sparse_adjacency_reconstruction_loss(z, ei)
    with pytest.raises(ValueError, match="num_neg_samples"):
        sparse_adjacency_reconstruction_loss(z, ei, ei, num_neg_samples=3)
    with pytest.raises(ValueError, match="adjacency"):
        dense_adjacency_reconstruction_loss(z, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="adjacency"):
        dense_adjacency_reconstruction_loss(z)
    with pytest.raises(ValueError, match="edge_index"):
        dense_adjacency_reconstruction_loss(z, edge_index=bad)
    with pytest.raises(ValueError, match="pos_weight"):
        dense_adjacency_reconstruction_loss(z, edge_index=ei, pos_weight=-2.0)
    with pytest.raises(TypeError, match="pos_weight"):
        dense_adjacency_reconstruction_loss(z, edge_index=ei, pos_weight="balanced")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distance"):
        link_prediction_loss(z, ei, ei, distance="jaccard")
