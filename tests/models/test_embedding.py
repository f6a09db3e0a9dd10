"""EmbeddingTable: Euclidean and Poincaré rows, sparse gradients, Riemannian steps."""

from __future__ import annotations

import pytest
import torch

from contrastkit.models.embedding import EmbeddingTable


def test_euclidean_lookup_and_init() -> None:
    t = EmbeddingTable(20, 5, init_scale=0.1, generator=3)
    assert t.weight.abs().max() <= 0.1
    idx = torch.tensor([[1, 2], [3, 1]])
    out = t(idx)
    assert out.shape == (2, 2, 5)
    assert torch.equal(out[0, 0], t.weight[1])
    assert torch.equal(
        EmbeddingTable(20, 5, generator=3).weight, EmbeddingTable(20, 5, generator=3).weight
    )


def test_sparse_gradient() -> None:
    t = EmbeddingTable(50, 4, sparse=True)
    t(torch.tensor([3, 7, 3])).sum().backward()
    g = t.weight.grad
    assert g.is_sparse
    dense = g.to_dense()
    assert torch.equal(torch.nonzero(dense.abs().sum(1)).flatten(), torch.tensor([3, 7]))
    assert torch.allclose(dense[3], torch.full((4,), 2.0))
    opt = torch.optim.SparseAdam(t.parameters(), lr=0.1)
    before = t.weight.detach().clone()
    opt.step()
    changed = (t.weight.detach() != before).any(1)
    assert changed.nonzero().flatten().tolist() == [3, 7]


def test_poincare_parameter_and_riemannian_step() -> None:
    geoopt = pytest.importorskip("geoopt")
    t = EmbeddingTable(30, 2, manifold="poincare", generator=0)
    assert isinstance(t.weight, geoopt.ManifoldParameter)
    assert isinstance(t.weight.manifold, geoopt.PoincareBall)
    opt = geoopt.optim.RiemannianSGD(t.parameters(), lr=5.0)
    for _ in range(20):
        opt.zero_grad()
        (-t(torch.arange(30)).norm(dim=1).sum()).backward()  # push every point outwards
        opt.step()
    norms = t.weight.detach().norm(dim=1)
    assert bool((norms < 1).all())
    assert float(norms.min()) > 0.5


def test_poincare_sparse_riemannian() -> None:
    geoopt = pytest.importorskip("geoopt")
    t = EmbeddingTable(30, 3, manifold="poincare", sparse=True, curvature=2.0)
    opt = geoopt.optim.SparseRiemannianSGD(t.parameters(), lr=1.0)
    for _ in range(10):
        opt.zero_grad()
        (-t(torch.tensor([0, 5])).sum()).backward()
        opt.step()
    assert bool((t.weight.norm(dim=1) < 2**-0.5).all())


def test_project_and_state_dict() -> None:
    pytest.importorskip("geoopt")
    t = EmbeddingTable(4, 2, manifold="poincare")
    with torch.no_grad():
        t.weight.mul_(0).add_(3.0)
    t.project_()
    assert bool((t.weight.norm(dim=1) < 1).all())
    u = EmbeddingTable(4, 2, manifold="poincare", generator=9)
    u.load_state_dict(t.state_dict())
    assert torch.equal(u.weight, t.weight)


def test_bad_input() -> None:
    t = EmbeddingTable(5, 2)
    with pytest.raises(ValueError, match="index"):
        t(torch.tensor([5]))
    with pytest.raises(ValueError, match="index"):
        t(torch.tensor([-1]))
    with pytest.raises(TypeError, match="index"):
        t(torch.tensor([0.0]))
    with pytest.raises(ValueError, match="manifold"):
        EmbeddingTable(5, 2, manifold="sphere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_embeddings"):
        EmbeddingTable(0, 2)
    with pytest.raises(ValueError, match="init_scale"):
        EmbeddingTable(3, 2, init_scale=0.0)
    assert t(torch.zeros(0, dtype=torch.int64)).shape == (0, 2)


def test_float64_table_starts_where_the_float32_one_does() -> None:
    pytest.importorskip("geoopt")
    for manifold in ("euclidean", "poincare"):
        t32 = EmbeddingTable(40, 3, manifold=manifold, generator=4)  # type: ignore[arg-type]
        t64 = EmbeddingTable(
            40,
            3,
            manifold=manifold,  # type: ignore[arg-type]
            dtype=torch.float64,
            generator=4,
        )
        assert t64.weight.dtype == torch.float64
        assert t64(torch.tensor([1, 2])).dtype == torch.float64
        assert torch.equal(t64.weight.detach().float(), t32.weight.detach())
    with pytest.raises(TypeError, match="dtype"):
        EmbeddingTable(3, 2, dtype=torch.float16)


def test_float64_resolves_steps_near_the_boundary_that_float32_loses() -> None:
    # a point 4e-5 from the unit sphere (where half of a trained noun embedding sits)
    # moved by 1e-3 in hyperbolic distance along the sphere: float32 rounds the move
    # to a multiple of its spacing, ~6e-8 here, i.e. ~3e-3 of hyperbolic distance
    from contrastkit.functional.distances import PoincareDistance

    dist = PoincareDistance(eps=1e-12)
    direction = torch.nn.functional.normalize(torch.tensor([0.3, -0.5, 0.2, 0.7]), dim=0)
    tangent = torch.nn.functional.normalize(torch.tensor([0.5, 0.3, 0.0, 0.0]), dim=0)
    tangent = tangent - (tangent @ direction) * direction
    errors = {}
    for dtype in (torch.float32, torch.float64):
        x = (1 - 4e-5) * direction.double()
        lam = 2 / (1 - x.norm() ** 2)  # the conformal factor: Euclidean length = hyperbolic / lam
        y = x + (1e-3 / lam) * torch.nn.functional.normalize(tangent.double(), dim=0)
        moved = dist.paired(x.to(dtype).double(), y.to(dtype).double())
        errors[dtype] = abs(float(moved) - 1e-3)
    assert errors[torch.float64] < 1e-6
    assert errors[torch.float32] > 1e-4
