"""miner_stages: later miner settings from an epoch on, validated at load, switched by
the trainer at that epoch, and resumed bit-identically across the switch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from contrastkit.train.checkpoint import load_checkpoint
from contrastkit.train.config import DEFAULT_RECIPE, load_config, resume_config
from contrastkit.train.miner_config import resolve_miner_stages, stage_at
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError

UNIFORM_THEN_MIXED = [
    "miner.strategy=uniform",
    "miner.shared_negatives=8",
    "miner.num_negatives=7",
    "miner_stages=[{from_epoch: 2, set: {strategy: mixed, shared_negatives: 0, pool_size: 5}}]",
]


def test_a_stage_changes_what_it_names_and_keeps_the_rest() -> None:
    cfg = load_config(DEFAULT_RECIPE, UNIFORM_THEN_MIXED)
    (e0, first), (e1, second) = resolve_miner_stages(cfg.miner, cfg.miner_stages)
    assert (e0, first.strategy, first.shared_negatives) == (0, "random", 8)
    assert (e1, second.strategy, second.shared_negatives, second.pool_size) == (2, "mixed", 0, 5)
    assert second.num_negatives == 7  # carried over, not MinerConfig's default 50
    assert second.refresh_every == first.refresh_every
    stages = resolve_miner_stages(cfg.miner, cfg.miner_stages)
    assert [stage_at(stages, e) for e in range(4)] == [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("[{from_epoch: 2, set: {strategyy: hard}}]", "unknown key miner_stages[0].set.strategyy"),
        ("[{from_epoch: 2, set: {num_negatives: 0}}]", "miner_stages[0]: miner.num_negatives"),
        ("[{from_epoch: 2, set: {}}]", "miner_stages[0].set is empty"),
        ("[{from_epoch: 0, set: {strategy: hard}}]", "miner_stages[0].from_epoch must be > 0"),
        (
            "[{from_epoch: 3, set: {strategy: hard, shared_negatives: 0}},"
            " {from_epoch: 3, set: {strategy: mixed}}]",
            "miner_stages[1].from_epoch must be > 3",
        ),
        # shared negatives are uniform ones: a mined stage must say shared_negatives: 0
        ("[{from_epoch: 2, set: {strategy: hard}}]", "miner_stages[0]: miner.shared_negatives"),
        ("[{set: {strategy: hard}}]", "from_epoch"),
    ],
)
def test_a_bad_stage_is_refused_naming_it(stages: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(
            DEFAULT_RECIPE,
            ["miner.strategy=uniform", "miner.shared_negatives=8", f"miner_stages={stages}"],
        )


def test_a_stage_cannot_set_the_count_a_curriculum_schedules() -> None:
    stage = "miner_stages=[{from_epoch: 2, set: {num_negatives: 10}}]"
    load_config(DEFAULT_RECIPE, [stage])  # fine without a curriculum
    with pytest.raises(ConfigError, match=re.escape("cannot set num_negatives: schedule.curr")):
        load_config(DEFAULT_RECIPE, [stage, "schedule.curriculum=linear"])


@pytest.mark.parametrize("sparse", ["always", "never"])
@pytest.mark.parametrize("keep_shared", [False, True])
def test_the_trainer_mines_only_from_the_stage_epoch(
    tmp_path: Path, sparse: str, keep_shared: bool
) -> None:
    stages = UNIFORM_THEN_MIXED
    if keep_shared:  # the stage mines 4 of 7 per relation and keeps 3 shared by groups of 8
        stages = [*UNIFORM_THEN_MIXED[:3]]
        stages += ["miner_stages=[{from_epoch: 2, set: {strategy: mixed, pool_size: 5}}]"]
        stages += ["miner.hard_ratio=0.6"]
    cfg = load_config(
        DEFAULT_RECIPE,
        [
            *stages,
            "loop.burn_in_epochs=0",
            f"loop.sparse_step={sparse}",
            f"output.run_dir={tmp_path}",
            "loop.batch_size=512",
        ],
    )
    trainer = Trainer(cfg)
    for epoch in range(3):
        trainer.epoch = epoch
        trainer.train_step(torch.arange(64))
        mined = trainer.task.negatives.sampler.pool is not None
        assert mined == (epoch >= 2), epoch
        assert trainer.task.negatives.miner.strategy == ("mixed" if epoch >= 2 else "random")
    sampler = trainer.task.negatives.sampler
    assert sampler.pool is not None and sampler.pool.shape[1] == 5
    relations = trainer.task.batch(torch.arange(20), trainer.sample_context()).relations
    assert relations is not None
    u, negatives = relations.u, relations.negatives
    if keep_shared:
        assert negatives.shared is not None and negatives.shared.shape == (3, 3)
        assert negatives.own is not None and negatives.own.shape == (20, 4)
        assert negatives.group == 8 and negatives.mask.shape == (20, 7)
        # every valid own negative comes from its anchor's hard pool (or a counted fallback)
        in_pool = (sampler.pool[u].unsqueeze(2) == negatives.own.unsqueeze(1)).any(1)
        valid = negatives.mask[:, 3:]
        assert bool(in_pool[valid].all()) or sampler.fallbacks > 0
    else:
        assert negatives.shared is None and negatives.own is not None
        assert negatives.own.shape == (20, 7)


@pytest.mark.parametrize("shared", [0, 4])
def test_a_run_resumed_after_the_switch_ends_bit_identical(tmp_path: Path, shared: int) -> None:
    base = ["data.name=karate", "encoder.dim=4", "loop.batch_size=16", "loop.burn_in_epochs=1"]
    base += [f"miner.shared_negatives={shared}"]  # 4: the mixed stage keeps them shared
    base += ["loop.progress=false", "output.report=false", "eval.every_epochs=100"]
    base += ["optim.lr_schedule=constant"]  # a cosine decay would depend on loop.epochs
    base += ["miner.strategy=uniform", "miner.num_negatives=5", "miner.refresh_every=3"]
    base += ["miner_stages=[{from_epoch: 2, set: {strategy: mixed, pool_size: 4}}]"]
    straight = train(
        load_config(DEFAULT_RECIPE, [*base, "loop.epochs=4", f"output.run_dir={tmp_path / 'a'}"])
    )
    train(load_config(DEFAULT_RECIPE, [*base, "loop.epochs=3", f"output.run_dir={tmp_path / 'b'}"]))
    resumed = train(resume_config(tmp_path / "b", ["loop.epochs=4"]), resume=True)
    assert (
        straight.task.negatives.miner.strategy == resumed.task.negatives.miner.strategy == "mixed"
    )
    weights = []
    for run in ("a", "b"):
        state = load_checkpoint(tmp_path / run / "checkpoints" / "last.pt")["trainer"]
        assert state["epoch"] == 4
        (weight,) = [v for k, v in state["encoder"].items() if k.endswith("weight")]
        weights.append(weight)
    assert torch.equal(weights[0], weights[1])
