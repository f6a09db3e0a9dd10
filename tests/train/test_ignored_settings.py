"""A setting the run does not read warns once (IgnoredSettingWarning), where it is
read it does not; shipped configs and the default recipe warn about nothing."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from contrastkit.cli import main
from contrastkit.train.config import (
    DEFAULT_RECIPE,
    dump_config,
    load_config,
    resume_config,
)
from contrastkit.train.ignored_settings import (
    RULES,
    IgnoredSettingWarning,
    ignored_settings,
)

ROOT = Path(__file__).resolve().parents[2]
FEWSHOT = ["task.kind=fewshot", "encoder.kind=mlp", "data.name=sbm"]
PROTONET = [*FEWSHOT, "meta.method=protonet"]
STREAM = ["continual.enabled=true"]
PAIRS = ["task.kind=pairs"]

# (rule index in RULES, the setting written, where it is ignored, where it applies)
CASES = [
    (0, "optim.momentum=0.9", ["optim.name=adam"], ["optim.name=sgd"]),
    (1, "optim.betas=[0.8, 0.99]", ["optim.name=sgd"], ["optim.name=adam"]),
    (2, "optim.eps=1e-6", ["optim.name=rsgd"], ["optim.name=radagrad"]),
    (3, "optim.amsgrad=true", ["optim.name=sgd"], ["optim.name=adamw"]),
    (4, "combiner.momentum=0.5", ["combiner.method=fixed"], ["combiner.method=magnitude"]),
    (5, "combiner.init_log_var=1.0", ["combiner.method=pcgrad"], ["combiner.method=uncertainty"]),
    (6, "combiner.alpha=0.5", ["combiner.method=uncertainty"], ["combiner.method=gradnorm"]),
    (7, "objective.margin=0.5", [], ["objectives={triplet: 1.0}"]),
    (8, "objective.norm_target=2.0", [], ["objectives={infonce: 1.0, norm: 0.1}"]),
    (9, "pairs.num_negatives=5", ["task.kind=nodes"], ["task.kind=pairs"]),
    (10, "nodes.num_negatives=3", ["task.kind=pairs"], ["task.kind=nodes"]),
    (11, "meta.ways=3", [], FEWSHOT),
    (12, "meta.distance=cosine", FEWSHOT, PROTONET),
    (13, "meta.temperature=0.5", PROTONET, [*PROTONET, "meta.distance=cosine"]),
    (14, "miner.strategy=semi_hard", ["task.kind=pairs"], []),
    (15, "miner.pool_size=7", STREAM, []),
    (16, "miner.num_negatives=20", ["task.kind=pairs"], [*PAIRS, "schedule.curriculum=linear"]),
    (17, "miner.num_negatives=20", STREAM, []),
    (18, "eval.ties=average", ["task.kind=nodes"], ["task.kind=relations"]),
    (19, "continual.replay.ratio=0.25", [], STREAM),
    (20, "continual.block_size=12", [*STREAM, "continual.stream=wordnet"], STREAM),
    (21, "continual.max_nodes_per_task=50", STREAM, [*STREAM, "continual.stream=wordnet"]),
    (
        22,
        "continual.undirected=true",
        STREAM,
        [*STREAM, "continual.stream=edge_files", "continual.files=[a.txt]"],
    ),
    (
        23,
        "schedule.temperature=cosine",
        FEWSHOT,
        ["task.kind=nodes", "encoder.kind=gnn", "data.name=sbm"],
    ),
    (24, "combiner.method=uncertainty", STREAM, []),
    (
        25,
        "data.path=/wn",
        [*STREAM, "data.name=wordnet_nouns"],
        [*STREAM, "data.name=wordnet_nouns", "continual.stream=wordnet"],
    ),
    (
        26,
        "data.path=/wn",
        [*STREAM, "continual.stream=wordnet", "data.name=edgelist"],
        [*STREAM, "data.name=wordnet_nouns", "continual.stream=wordnet"],
    ),
]  # fmt: skip


def _ignored_warnings(path: Path | None, overrides: list[str]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_config(path, overrides)
    return [str(w.message) for w in caught if issubclass(w.category, IgnoredSettingWarning)]


def test_every_rule_has_a_case() -> None:
    assert sorted(index for index, *_ in CASES) == list(range(len(RULES)))


@pytest.mark.parametrize(("index", "setting", "ignored", "applies"), CASES)
def test_ignored_setting_warns_once_where_ignored_only(
    index: int, setting: str, ignored: list[str], applies: list[str]
) -> None:
    key = setting.split("=", 1)[0]
    assert key in RULES[index].settings
    caught = _ignored_warnings(None, [*ignored, setting])
    assert len(caught) == 1, caught
    assert caught[0].startswith(f"{key}=") and "is ignored by" in caught[0]
    assert _ignored_warnings(None, [*applies, setting]) == []
    # the context alone (every value at its default) warns about nothing either
    # (an edge list without data.path is no config)
    if "data.name=edgelist" not in ignored:
        assert _ignored_warnings(None, ignored) == []


def test_message_names_setting_value_and_where_it_applies() -> None:
    caught = _ignored_warnings(None, ["optim.name=adam", "optim.momentum=0.9"])
    assert caught == [
        "optim.momentum=0.9 is ignored by optim.name 'adam' (it applies to sgd, rsgd)"
    ]
    caught = _ignored_warnings(None, ["task.kind=pairs", "miner.num_negatives=20"])
    assert caught == [
        "miner.num_negatives=20 is ignored by task.kind 'pairs' and schedule.curriculum 'none' "
        "(it applies with task.kind relations or schedule.curriculum linear)"
    ]


def test_one_warning_per_setting_under_several_rules() -> None:
    # meta.temperature fails three rules here (not fewshot, not protonet, not cosine)
    caught = _ignored_warnings(None, ["meta.temperature=0.5", "meta.distance=cosine"])
    assert sorted(c.split("=")[0] for c in caught) == ["meta.distance", "meta.temperature"]
    assert all("task.kind 'relations'" in c for c in caught)


def test_value_equal_to_default_is_not_a_setting() -> None:
    assert _ignored_warnings(None, ["optim.name=adam", "optim.momentum=0.0"]) == []
    assert _ignored_warnings(None, ["task.kind=pairs", "miner.strategy=random"]) == []


@pytest.mark.parametrize(
    "path",
    [DEFAULT_RECIPE, *sorted((ROOT / "configs").glob("*.yaml"))],
    ids=lambda p: p.name,
)
def test_shipped_configs_warn_about_nothing(path: Path) -> None:
    assert _ignored_warnings(path, []) == []
    # not even counting every non-default value as the user's
    assert ignored_settings(load_config(path)) == []


def test_recipe_values_are_not_the_users() -> None:
    """A pairs run started from the default recipe inherits its miner (never written by
    the user): no warning; a miner setting the user does write warns."""
    pairs = [
        "task.kind=pairs", "data.name=digits", "encoder.manifold=euclidean",
        "objective.distance=cosine", "optim.name=adam", "optim.lr=0.01",
    ]  # fmt: skip
    assert _ignored_warnings(DEFAULT_RECIPE, pairs) == []
    config = load_config(DEFAULT_RECIPE, pairs)
    assert {s.key for s in ignored_settings(config)} >= {"miner.strategy", "miner.num_negatives"}
    caught = _ignored_warnings(DEFAULT_RECIPE, [*pairs, "miner.strategy=semi_hard"])
    assert len(caught) == 1 and caught[0].startswith("miner.strategy='semi_hard' is ignored")


def test_user_file_counts_and_resume_counts_only_overrides(tmp_path: Path) -> None:
    user = tmp_path / "user.yaml"
    user.write_text("task: {kind: pairs}\nminer: {strategy: semi_hard}\n")
    assert len(_ignored_warnings(user, [])) == 1
    # a run directory's config.yaml is the resolved config: its values are not re-reported
    run = tmp_path / "run"
    run.mkdir()
    with pytest.warns(IgnoredSettingWarning):
        (run / "config.yaml").write_text(dump_config(load_config(user)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resume_config(run)
        resume_config(run, ["optim.momentum=0.5"])
    found = [str(w.message) for w in caught if issubclass(w.category, IgnoredSettingWarning)]
    assert len(found) == 1 and found[0].startswith("optim.momentum=0.5")


# the suite makes an ignored setting an error (pyproject.toml); here it is shown as a user sees it
@pytest.mark.filterwarnings("always::contrastkit.train.ignored_settings.IgnoredSettingWarning")
def test_cli_prints_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overrides = [
        "task.kind=relations", "data.name=karate", "encoder.manifold=euclidean",
        "encoder.dim=4", "objective.distance=cosine", "optim.name=adam", "optim.lr=0.01",
        "burn_in.epochs=0", "miner.strategy=random", "miner.num_negatives=4",
        "optim.momentum=0.9", "output.report=false", "eval.every_epochs=1",
    ]  # fmt: skip
    argv = ["train", "--epochs", "1", "--no-progress", "--run-dir", str(tmp_path / "run")]
    for text in overrides:
        argv += ["--set", text]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if "optim.momentum" in line]
    assert lines == [
        "contrastkit: warning: optim.momentum=0.9 is ignored by optim.name 'adam' "
        "(it applies to sgd, rsgd)"
    ]
