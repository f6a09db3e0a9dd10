"""The meta-trainer's literature options on the SBM fixture: learnt inner rates are
updated by the outer step and kept with the best checkpoint, the outer rate follows
``optim.lr_schedule``, ANIL never moves the encoder inside an episode, a run with every
option resumes bit-identically, bad settings are config errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from contrastkit.meta.run import build_fewshot_data
from contrastkit.meta.trainer import MetaTrainer
from contrastkit.train.config import TrainConfig, load_config
from contrastkit.typed_config import ConfigError

SBM_CONFIG = Path(__file__).parents[2] / "configs" / "sbm_fewshot_maml.yaml"
ALL_OPTIONS = [
    "meta.learn_inner_lr=per_layer_step",
    "meta.head_init=proto",
    "meta.head_input=embedding",
    "meta.multi_step_loss=4",
    "optim.lr_schedule=cosine",
    "optim.grad_clip=1.0",
]


def _config(tmp_path: Path, *overrides: str) -> TrainConfig:
    quick = ["meta.val_episodes=10", "meta.test_episodes=20", "loop.progress=false"]
    return load_config(SBM_CONFIG, [f"output.run_dir={tmp_path}", *quick, *overrides])


def _trainer(tmp_path: Path, *overrides: str) -> MetaTrainer:
    config = _config(tmp_path, *overrides)
    return MetaTrainer(config, build_fewshot_data(config))


@pytest.mark.parametrize("kind", ["per_layer_step", "per_parameter"])
@pytest.mark.parametrize("method", ["maml", "fomaml"])
def test_learnt_rates_move_with_the_outer_step(tmp_path: Path, kind: str, method: str) -> None:
    trainer = _trainer(tmp_path, f"meta.learn_inner_lr={kind}", f"meta.method={method}")
    before = [r.detach().clone() for r in trainer.inner_lr.rates]
    assert len(before) == len(list(trainer.model.parameters()))
    assert all(bool((r == 0.5).all()) for r in before)  # start at meta.inner_lr
    trainer.train_step()
    moved = [not torch.equal(a, b) for a, b in zip(before, trainer.inner_lr.rates, strict=True)]
    assert all(moved)
    # the best checkpoint keeps its own copy of the rates it validated
    trainer.best_val = -1.0
    trainer.validate()
    kept = [r.detach().clone() for r in trainer.inner_lr.rates]
    trainer.train_step()
    for best, then, now in zip(trainer.best_rates.rates, kept, trainer.inner_lr.rates, strict=True):
        assert torch.equal(best, then) and not torch.equal(best, now)


def test_anil_rates_cover_the_head_only_and_the_fixed_kind_adds_no_parameters(
    tmp_path: Path,
) -> None:
    anil = _trainer(tmp_path, "meta.adapt=head", "meta.learn_inner_lr=per_layer_step")
    assert anil.inner_lr.names == ["head.weight", "head.bias"]
    fixed = _trainer(tmp_path)
    assert list(fixed.inner_lr.parameters()) == []


def test_outer_rate_follows_the_cosine_schedule(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "optim.lr_schedule=cosine", "meta.steps=8", "optim.warmup_steps=2")
    rates = []
    for _ in range(8):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.train_step()
    base = 0.003  # configs/sbm_fewshot_maml.yaml's optim.lr
    # warm-up (step + 1) / 2, then (1 + cos(pi (step - 2) / 6)) / 2 over the other 6 steps
    want = [base * 0.5, base] + [
        base * 0.5 * (1 + math.cos(math.pi * (s - 2) / 6)) for s in range(2, 8)
    ]
    assert rates == pytest.approx(want)


def test_a_run_with_every_option_resumes_bit_identically(tmp_path: Path) -> None:
    options = [*ALL_OPTIONS, "meta.steps=6", "meta.eval_every=3"]
    whole = _trainer(tmp_path / "a", *options)
    final = whole.fit(lambda r: None)
    part = _trainer(tmp_path / "b", *options)
    for _ in range(3):
        part.train_step()
    part.validate()
    state = part.state_dict()
    resumed = _trainer(tmp_path / "c", *options)
    resumed.load_state_dict(state)
    assert resumed.fit(lambda r: None) == final
    for a, b in zip(whole.inner_lr.rates, resumed.inner_lr.rates, strict=True):
        assert torch.equal(a, b)


def test_anil_training_moves_the_encoder_and_beats_scratch(tmp_path: Path) -> None:
    trainer = _trainer(
        tmp_path, "meta.adapt=head", "meta.head_init=proto", "meta.steps=40",
        "meta.eval_every=20", "meta.test_episodes=100", "meta.val_episodes=20",
    )  # fmt: skip
    start = trainer.model.encoder.state_dict()
    start = {k: v.clone() for k, v in start.items()}
    final = trainer.fit(lambda r: None)
    assert any(not torch.equal(v, trainer.model.encoder.state_dict()[k]) for k, v in start.items())
    assert final["test/accuracy"] > final["test/scratch_accuracy"], final


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("meta.learn_inner_lr=bogus", "meta.learn_inner_lr"),
        ("meta.adapt=encoder", "meta.adapt"),
        ("meta.head_init=random", "meta.head_init"),
        ("meta.head_input=tanh", "meta.head_input"),
        ("meta.multi_step_loss=-1", "meta.multi_step_loss"),
    ],
)
def test_bad_option_values_are_config_errors(tmp_path: Path, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _config(tmp_path, override)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("meta.steps=12", "meta.steps is 12 but the run being resumed was started with 8"),
        ("optim.warmup_steps=0", "optim.warmup_steps is 0 but the run being resumed was"),
        ("optim.lr_schedule=linear", "optim.lr_schedule is 'linear' but the run being"),
    ],
)
def test_resuming_with_another_schedule_length_is_refused(
    tmp_path: Path, change: str, message: str
) -> None:
    schedule = ["optim.lr_schedule=cosine", "meta.steps=8", "optim.warmup_steps=2"]
    part = _trainer(tmp_path, *schedule)
    part.train_step()
    state = part.state_dict()
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        _trainer(tmp_path, *schedule, change).load_state_dict(state)
    assert "cosine outer-rate schedule" in str(caught.value)
    _trainer(tmp_path, *schedule).load_state_dict(state)  # the same schedule resumes


def test_a_constant_rate_run_may_resume_with_more_steps(tmp_path: Path) -> None:
    part = _trainer(tmp_path, "meta.steps=4")  # the config's constant outer rate
    part.train_step()
    _trainer(tmp_path, "meta.steps=10").load_state_dict(part.state_dict())
    state = part.state_dict()
    del state["schedule"]  # a checkpoint from before the schedule was recorded
    _trainer(tmp_path, "meta.steps=10", "optim.lr_schedule=cosine").load_state_dict(state)


def test_the_cli_refuses_the_changed_schedule_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from contrastkit.cli import main

    sets = ["meta.val_episodes=5", "meta.test_episodes=5", "meta.eval_every=2", "meta.steps=2"]
    sets += ["optim.lr_schedule=cosine", "loop.progress=false"]
    argv = ["train", "--config", str(SBM_CONFIG), "--run-dir", str(tmp_path)]
    assert main([*argv, *(x for s in sets for x in ("--set", s))]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), "--set", "meta.steps=4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "meta.steps is 4 but the run being resumed was started with 2" in err[0]
    )


def test_validation_scores_the_same_meta_val_episodes_at_every_check(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "meta.val_episodes=7")
    fixed = trainer.val_episodes
    assert len(fixed) == 7  # meta.val_episodes of them
    assert bool(torch.isin(fixed.classes, trainer.splits.val).all())
    first = trainer.validate()["val/accuracy"]
    assert trainer.validate()["val/accuracy"] == first  # same parameters, same episodes
    trainer.train_step()
    assert trainer.val_episodes is fixed  # not redrawn by training
    again = MetaTrainer(trainer.config, trainer.data).val_episodes  # nor by a restart
    assert torch.equal(again.support, fixed.support) and torch.equal(again.query, fixed.query)
