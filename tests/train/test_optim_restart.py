"""optim.restart_epochs: an optimiser reset in place steps as a fresh one does, the
config refuses bad epochs, and a run resumed across a restart ends bit-identical."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import geoopt
import pytest
import torch

from contrastkit.optim.composite import CompositeOptimizer
from contrastkit.optim.restart import reset_optimizer_state
from contrastkit.optim.row_adagrad import RowAdagrad
from contrastkit.train.checkpoint import load_checkpoint
from contrastkit.train.config import DEFAULT_RECIPE, load_config, resume_config
from contrastkit.train.run import train
from contrastkit.typed_config import ConfigError

Make = Callable[[torch.nn.Parameter], torch.optim.Optimizer]
BALL = geoopt.PoincareBall()

OPTIMISERS: dict[str, tuple[bool, Make]] = {
    "adagrad": (False, lambda p: torch.optim.Adagrad([p], lr=0.1, initial_accumulator_value=0.5)),
    "row_adagrad": (False, lambda p: RowAdagrad([p], lr=0.1)),
    "row_adagrad_ball": (True, lambda p: RowAdagrad([p], lr=0.01)),
    "adam": (False, lambda p: torch.optim.Adam([p], lr=0.1)),
    "sgd_momentum": (False, lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)),
    "riemannian_adam": (True, lambda p: geoopt.optim.RiemannianAdam([p], lr=0.01)),
    "riemannian_sgd": (True, lambda p: geoopt.optim.RiemannianSGD([p], lr=0.01, momentum=0.9)),
}


def _param(x: torch.Tensor, on_ball: bool) -> torch.nn.Parameter:
    if on_ball:
        return geoopt.ManifoldParameter(x.clone(), manifold=BALL)
    return torch.nn.Parameter(x.clone())


def _steps(opt: torch.optim.Optimizer, p: torch.nn.Parameter, grads: torch.Tensor) -> None:
    for g in grads:
        p.grad = g.clone()
        opt.step()


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_a_reset_optimiser_steps_as_a_fresh_one(name: str) -> None:
    on_ball, make = OPTIMISERS[name]
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.rand(5, 3, generator=gen, dtype=torch.float64) - 0.5) * 0.4
    grads = torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    used = _param(x0, on_ball)
    opt = make(used)
    _steps(opt, used, grads[:3])
    fresh = _param(used.detach(), on_ball)
    stale = _param(used.detach(), on_ball)
    stale_opt = make(stale)
    stale_opt.load_state_dict(opt.state_dict())
    reset_optimizer_state(opt)
    _steps(opt, used, grads[3:])
    _steps(make(fresh), fresh, grads[3:])
    _steps(stale_opt, stale, grads[3:])
    torch.testing.assert_close(used.detach(), fresh.detach(), rtol=0, atol=1e-14)
    # the state mattered: without the reset the same steps land elsewhere
    assert not torch.allclose(stale.detach(), fresh.detach(), atol=1e-6)


def test_an_accumulator_goes_back_to_its_initial_value_in_place() -> None:
    p = torch.nn.Parameter(torch.ones(4, 2))
    opt = torch.optim.Adagrad([p], lr=0.1, initial_accumulator_value=0.25)
    held = opt.state[p]["sum"]  # as the sparse table step holds RowAdagrad's
    _steps(opt, p, torch.ones(2, 4, 2))
    reset_optimizer_state(opt)
    assert held is opt.state[p]["sum"]
    assert torch.equal(held, torch.full((4, 2), 0.25))
    assert float(opt.state[p]["step"]) == 0.0


@pytest.mark.parametrize("epochs", ["[0]", "[3, 3]", "[4, 2]"])
def test_bad_restart_epochs_are_refused_naming_the_key(epochs: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("optim.restart_epochs")):
        load_config(DEFAULT_RECIPE, [f"optim.restart_epochs={epochs}"])


BASE = ["data.name=karate", "encoder.dim=4", "encoder.manifold=poincare", "loop.batch_size=16"]
BASE += ["objective.distance=poincare", "optim.name=radagrad", "optim.lr=0.1"]
BASE += ["loop.burn_in_epochs=1", "loop.progress=false", "output.report=false"]
BASE += ["eval.every_epochs=100", "optim.lr_schedule=constant", "miner.num_negatives=5"]


def _final(run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The table and its row accumulators in ``run``'s last checkpoint."""
    state = load_checkpoint(run / "checkpoints" / "last.pt")["trainer"]
    (weight,) = [v for k, v in state["encoder"].items() if k.endswith("weight")]
    (acc,) = [s["sum"] for s in state["schedules"]["optimizer"]["state"].values()]
    return weight, acc


def test_a_run_resumed_across_a_restart_ends_bit_identical(tmp_path: Path) -> None:
    def run(name: str, *extra: str) -> None:
        train(load_config(DEFAULT_RECIPE, [*BASE, *extra, f"output.run_dir={tmp_path / name}"]))

    run("straight", "loop.epochs=4", "optim.restart_epochs=[2]")
    run("none", "loop.epochs=4")
    run("part", "loop.epochs=3", "optim.restart_epochs=[2]")
    train(resume_config(tmp_path / "part", ["loop.epochs=4"]), resume=True)
    straight, straight_acc = _final(tmp_path / "straight")
    resumed, resumed_acc = _final(tmp_path / "part")
    none, none_acc = _final(tmp_path / "none")
    assert torch.equal(straight, resumed) and torch.equal(straight_acc, resumed_acc)
    # the restart happened: two epochs of squared gradients instead of four
    assert not torch.equal(straight, none)
    assert float(straight_acc.sum()) < 0.75 * float(none_acc.sum())


def test_a_restart_at_the_end_leaves_a_fresh_state(tmp_path: Path) -> None:
    cfg = [*BASE, "loop.epochs=2", "optim.restart_epochs=[2]", f"output.run_dir={tmp_path}"]
    train(load_config(DEFAULT_RECIPE, cfg))
    _, acc = _final(tmp_path)
    assert torch.equal(acc, torch.zeros_like(acc))


def test_a_composite_optimiser_resets_each_inner_one() -> None:
    dense, table = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(4, 2))
    inner = [torch.optim.Adam([dense], lr=0.1), RowAdagrad([table], lr=0.1)]
    opt = CompositeOptimizer(inner)
    dense.grad, table.grad = torch.ones(3), torch.ones(4, 2)
    opt.step()
    reset_optimizer_state(opt)
    assert inner[0].state[dense] == {}
    assert torch.equal(inner[1].state[table]["sum"], torch.zeros(4))
