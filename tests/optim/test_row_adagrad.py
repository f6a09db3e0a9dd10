"""Row-wise (Riemannian) Adagrad: torch's Adagrad where a row is one element, the
formula row by row, sparse gradients equal to dense ones, the sparse table step equal
to the optimiser, and its state surviving a checkpoint."""

from __future__ import annotations

from pathlib import Path

import geoopt
import pytest
import torch

from contrastkit.functional.distances import get_distance
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.models.embedding import EmbeddingTable
from contrastkit.optim.factory import OptimizerConfig, build_optimizer
from contrastkit.optim.row_adagrad import RowAdagrad
from contrastkit.train.table_step import SparseTableStep
from contrastkit.train.trainer import Trainer
from tests.train._both_paths import trainers_on_both_paths

GEOOPT_FLOAT32_EPS = 4e-3


def test_on_a_vector_it_is_torchs_adagrad() -> None:
    gen = torch.Generator().manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(7, generator=gen))
    ref = torch.nn.Parameter(ours.detach().clone())
    opt, peer = RowAdagrad([ours], lr=0.3), torch.optim.Adagrad([ref], lr=0.3, eps=1e-10)
    for _ in range(4):
        g = torch.randn(7, generator=gen)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        peer.step()
    torch.testing.assert_close(ours.detach(), ref.detach())


def test_euclidean_rows_follow_the_formula() -> None:
    gen = torch.Generator().manual_seed(1)
    w = torch.nn.Parameter(torch.randn(5, 3, generator=gen))
    x, s = w.detach().clone(), torch.zeros(5)
    opt = RowAdagrad([w], lr=0.2, eps=1e-6)
    for _ in range(3):
        g = torch.randn(5, 3, generator=gen)
        g[2] = 0.0  # a row without gradient stays put and keeps its sum
        w.grad = g
        opt.step()
        s = s + (g * g).mean(1)
        step = torch.where(s[:, None] > 0, g / (s.sqrt()[:, None] + 1e-6), 0.0)
        x = x - 0.2 * step
    torch.testing.assert_close(w.detach(), x)
    torch.testing.assert_close(opt.state[w]["sum"], s)


def test_poincare_rows_take_riemannian_steps() -> None:
    ball = geoopt.PoincareBall()
    gen = torch.Generator().manual_seed(2)
    start = 0.3 * torch.randn(6, 2, generator=gen)
    w = geoopt.ManifoldParameter(start.clone(), manifold=ball)
    opt = RowAdagrad([w], lr=0.1)
    g = torch.randn(6, 2, generator=gen)
    w.grad = g.clone()
    opt.step()
    conformal = (1 - (start * start).sum(1, keepdim=True)) ** 2 / 4  # 1 / lambda_x^2
    s = (conformal * g * g).mean(1, keepdim=True)  # |rgrad|_x^2 / d
    tangent = 0.1 * conformal * g / s.sqrt()
    torch.testing.assert_close(w.detach(), ball.projx(start - tangent))
    # on the first step each row's tangent step has Riemannian length lr * sqrt(d)
    torch.testing.assert_close(ball.norm(start, tangent), torch.full((6,), 0.1 * 2**0.5))


@pytest.mark.parametrize("manifold", ["euclidean", "poincare"])
def test_sparse_gradients_update_like_dense_ones(manifold: str) -> None:
    def table(sparse: bool) -> torch.nn.Embedding:
        emb = torch.nn.Embedding(10, 3, sparse=sparse)
        with torch.no_grad():
            emb.weight.copy_(0.2 * torch.randn(10, 3, generator=torch.Generator().manual_seed(3)))
        if manifold == "poincare":
            emb.weight = geoopt.ManifoldParameter(
                emb.weight.detach(), manifold=geoopt.PoincareBall()
            )
        return emb

    ids = torch.tensor([1, 4, 4, 7])
    weights = []
    for sparse in (False, True):
        emb = table(sparse)
        opt = build_optimizer(OptimizerConfig("radagrad", lr=0.1), emb)
        assert isinstance(opt, RowAdagrad)
        for _ in range(2):
            opt.zero_grad()
            emb(ids).pow(2).sum().backward()
            opt.step()
        weights.append(emb.weight.detach())
    torch.testing.assert_close(weights[0], weights[1])


def test_bad_arguments_are_named() -> None:
    w = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="lr"):
        RowAdagrad([w], lr=0.0)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        RowAdagrad([w], initial_accumulator_value=-1.0)
    step = SparseTableStep(EmbeddingTable(4, 2), get_distance("dot"))
    with pytest.raises(ValueError, match="accumulator"):
        step.apply([(torch.tensor([0]), torch.ones(1, 2))], 0.1, accumulator=torch.zeros(3))


@pytest.mark.parametrize(
    ("manifold", "distance", "dim", "n"),
    [
        ("euclidean", "sqeuclidean", 4, 40),
        ("poincare", "poincare", 4, 40),
        ("poincare", "poincare", 40, 40),  # row-major
        ("poincare", "poincare", 4, 400),  # few rows touched: the row path
    ],
)
def test_the_sparse_table_step_equals_the_optimiser(
    manifold: str, distance: str, dim: int, n: int
) -> None:
    def table() -> EmbeddingTable:
        gen = torch.Generator().manual_seed(0)
        return EmbeddingTable(n, dim, manifold=manifold, init_scale=0.3, generator=gen)

    ref, ours = table(), table()
    gen = torch.Generator().manual_seed(1)
    u = torch.randint(0, n, (16,), generator=gen)
    cand = torch.randint(0, n, (16, 7), generator=gen)
    dist = get_distance(distance)
    opt = RowAdagrad(ref.parameters(), lr=0.2)
    step = SparseTableStep(ours, dist, ball_eps=GEOOPT_FLOAT32_EPS)
    acc = torch.zeros(n)
    for _ in range(3):
        opt.zero_grad()
        relation_softmax_loss(ref(u), ref(cand), None, 0.5, dist).backward()
        opt.step()
        _, grads = step.loss_and_grads(u, cand, None, 0.5)
        step.apply(step.candidate_rows(u, cand, grads), 0.2, accumulator=acc)
    torch.testing.assert_close(ours.weight.detach(), ref.weight.detach(), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(acc, opt.state[ref.weight]["sum"], atol=1e-6, rtol=1e-5)


BASE = ["loop.progress=false", "output.report=false", "loop.epochs=1", "optim.name=radagrad"]


def test_the_trainers_sparse_step_uses_and_checkpoints_the_accumulator(tmp_path: Path) -> None:
    common = [*BASE, "miner.strategy=uniform", "optim.lr=0.3", "loop.burn_in_epochs=0"]
    weights = []
    for trainer in trainers_on_both_paths(tmp_path, common):
        weights.append(trainer.encoder.state_dict()["table.weight"].clone())
        acc = trainer.schedules.optimizer.state[trainer.encoder.table.weight]["sum"]
        assert int((acc > 0).sum()) > 64  # anchors, positives and negatives accumulated
        restored = Trainer(trainer.config)
        restored.load_state_dict(trainer.state_dict())
        again = restored.schedules.optimizer.state[restored.encoder.table.weight]["sum"]
        torch.testing.assert_close(again, acc)
    torch.testing.assert_close(weights[0], weights[1], atol=1e-6, rtol=1e-5)
