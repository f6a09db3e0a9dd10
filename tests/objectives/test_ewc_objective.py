"""``objectives.ewc`` through the trainer: a run started from another (``loop.init_from``)
stays near its parameters with the Fisher of that run's own task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.losses.ewc import EWC
from contrastkit.objectives.entries_ewc import EWCObjective
from contrastkit.train.config import load_config
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError

KARATE = [
    "data.name=karate",
    "encoder.kind=mlp",
    "encoder.dim=8",
    "encoder.hidden=16",
    "optim.name=sgd",
    "optim.lr=0.5",
    "loop.batch_size=32",
    "loop.progress=false",
    "output.report=false",
]


def _first(tmp_path: Path) -> Path:
    run = tmp_path / "first"
    train(load_config(None, [*KARATE, "loop.epochs=3", f"output.run_dir={run}"]))
    return run


def _second(tmp_path: Path, first: Path, lam: float, name: str = "second") -> Trainer:
    objectives = (
        '{"norm": {"weight": 1.0, "target": 5.0}, '
        f'"ewc": {{"weight": 1.0, "lambda_": {lam}, "fisher_samples": 32}}}}'
    )
    return Trainer(
        load_config(
            None,
            [
                *KARATE,
                "loop.epochs=4",
                "optim.lr=0.05",  # lr * lambda * max F stays below SGD's stability limit 2
                f"output.run_dir={tmp_path / name}",
                f"loop.init_from={first}",
                f"objectives={objectives}",
            ],
        )
    )


def _params(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in trainer.encoder.parameters()])


def test_ewc_needs_a_run_to_start_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"objectives\.ewc needs loop\.init_from"):
        Trainer(
            load_config(None, [*KARATE, f"output.run_dir={tmp_path}", 'objectives={"ewc": 1.0}'])
        )


def test_a_run_starts_from_the_earlier_encoder_and_penalises_moving(tmp_path: Path) -> None:
    first = _first(tmp_path)
    earlier = Trainer.restore(first)
    trainer = _second(tmp_path, first, lam=10.0)
    torch.testing.assert_close(_params(trainer), _params(earlier), rtol=0, atol=0)
    ewc = trainer.objectives["ewc"]
    (fisher,), (anchor,) = ewc.ewc._fishers, ewc.ewc._anchors
    assert all(bool((f >= 0).all()) for f in fisher.values())
    assert sum(float(f.sum()) for f in fisher.values()) > 0
    batch = trainer.task.batch(torch.arange(8), trainer.sample_context())
    assert float(ewc(batch)) == 0.0  # at the anchor
    with torch.no_grad():
        for p in trainer.encoder.parameters():
            p.add_(0.1)
    # Omega = lambda / 2 * sum F (theta - theta*)^2, by hand
    params = dict(trainer.encoder.named_parameters())
    expected = sum(0.5 * 10.0 * (f * (params[n] - anchor[n]) ** 2).sum() for n, f in fisher.items())
    torch.testing.assert_close(ewc(batch), expected)


def test_the_fisher_is_the_mean_of_per_example_squares(tmp_path: Path) -> None:
    earlier = Trainer.restore(_first(tmp_path))
    state = earlier.generator.get_state()  # negatives are drawn from the run's generator
    got = earlier.fisher(3)
    earlier.generator.set_state(state)
    # by hand: the same three examples, each loss differentiated on its own
    picked = torch.randperm(
        earlier.task.num_examples(),
        generator=torch.Generator().manual_seed(earlier.config.loop.seed + 6),
    )[:3]
    ctx = earlier.sample_context()
    names = [n for n, p in earlier.encoder.named_parameters() if p.requires_grad]
    params = [p for p in earlier.encoder.parameters() if p.requires_grad]
    squares = {n: torch.zeros_like(p) for n, p in zip(names, params, strict=True)}
    for idx in picked:
        batch = earlier.task.batch(idx.view(1), ctx)
        step = earlier.validation_step
        loss = step.losses(step.encode(batch))[0].total
        grads = torch.autograd.grad(loss, params)
        for n, g in zip(names, grads, strict=True):
            squares[n] += g.square() / 3
    assert set(got) == set(names)
    for n in names:
        torch.testing.assert_close(got[n], squares[n])
    assert sum(float(f.sum()) for f in got.values()) > 0


def test_ewc_keeps_the_important_parameters_nearer_the_earlier_run(tmp_path: Path) -> None:
    first = _first(tmp_path)
    drift = {}
    for lam in (0.0, 10.0):
        trainer = _second(tmp_path, first, lam, name=f"lam{lam}")
        ewc = trainer.objectives["ewc"].ewc
        (fisher,), (anchor,) = ewc._fishers, ewc._anchors
        trainer.fit()
        params = dict(trainer.encoder.named_parameters())
        # what EWC weighs: the Fisher-weighted squared distance from the earlier run
        drift[lam] = float(sum((f * (params[n] - anchor[n]) ** 2).sum() for n, f in fisher.items()))
    assert drift[10.0] < 0.5 * drift[0.0], drift


def test_the_consolidated_penalty_is_checkpointed(tmp_path: Path) -> None:
    first = _first(tmp_path)
    trainer = _second(tmp_path, first, lam=3.0)
    state = trainer.state_dict()["objectives"]
    extra = state["ewc._extra_state"]
    assert extra["lambda_"] == 3.0 and len(extra["fishers"]) == 1


def _ewc(trainer: Trainer) -> EWC:
    objective = trainer.objectives["ewc"]
    assert isinstance(objective, EWCObjective)
    return objective.ewc


def test_chained_runs_accumulate_the_fisher_online(tmp_path: Path) -> None:
    # A -> B (ewc toward A) -> C (ewc toward B): C holds gamma * F_A + F_B, anchored at B
    first = _first(tmp_path)
    second = _second(tmp_path, first, lam=1.0)
    f_a = {n: f.clone() for n, f in _ewc(second)._fishers[0].items()}
    second.fit()
    from contrastkit.train.config import dump_config
    from contrastkit.train.run import save_trainer

    second.run_dir.mkdir(parents=True, exist_ok=True)
    (second.run_dir / "config.yaml").write_text(dump_config(second.config))
    save_trainer(second)
    objectives = '{"norm": 1.0, "ewc": {"weight": 1.0, "fisher_samples": 32, "gamma": 0.5}}'
    third = Trainer(
        load_config(
            None,
            [
                *KARATE,
                f"output.run_dir={tmp_path / 'third'}",
                f"loop.init_from={second.run_dir}",
                f"objectives={objectives}",
            ],
        )
    )
    f_b = Trainer.restore(second.run_dir).fisher(32)
    ewc = _ewc(third)
    assert ewc.num_consolidated == 2 and len(ewc._fishers) == 1
    for n, f in ewc._fishers[0].items():
        torch.testing.assert_close(f, 0.5 * f_a[n] + f_b[n])
    anchor = ewc._anchors[0]
    for n, p in second.encoder.named_parameters():
        assert torch.equal(anchor[n], p.detach())
