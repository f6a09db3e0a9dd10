"""Objectives by name: config forms, errors, and settings that must have their effect
through the trainer (learnable temperature, uncertainty weights, optimiser options,
the temperature schedule's end, the local loss's geometry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from contrastkit.functional.pair_contrastive import local_contrastive_loss
from contrastkit.objectives import REGISTRY, parse_objectives
from contrastkit.train.config import TrainConfig
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.karate_mlp import KARATE_MLP, karate_mlp_config

MLP = KARATE_MLP


def _config(tmp_path: Path, *extra: str) -> TrainConfig:
    return karate_mlp_config(tmp_path, *extra)


def test_short_and_long_forms_load_and_round_trip() -> None:
    specs = parse_objectives({"infonce": 1.0, "triplet": {"weight": 0.5, "margin": 0.3}})
    assert specs["infonce"].weight == 1.0 and specs["infonce"].to_config() == 1.0
    assert specs["triplet"].params.margin == 0.3
    assert specs["triplet"].to_config() == {"weight": 0.5, "margin": 0.3}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"infonse": 1.0}, "did you mean infonce"),
        ({"triplet": {"margn": 0.1}}, "objectives.triplet.margn"),
        ({"infonce": {"temperature": -1.0}}, "objectives.infonce.temperature"),
        ({"infonce": -1.0}, "weight must be >= 0"),
        ({"infonce": {"symmetric": True}}, "need in_batch"),
    ],
)
def test_bad_objectives_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_objectives(raw)


def test_every_registered_objective_has_a_summary_and_default_params() -> None:
    for name, entry in REGISTRY.items():
        assert entry.summary, name
        entry.params()  # all defaults valid


def test_learnable_temperature_moves_and_is_checkpointed(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "loop.epochs=3",
        'objectives={"infonce": {"weight": 1.0, "learnable_temperature": true}}',
    )
    trainer = Trainer(cfg)
    temp = trainer.objectives["infonce"].temperature
    before = float(temp().detach())
    assert before == pytest.approx(0.2)
    assert any(
        p is temp.log_temperature
        for g in trainer.schedules.optimizer.param_groups
        for p in g["params"]
    )
    trainer.fit()
    assert float(temp().detach()) != pytest.approx(before, abs=1e-6)
    assert "objectives" in trainer.state_dict()
    assert "infonce.temperature.log_temperature" in trainer.state_dict()["objectives"]


def test_uncertainty_log_variances_move(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "loop.epochs=3",
        'objectives={"infonce": 1.0, "spectral": 0.5}',
        "combiner.method=uncertainty",
    )
    trainer = Trainer(cfg)
    log_vars = trainer.schedules.combiner.trainable_parameters()
    assert log_vars
    before = [p.detach().clone() for p in log_vars]
    trainer.fit()
    assert any(not torch.equal(b, p.detach()) for b, p in zip(before, log_vars, strict=True))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["optim.name=sgd", "optim.momentum=0.9", "optim.nesterov=true"],
            {"nesterov": True, "momentum": 0.9},
        ),
        (["optim.name=sgd", "optim.momentum=0.5", "optim.dampening=0.3"], {"dampening": 0.3}),
        (
            ["optim.name=adam", "optim.betas=[0.8, 0.95]", "optim.amsgrad=true", "optim.eps=1e-6"],
            {"betas": (0.8, 0.95), "amsgrad": True, "eps": 1e-6},
        ),
        (["optim.name=adamw", "optim.weight_decay=0.1"], {"weight_decay": 0.1}),
    ],
)
def test_every_optimiser_option_reaches_torch(
    tmp_path: Path, overrides: list[str], expected: dict[str, object]
) -> None:
    trainer = Trainer(_config(tmp_path, *overrides))
    groups = trainer.schedules.optimizer.param_groups
    decayed = [g for g in groups if g.get("weight_decay", 0) > 0] or groups
    for key, value in expected.items():
        assert decayed[0][key] == value, (key, decayed[0][key])


def test_temperature_schedule_ends_at_its_end_value(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "loop.epochs=4",
        "loop.log_every=1",
        "schedule.temperature=linear",
        "objective.temperature=1.0",
        "schedule.temperature_end=0.1",
    )
    train(cfg)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    last_epoch = [r for r in records if r["kind"] == "train" and r["epoch"] == 3]
    first_epoch = [r for r in records if r["kind"] == "train" and r["epoch"] == 0]
    assert last_epoch and all(r["temperature"] == pytest.approx(0.1) for r in last_epoch)
    assert all(r["temperature"] == pytest.approx(1.0) for r in first_epoch)


def test_local_measures_the_runs_geometry_under_cosine(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'objectives={"local": 1.0}', "objective.margin=0.5")
    trainer = Trainer(cfg)
    batch = trainer.task.batch(torch.arange(32), trainer.sample_context())
    z = trainer.encoder.encode(batch) * 7.0  # scale must not matter under cosine
    got = trainer.objectives["local"](batch.with_z(z))
    pos, neg = batch.positive_edges(), batch.negative_edges()
    similar = torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])]).bool()
    unit = torch.nn.functional.normalize(z, dim=-1)
    want = local_contrastive_loss(
        unit, torch.cat([pos, neg], 1), similar, margin=0.5, distance="euclidean"
    )
    torch.testing.assert_close(got, want)
    raw = local_contrastive_loss(z, torch.cat([pos, neg], 1), similar, margin=0.5)
    assert not torch.allclose(got, raw)


def test_gradnorm_learns_from_equal_weights_on_the_last_layer(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, 'objectives={"infonce": 2.0, "spectral": 2.0}', "combiner.method=gradnorm"
    )
    trainer = Trainer(cfg)
    assert trainer.schedules.combiner.priorities == {"infonce": 1.0, "spectral": 1.0}
    shared = trainer.encoder.last_shared_parameters()
    last = list(trainer.encoder.mlp.modules())[-1]
    assert {id(p) for p in shared} == {id(p) for p in last.parameters()}


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["schedule.curriculum=default", "schedule.temperature=linear"], "schedule.temperature"),
        (
            [
                "schedule.curriculum=linear",
                "schedule.loss_weights=warmup",
                'schedule.loss_weights_initial={"infonce": 0.5}',
            ],
            "schedule.loss_weights",
        ),
        (
            ["schedule.temperature=cosine", 'objectives={"infonce": {"temperature": 0.1}}'],
            "objectives.infonce.temperature",
        ),
        (
            [
                "schedule.curriculum=linear",
                'objectives={"infonce": {"learnable_temperature": true}}',
            ],
            "objectives.infonce.temperature",
        ),
    ],
)
def test_the_temperature_and_weights_have_one_owner(
    tmp_path: Path, overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _config(tmp_path, *overrides)


def test_a_curriculum_prints_what_it_owns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(
        tmp_path,
        "loop.epochs=1",
        'objectives={"infonce": 1.0, "spectral": 0.1}',
        "schedule.curriculum=default",
    )
    train(cfg)
    err = capsys.readouterr().err
    assert "temperature: the curriculum's stages (0.5 -> 0.3 -> 0.1)" in err
    assert "the curriculum's stages set infonce, spectral" in err


def test_combiner_settings_reach_the_combiner(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        'objectives={"infonce": 1.0, "spectral": 1.0}',
        "combiner.method=gradnorm",
        "combiner.alpha=0.5",
        "combiner.lr=0.01",
        "combiner.min_weight=0.05",
    )
    combiner = Trainer(cfg).schedules.combiner
    assert (combiner.alpha, combiner.min_weight) == (0.5, 0.05)
    assert combiner.optimizer.param_groups[0]["lr"] == 0.01
    cfg = _config(
        tmp_path,
        'objectives={"infonce": 1.0, "spectral": 0.1}',
        "combiner.method=uncertainty",
        "combiner.init_log_var=0.7",
    )
    (log_vars,) = Trainer(cfg).schedules.combiner.trainable_parameters()
    assert torch.allclose(log_vars.detach(), torch.full_like(log_vars, 0.7))
    with pytest.raises(ConfigError, match="gradnorm' learns the weights from 1"):
        _config(
            tmp_path, 'objectives={"infonce": 1.0, "spectral": 0.1}', "combiner.method=gradnorm"
        )


def test_train_losses_are_reported_without_a_split(tmp_path: Path) -> None:
    trainer = train(_config(tmp_path, 'objectives={"infonce": 1.0, "norm": 0.5}', "loop.epochs=2"))
    m = trainer.final_metrics
    assert m["train_loss"] == pytest.approx(
        m["train_loss/infonce"] + 0.5 * m["train_loss/norm"], rel=1e-5
    )
