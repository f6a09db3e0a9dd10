"""The trainer's side of the relation negative sampler: the miner config's vocabulary
and options, and what reaches the sampler. The sampler's own tests are in
tests/mining/test_relation_sampler.py."""

from __future__ import annotations

import re
import warnings

import pytest

from contrastkit.mining import STRATEGIES, STRATEGY_ALIASES
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.train.miner_config import MinerConfig, resolve_miner_stages
from contrastkit.typed_config import ConfigError


@pytest.mark.parametrize("name", [*STRATEGIES, *STRATEGY_ALIASES])
def test_the_miner_takes_every_name_and_stores_the_canonical_one(name: str) -> None:
    canonical = STRATEGY_ALIASES.get(name, name)
    assert MinerConfig(strategy=name).strategy == canonical  # type: ignore[arg-type]
    assert load_config(DEFAULT_RECIPE, [f"miner.strategy={name}"]).miner.strategy == canonical


def test_the_miner_defaults_and_new_options() -> None:
    miner = MinerConfig()
    assert (miner.strategy, miner.weighted_alpha, miner.num_clusters) == ("random", 1.0, 8)
    assert (miner.khop_min, miner.khop_max, miner.pool_backend) == (2, 3, "exact")
    assert miner.memory_budget == DEFAULT_MEMORY_BUDGET == 512 * 2**20
    assert not miner.pool_deeper_only
    cfg = load_config(DEFAULT_RECIPE, ["miner.pool_deeper_only=true", "miner.pool_backend=memmap"])
    assert cfg.miner.pool_deeper_only and cfg.miner.pool_backend == "memmap"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("miner.strategy=hardst", "miner.strategy must be one of"),
        ("miner.weighted_alpha=-1", "miner.weighted_alpha must be finite and >= 0, got -1.0"),
        ("miner.num_clusters=0", "miner.num_clusters must be > 0, got 0"),
        ("miner.khop_min=1", "miner.khop_min must be >= 2 (hop-1 nodes are related), got 1"),
        ("miner.khop_max=1", "miner.khop_max must be >= miner.khop_min=2, got 1"),
        ("miner.pool_backend=annoy", "miner.pool_backend must be one of"),
        ("miner.memory_budget=0", "miner.memory_budget must be > 0 bytes, got 0"),
    ],
)
def test_bad_miner_options_are_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(DEFAULT_RECIPE, [override])


def test_a_bad_strategy_built_directly_is_named() -> None:
    with pytest.raises(ConfigError, match=re.escape("miner.strategy must be one of")):
        MinerConfig(strategy="hardst")  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["uniform", "random", "mixed"])
def test_shared_negatives_need_random_or_mixed_under_any_name(strategy: str) -> None:
    cfg = load_config(DEFAULT_RECIPE, [f"miner.strategy={strategy}", "miner.shared_negatives=8"])
    assert cfg.miner.strategy in ("random", "mixed")
    with pytest.raises(ConfigError, match=re.escape("got 'hardest'")):
        load_config(DEFAULT_RECIPE, ["miner.strategy=hard", "miner.shared_negatives=8"])


def test_stages_merge_over_canonical_names() -> None:
    cfg = load_config(
        DEFAULT_RECIPE,
        [
            "miner.strategy=uniform",
            "miner.shared_negatives=8",
            "miner_stages=[{from_epoch: 2, set: {num_negatives: 9}},"
            " {from_epoch: 4, set: {strategy: semihard, shared_negatives: 0}},"
            " {from_epoch: 6, set: {strategy: khop, khop_max: 4}}]",
        ],
    )
    stages = resolve_miner_stages(cfg.miner, cfg.miner_stages)
    assert [(e, m.strategy) for e, m in stages] == [
        (0, "random"),
        (2, "random"),
        (4, "semi_hard"),
        (6, "khop"),
    ]
    assert stages[1][1].shared_negatives == 8 and stages[3][1].khop_max == 4
    with pytest.raises(ConfigError, match=re.escape("miner_stages[0]: miner.shared_negatives")):
        load_config(
            DEFAULT_RECIPE,
            [
                "miner.strategy=uniform",
                "miner.shared_negatives=8",
                "miner_stages=[{from_epoch: 2, set: {strategy: weighted}}]",
            ],
        )


def test_the_trainer_passes_the_lineage_only_when_asked(tmp_path: object) -> None:
    from contrastkit.train.trainer import Trainer

    base = [
        "loop.progress=false",
        "output.report=false",
        f"output.run_dir={tmp_path}",
        "miner.strategy=mixed",
    ]
    plain = Trainer(load_config(DEFAULT_RECIPE, base)).task.negatives.sampler  # the mammal closure
    assert plain.pool_excludes is plain.related
    both = Trainer(
        load_config(DEFAULT_RECIPE, [*base, "miner.pool_excludes_descendants=true"])
    ).task.negatives.sampler
    assert both.pool_excludes.col.numel() == 2 * plain.related.col.numel()


def _relation_task(*overrides: str):  # type: ignore[no-untyped-def]
    import torch

    from contrastkit.train.relation_task import RelationTask

    config = load_config(DEFAULT_RECIPE, ["data.name=karate", "burn_in.epochs=0", *overrides])
    return RelationTask(config, torch.Generator().manual_seed(0))


def test_num_negatives_up_to_every_other_node_is_taken_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task = _relation_task("miner.num_negatives=33")  # karate: 34 nodes
    assert task.negatives.miner.num_negatives == 33


@pytest.mark.parametrize(
    ("overrides", "key", "value"),
    [
        (["miner.num_negatives=34"], "miner.num_negatives", 34),
        (["miner.num_negatives=500"], "miner.num_negatives", 500),
        (
            ["miner.num_negatives=8", "miner_stages=[{from_epoch: 2, set: {num_negatives: 10}},"
             " {from_epoch: 4, set: {num_negatives: 40}}]"],
            "miner_stages[1].set.num_negatives",
            40,
        ),
    ],
)  # fmt: skip
def test_more_negatives_than_other_nodes_is_named_with_both_numbers(
    overrides: list[str], key: str, value: int
) -> None:
    message = f"{key} is {value}, more than the 33 negatives an anchor of this graph of 34 nodes"
    with pytest.warns(UserWarning, match=re.escape(message)):
        task = _relation_task(*overrides)
    assert max(m.num_negatives for _, m in task.negatives.stages) == value  # not clamped


def test_a_curriculums_count_above_the_other_nodes_is_named_with_both_numbers() -> None:
    """schedule.curriculum 'linear' takes its counts up to miner.num_negatives (its last
    stage's); karate's 34 nodes give an anchor 33 distinct negatives."""
    from contrastkit.train.trainer import Trainer

    base = ["data.name=karate", "burn_in.epochs=0", "loop.epochs=3"]
    base += ["schedule.curriculum=linear", "schedule.temperature=constant"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        Trainer(load_config(DEFAULT_RECIPE, [*base, "miner.num_negatives=33"]))
    key = "schedule.curriculum 'linear' stage 'stage_2' num_negatives (up to miner.num_negatives)"
    message = f"{key} is 34, more than the 33 negatives an anchor of this graph of 34 nodes"
    with pytest.warns(UserWarning, match=re.escape(message)):
        trainer = Trainer(load_config(DEFAULT_RECIPE, [*base, "miner.num_negatives=34"]))
    assert [s.num_negatives for s in trainer.schedules.curriculum.stages] == [8, 21, 34]
