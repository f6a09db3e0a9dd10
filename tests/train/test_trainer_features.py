"""Trainer options: gradient caching, bf16 autocast, loss-weight warm-up, validation
loss with the overfitting flag, TensorBoard, and their config validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from contrastkit.train.config import TrainConfig, resume_config
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.karate_mlp import KARATE_MLP, karate_mlp_config

MLP = KARATE_MLP


def _config(tmp_path: Path, *extra: str) -> TrainConfig:
    return karate_mlp_config(tmp_path, *extra)


def _one_step(tmp_path: Path, chunks: int) -> dict[str, torch.Tensor]:
    trainer = Trainer(_config(tmp_path, f"loop.grad_cache_chunks={chunks}", "loop.epochs=1"))
    idx = torch.arange(64)
    trainer.train_step(idx)
    return {k: v.clone() for k, v in trainer.encoder.state_dict().items()}


def test_grad_cache_step_equals_the_plain_step(tmp_path: Path) -> None:
    plain = _one_step(tmp_path / "a", 1)
    cached = _one_step(tmp_path / "b", 3)
    assert plain.keys() == cached.keys()
    for key in plain:
        torch.testing.assert_close(cached[key], plain[key], atol=1e-6, rtol=1e-5)


def test_autocast_trains_with_finite_metrics(tmp_path: Path) -> None:
    trainer = train(_config(tmp_path, "loop.autocast=true", "loop.epochs=3", "eval.every_epochs=3"))
    assert all(torch.isfinite(torch.tensor(v)) for v in trainer.final_metrics.values())


def test_loss_weight_warmup_is_logged(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "objectives={infonce: 1.0, norm: 0.5}",
        "schedule.loss_weights=warmup",
        "schedule.loss_weights_initial={infonce: 0.0, norm: 0.5}",
        "schedule.loss_weights_warmup=4",
        "loop.epochs=4",
        "loop.log_every=1",
        "eval.every_epochs=4",
    )
    train(config)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    weights = [r["weight/infonce"] for r in rows if r["kind"] == "train"]
    assert weights[0] < 0.5 and weights[-1] > weights[0]
    assert all(r["weight/norm"] == 0.5 for r in rows if r["kind"] == "train")


def test_validation_loss_and_overfitting_flag_with_a_split(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "data.test_fraction=0.2",
        "loop.epochs=4",
        "eval.every_epochs=1",
        "output.tensorboard=true",
    )
    train(config)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(evals) == 4
    assert all("val_loss" in r and "overfitting" in r and "test/auc" in r for r in evals)
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    # names say where they are measured; each objective's loss is reported unweighted
    assert all("train/map" in r and "test/link_map" in r for r in evals)
    assert all("train_loss/infonce" in r and "val_loss/infonce" in r for r in evals)


def test_metric_names_and_old_monitor_aliases(tmp_path: Path) -> None:
    for old, new in (("map", "train/map"), ("link_map", "test/link_map"), ("auc", "test/auc")):
        assert _config(tmp_path, f"eval.monitor={old}").eval.monitor == new
    weighted = _config(
        tmp_path,
        'objectives={"infonce": 1.0, "norm": 0.25}',
        "data.test_fraction=0.2",
        "loop.epochs=2",
        "eval.every_epochs=1",
    )
    trainer = train(weighted)
    m = trainer.final_metrics
    # the weighted total is the weighted sum of the unweighted parts
    total = m["val_loss/infonce"] + 0.25 * m["val_loss/norm"]
    assert m["val_loss"] == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["encoder.kind=embedding", "loop.autocast=true"], "loop.autocast"),
        (["encoder.kind=gnn", "loop.grad_cache_chunks=2"], "loop.grad_cache_chunks"),
        (["schedule.loss_weights=warmup"], "schedule.loss_weights_initial"),
        (["loop.grad_cache_chunks=0"], "loop.grad_cache_chunks"),
    ],
)
def test_option_validation(tmp_path: Path, overrides: list[str], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        _config(tmp_path, *overrides)


def test_pcgrad_combiner_trains_and_resumes_its_state(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "objectives={infonce: 1.0, spectral: 0.5}",
        "combiner.method=pcgrad",
        "loop.epochs=2",
        "eval.every_epochs=2",
    )
    trainer = train(config)
    assert trainer.schedules.pcgrad is not None
    assert all(torch.isfinite(torch.tensor(v)) for v in trainer.final_metrics.values())
    state = trainer.state_dict()
    again = Trainer(config)
    again.load_state_dict(state)
    assert again.schedules.pcgrad is not None


def test_pcgrad_with_grad_cache_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"combiner\.method"):
        _config(tmp_path, "combiner.method=pcgrad", "loop.grad_cache_chunks=2")


def test_nonfinite_steps_are_skipped_then_training_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from contrastkit.cli import main
    from contrastkit.objectives.entries_contrastive import InfoNCEObjective

    real = InfoNCEObjective.forward
    calls = {"n": 0}

    def sometimes_nan(self, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        loss = real(self, batch)
        if calls["n"] > 3:  # the first steps are fine, then every loss is NaN
            return loss * float("nan")
        return loss

    monkeypatch.setattr(InfoNCEObjective, "forward", sometimes_nan)
    code = main(
        [
            "train",
            "--run-dir",
            str(tmp_path / "run"),
            "--no-progress",
            "--no-report",
            # --no-progress / --no-report set these two; giving both ways is an error
            *[
                arg
                for kv in MLP
                if not kv.startswith(("loop.progress", "output.report"))
                for arg in ("--set", kv)
            ],
            "--set",
            "loop.max_nonfinite_steps=4",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "4 consecutive non-finite steps" in err and "Traceback" not in err
    # one loss evaluation per step: 3 finite steps, then 4 skipped ones and the stop
    assert calls["n"] == 3 + 4


def test_time_budget_stops_training_and_evaluates(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, "loop.epochs=100000", "loop.time_budget_s=0.5", "eval.every_epochs=100000"
    )
    trainer = train(cfg)
    assert not trainer.stopped_early and 0 < trainer.epoch < 100000
    assert 0.5 <= trainer.train_seconds < 30
    assert "train/map" in trainer.final_metrics  # evaluated where it stopped
    assert trainer.state_dict()["train_seconds"] == trainer.train_seconds
    # out of time is not finished: resumed with a larger budget, the run goes on
    more = resume_config(Path(cfg.output.run_dir), ["loop.time_budget_s=1.0"])
    resumed = train(more, resume=True)
    assert resumed.step > trainer.step and 1.0 <= resumed.train_seconds < 30
    with pytest.raises(ConfigError, match="time_budget_s"):
        _config(tmp_path, "loop.time_budget_s=-1")
