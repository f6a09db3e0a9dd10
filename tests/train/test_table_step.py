"""The sparse fused table step: equal to the generic autograd + optimiser step, its
sparse and dense update paths equal, duplicates accumulated, and who may use it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from contrastkit.functional.distances import get_distance
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.models.embedding import EmbeddingTable
from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.train.table_step import SparseTableStep
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.train._both_paths import trainers_on_both_paths

GEOOPT_FLOAT32_EPS = 4e-3  # geoopt's PoincareBall projection margin for float32


def _table(n: int, manifold: str, seed: int = 0, dim: int = 4) -> EmbeddingTable:
    gen = torch.Generator().manual_seed(seed)
    return EmbeddingTable(n, dim, manifold=manifold, init_scale=0.3, generator=gen)


def _batch(n: int, b: int, k: int, seed: int = 1) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    u = torch.randint(0, n, (b,), generator=gen)
    cand = torch.randint(0, n, (b, k + 1), generator=gen)
    mask = torch.rand(b, k, generator=gen) > 0.2
    return u, cand, mask


@pytest.mark.parametrize(
    ("manifold", "distance", "optimizer", "dim"),
    [
        ("euclidean", "sqeuclidean", "sgd", 4),
        ("euclidean", "dot", "sgd", 4),
        ("poincare", "poincare", "rsgd", 4),
        ("euclidean", "sqeuclidean", "sgd", 40),  # wide: rows stay row-major
        ("poincare", "poincare", "rsgd", 40),
    ],
)
def test_sparse_step_equals_autograd_and_the_optimiser(
    manifold: str, distance: str, optimizer: str, dim: int
) -> None:
    n, lr = 40, 0.05
    ref, ours = _table(n, manifold, dim=dim), _table(n, manifold, dim=dim)
    u, cand, mask = _batch(n, 16, 6)
    if optimizer == "rsgd":
        import geoopt

        opt: torch.optim.Optimizer = geoopt.optim.RiemannianSGD(ref.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(ref.parameters(), lr=lr)
    dist = get_distance(distance)
    for _ in range(3):
        opt.zero_grad()
        relation_softmax_loss(ref(u), ref(cand), mask, 0.5, dist).backward()
        opt.step()
    step = SparseTableStep(ours, dist, ball_eps=GEOOPT_FLOAT32_EPS)
    assert step.feature_major == (dim <= 32)
    assert ours.weight.stride() == ((1, n) if dim <= 32 else (dim, 1))
    for _ in range(3):
        loss, grads = step.loss_and_grads(u, cand, mask, 0.5)
        step.apply(step.candidate_rows(u, cand, grads), lr)
    assert loss.ndim == 0 and torch.isfinite(loss)
    torch.testing.assert_close(ours.weight.detach(), ref.weight.detach(), atol=2e-6, rtol=1e-5)


def test_sparse_rows_path_equals_the_dense_pass() -> None:
    # 2 relations x 4 candidates touch < 40 % of 200 rows (the row path); the same
    # update through a table of 20 rows (the dense pass), rows mapped one to one
    big, small = _table(200, "poincare"), _table(20, "poincare")
    with torch.no_grad():
        big.weight[:20] = small.weight
    u, cand, mask = _batch(20, 2, 3)
    dist = get_distance("poincare")
    for table in (big, small):
        step = SparseTableStep(table, dist, ball_eps=1e-5)
        _, grads = step.loss_and_grads(u, cand, mask, 1.0)
        step.apply(step.candidate_rows(u, cand, grads), lr=0.5)
        assert not step.grad.any() and not step.touched.any()  # left clean for the next step
    torch.testing.assert_close(big.weight.detach()[:20], small.weight.detach())
    untouched = _table(200, "poincare").weight.detach()[20:]
    assert torch.equal(big.weight.detach()[20:], untouched)


def test_a_row_drawn_twice_gets_both_gradients() -> None:
    table = _table(300, "euclidean")
    step = SparseTableStep(table, get_distance("sqeuclidean"))
    before = table.weight.detach().clone()
    u = torch.tensor([0, 1])
    cand = torch.tensor([[5, 7], [5, 7]])  # row 5 is both relations' positive
    _, (gu, gc) = step.loss_and_grads(u, cand, None, 1.0)
    step.apply(step.candidate_rows(u, cand, (gu, gc)), lr=1.0)
    expected = before[5] - gc[0, 0] - gc[1, 0]
    torch.testing.assert_close(table.weight.detach()[5], expected)


def test_the_poincare_update_keeps_rows_inside_the_ball_at_n_and_k_margin() -> None:
    table = _table(30, "poincare")
    step = SparseTableStep(table, get_distance("poincare"), ball_eps=1e-5)
    u, cand, mask = _batch(30, 8, 5)
    for _ in range(20):
        _, grads = step.loss_and_grads(u, cand, mask, 1.0)
        step.apply(
            step.candidate_rows(u, cand, grads), lr=50.0
        )  # huge steps push rows to the boundary
    norms = table.weight.detach().norm(dim=1)
    assert float(norms.max()) <= 1 - 1e-5 + 1e-7
    assert float(norms.max()) > 0.996  # beyond geoopt's float32 clamp


def test_bad_arguments_are_named() -> None:
    table = _table(5, "euclidean")
    with pytest.raises(ValueError, match="distance"):
        SparseTableStep(table, get_distance("cosine"))
    with pytest.raises(ValueError, match="ball_eps"):
        SparseTableStep(table, get_distance("dot"), ball_eps=1.5)
    with pytest.raises(TypeError, match="table"):
        SparseTableStep(torch.nn.Linear(2, 2), get_distance("dot"))  # type: ignore[arg-type]


BASE = ["loop.progress=false", "output.report=false", "loop.epochs=1"]


def test_the_trainer_takes_the_sparse_step_only_where_it_applies(tmp_path: Path) -> None:
    run = f"output.run_dir={tmp_path}"
    assert Trainer(load_config(DEFAULT_RECIPE, [*BASE, run])).sparse
    never = load_config(DEFAULT_RECIPE, [*BASE, run, "loop.sparse_step=never"])
    assert not Trainer(never).sparse
    adam = load_config(DEFAULT_RECIPE, [*BASE, run, "optim.name=radam"])
    assert not Trainer(adam).sparse
    with pytest.raises(ConfigError, match=r"sparse\.step is 'always' but optim\.name 'radam'"):
        Trainer(
            load_config(DEFAULT_RECIPE, [*BASE, run, "optim.name=radam", "loop.sparse_step=always"])
        )
    with pytest.raises(ConfigError, match="ball_eps"):
        load_config(DEFAULT_RECIPE, [*BASE, run, "loop.ball_eps=0"])


def test_trainer_sparse_step_equals_its_generic_step(tmp_path: Path) -> None:
    # same config, same negatives: three steps through each path
    common = [*BASE, "miner.strategy=uniform", "optim.lr=0.5", "loop.burn_in_epochs=0"]
    sparse, generic = trainers_on_both_paths(tmp_path, common)
    torch.testing.assert_close(
        sparse.encoder.state_dict()["table.weight"],
        generic.encoder.state_dict()["table.weight"],
        atol=1e-6,
        rtol=1e-5,
    )


def test_shared_step_equals_the_step_on_expanded_negatives() -> None:
    # 10 relations in groups of 4 (the last one short): the shared path's loss and row
    # updates equal the per-relation path's with each group's negatives repeated
    n, b, k, group = 50, 10, 6, 4
    gen = torch.Generator().manual_seed(5)
    u, v = torch.randint(0, n, (2, b), generator=gen)
    neg = torch.randint(0, n, (-(-b // group), k), generator=gen)
    mask = torch.rand(b, k, generator=gen) > 0.2
    per = neg.repeat_interleave(group, dim=0)[:b]
    shared_table, ref_table = _table(n, "poincare"), _table(n, "poincare")
    dist = get_distance("poincare")
    shared, ref = SparseTableStep(shared_table, dist), SparseTableStep(ref_table, dist)
    loss, (gu, gp, gn) = shared.shared_loss_and_grads(u, v, neg, mask, 0.7)
    shared.apply([(u, gu), (v, gp), (neg.reshape(-1), gn.flatten(0, 1))], lr=0.3)
    cand = torch.cat([v.unsqueeze(1), per], dim=1)
    ref_loss, grads = ref.loss_and_grads(u, cand, mask, 0.7)
    ref.apply(ref.candidate_rows(u, cand, grads), lr=0.3)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(shared_table.weight.detach(), ref_table.weight.detach())


def test_shared_step_with_own_negatives_equals_the_step_on_expanded_negatives() -> None:
    # shared uniform negatives plus 2 of each relation's own (mined ones, in a run):
    # the loss and row updates equal the per-relation path's on [shared..., own...]
    n, b, k, h, group = 50, 10, 6, 2, 4
    gen = torch.Generator().manual_seed(6)
    u, v = torch.randint(0, n, (2, b), generator=gen)
    neg = torch.randint(0, n, (-(-b // group), k), generator=gen)
    own = torch.randint(0, n, (b, h), generator=gen)
    mask = torch.rand(b, k + h, generator=gen) > 0.2
    per = torch.cat([neg.repeat_interleave(group, dim=0)[:b], own], dim=1)
    shared_table, ref_table = _table(n, "poincare"), _table(n, "poincare")
    dist = get_distance("poincare")
    shared, ref = SparseTableStep(shared_table, dist), SparseTableStep(ref_table, dist)
    loss, (gu, gp, gn, gh) = shared.shared_loss_and_grads(
        u, v, neg, mask[:, :k], 0.7, None, own, mask[:, k:]
    )
    rows = [
        (u, gu),
        (v, gp),
        (neg.reshape(-1), gn.flatten(0, 1)),
        (own.reshape(-1), gh.flatten(0, 1)),
    ]
    shared.apply(rows, lr=0.3)
    cand = torch.cat([v.unsqueeze(1), per], dim=1)
    ref_loss, grads = ref.loss_and_grads(u, cand, mask, 0.7)
    ref.apply(ref.candidate_rows(u, cand, grads), lr=0.3)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(shared_table.weight.detach(), ref_table.weight.detach())


def test_shared_negatives_mask_each_anchors_relations(tmp_path: Path) -> None:
    from contrastkit.graph.csr import has_edge

    cfg = load_config(
        DEFAULT_RECIPE,
        [*BASE, f"output.run_dir={tmp_path}", "miner.strategy=uniform", "miner.shared_negatives=8"],
    )
    trainer = Trainer(cfg)
    u = trainer.task.graph.train_edges[0, :20]
    neg, mask = trainer.task.negatives.sampler.shared(u, 30, 8)
    assert neg.shape == (3, 30) and mask.shape == (20, 30)
    per = neg.repeat_interleave(8, dim=0)[:20]
    related = has_edge(trainer.task.graph.related, u.unsqueeze(1), per) | (per == u.unsqueeze(1))
    assert torch.equal(mask, ~related)
    before = trainer.encoder.state_dict()["table.weight"].clone()
    trainer.train_step(torch.arange(64))
    assert not torch.equal(trainer.encoder.state_dict()["table.weight"], before)
    with pytest.raises(ConfigError, match="shared_negatives"):
        load_config(DEFAULT_RECIPE, [*BASE, "miner.shared_negatives=8", "miner.strategy=hard"])


@pytest.mark.parametrize("manifold", ["euclidean", "poincare"])
def test_max_row_step_caps_each_rows_update(manifold: str) -> None:
    # row 0 is the positive of all 64 relations: its summed gradient is the big one
    n, cap = 100, 0.05
    dist = get_distance("poincare" if manifold == "poincare" else "sqeuclidean")
    capped, free = _table(n, manifold), _table(n, manifold)
    u = torch.arange(1, 65)
    cand = torch.cat([torch.zeros(64, 1, dtype=torch.long), (u.unsqueeze(1) + 1) % n], 1)
    moves = []
    for table, limit in ((capped, cap), (free, 0.0)):
        before = table.weight.detach().clone()
        step = SparseTableStep(table, dist, ball_eps=1e-5, max_row_step=limit)
        _, grads = step.loss_and_grads(u, cand, None, 1.0)
        step.apply(step.candidate_rows(u, cand, grads), lr=20.0)
        moves.append((table.weight.detach() - before).norm(dim=1))
    capped_move, free_move = moves
    assert float(free_move[0]) > 4 * cap  # uncapped, the hub jumps
    assert float(capped_move.max()) <= cap * (1 + 1e-5)
    small = free_move <= cap  # rows whose step was under the cap are untouched by it
    torch.testing.assert_close(capped_move[small], free_move[small])
    with pytest.raises(ValueError, match="max_row_step"):
        SparseTableStep(capped, dist, max_row_step=-1.0)


def test_max_row_step_without_the_sparse_step_is_an_error(tmp_path: Path) -> None:
    cfg = load_config(
        DEFAULT_RECIPE,
        [*BASE, f"output.run_dir={tmp_path}", "optim.max_row_step=0.1", "optim.name=radam"],
    )
    with pytest.raises(ConfigError, match=r"max_row_step needs the sparse table step"):
        Trainer(cfg)


@pytest.mark.parametrize("optim", ["rsgd", "radagrad"])
def test_a_float64_table_trains_in_float64_on_both_paths(tmp_path: Path, optim: str) -> None:
    # the sparse step and the generic autograd step agree to float64 precision, and
    # nothing on either path rounds the table (or the optimiser's state) to float32
    common = [
        *BASE,
        "encoder.dtype=float64",
        "miner.strategy=uniform",
        f"optim.name={optim}",
        "optim.lr=0.5",
        "loop.burn_in_epochs=0",
    ]
    states = []
    for trainer in trainers_on_both_paths(tmp_path, common):
        weight = trainer.encoder.state_dict()["table.weight"]
        assert weight.dtype == torch.float64
        for state in trainer.schedules.optimizer.state.values():
            for value in state.values():
                if torch.is_tensor(value) and value.is_floating_point() and value.numel() > 1:
                    assert value.dtype == torch.float64
        states.append(weight)
    assert not torch.equal(
        states[0], Trainer(load_config(DEFAULT_RECIPE, common)).encoder.table.weight
    )
    torch.testing.assert_close(states[0], states[1], atol=1e-12, rtol=1e-10)


def test_float64_is_for_tables_only() -> None:
    mlp = ["encoder.kind=mlp", "encoder.manifold=euclidean", "encoder.dtype=float64"]
    with pytest.raises(ConfigError, match=r"encoder\.dtype"):
        load_config(DEFAULT_RECIPE, [*BASE, *mlp])
    with pytest.raises(ConfigError, match=r"encoder\.dtype"):
        load_config(DEFAULT_RECIPE, [*BASE, "encoder.dtype=float16"])


def test_a_deeper_ball_needs_float64_and_is_measured_to_its_rim(tmp_path: Path) -> None:
    from contrastkit.functional.distances import BALL_EPS, PoincareDistance

    run = f"output.run_dir={tmp_path}"
    with pytest.raises(ConfigError, match=r"sparse\.ball_eps.*float64"):
        load_config(DEFAULT_RECIPE, [*BASE, run, "loop.ball_eps=1.0e-8"])
    deep = Trainer(
        load_config(DEFAULT_RECIPE, [*BASE, run, "loop.ball_eps=1.0e-8", "encoder.dtype=float64"])
    )
    assert isinstance(deep.distance, PoincareDistance) and deep.distance.eps == 1e-8
    assert deep.sparse and deep.step_fn.table_step.max_norm == 1 - 1e-8
    # a point between the two rims keeps its own distance to the origin
    x = torch.tensor([[1 - 1e-7, 0.0], [0.0, 0.0]], dtype=torch.float64)
    far = float(deep.distance.paired(x[0], x[1]))
    assert far == pytest.approx(2 * math.atanh(1 - 1e-7), rel=1e-9)
    default = Trainer(load_config(DEFAULT_RECIPE, [*BASE, run]))
    assert isinstance(default.distance, PoincareDistance) and default.distance.eps == BALL_EPS
