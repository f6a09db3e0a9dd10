"""Bad input to the CLI and the config loader: every case is a ConfigError/ValueError
naming the key (or the file, the flag) and the value; through ``contrastkit.cli.main``
it exits 2 with exactly one line on stderr and no traceback.

Most cases fail while the config loads (milliseconds); the few that need a trained run
share one module fixture."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contrastkit.cli import TRAIN_FLAGS, _flag_value, _train_overrides, build_parser, main
from contrastkit.data.edge_files import load_node_features, load_npz, read_edge_list, save_npz
from contrastkit.data.graph_data import GraphData
from contrastkit.train.config import (
    DEFAULT_RECIPE,
    TrainConfig,
    default_monitor,
    dump_config,
    load_config,
    monitor_candidates,
)
from contrastkit.typed_config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_yaml,
    parse_override,
)

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_exit_2(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert err.count("\n") == 1, err  # one line, no blank ones either
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _load(*overrides: str) -> TrainConfig:
    return load_config(DEFAULT_RECIPE, list(overrides))


def _refused(pattern_parts: tuple[str, ...], *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(*overrides)
    message = str(info.value)
    assert "\n" not in message
    for part in pattern_parts:
        assert part in message, (part, message)
    return message


# ---------------------------------------------------------------------------------------
# 1. numbers: YAML 1.2 core schema's floats load wherever a float is expected
# ---------------------------------------------------------------------------------------

YAML12_FLOATS = ["1e-5", "1E5", "+1.5", ".5", "-.5e-3", "1.", "3e+2", "1.0e-05", "-2.5E-3", "0.0"]


@pytest.mark.parametrize("text", YAML12_FLOATS)
def test_yaml12_float_forms_load_in_overrides(text: str) -> None:
    # init_log_var is read by the uncertainty combiner only (any other ignores it)
    config = _load("combiner.method=uncertainty", f"combiner.init_log_var={text}")
    assert config.combiner.init_log_var == float(text)


@pytest.mark.parametrize("text", YAML12_FLOATS)
def test_yaml12_float_forms_load_in_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"combiner:\n  method: uncertainty\n  init_log_var: {text}\n")
    value = load_config(path).combiner.init_log_var
    assert value == float(text) and type(value) is float


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("017", 17),  # YAML 1.2: decimal (YAML 1.1 read octal 15)
        ("0o17", 15),
        ("0x1F", 31),
        ("-3", -3),
        ("+4", 4),
        ("1_000", "1_000"),  # YAML 1.1 only: a string now
        ("1_000.5", "1_000.5"),
        ("1:30", "1:30"),  # sexagesimal, YAML 1.1 only
        ("2024-01-01", "2024-01-01"),  # no timestamps in the core schema
        ("1e3", 1000.0),
        ("true", True),
        ("null", None),
    ],
)
def test_yaml12_scalars(text: str, expected: Any) -> None:
    value = load_yaml(text)
    assert value == expected and isinstance(value, type(expected))


@pytest.mark.parametrize(
    "text", [".inf", "-.inf", "+.inf", ".Inf", ".INF", ".nan", ".NaN", "1e400"]
)
@pytest.mark.parametrize("key", ["optim.lr", "combiner.init_log_var", "loop.time_budget_s"])
def test_non_finite_floats_are_refused(key: str, text: str) -> None:
    message = _refused((key, "finite"), f"{key}={text}")
    if text != "1e400":
        assert text in message


@pytest.mark.parametrize(
    "value", [math.inf, -math.inf, math.nan, "inf", "nan", "Infinity", 10**400]
)
def test_non_finite_python_values_are_refused(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"optim\.lr must be a finite number"):
        from_dict(TrainConfig, {"optim": {"lr": value}})


@pytest.mark.parametrize(
    ("text", "shown"),
    [("1e3", "1e3"), ("1000.0", "1000.0"), ("1.5", "1.5"), ("'1e3'", "'1e3'"), ("1E3", "1E3")],
)
@pytest.mark.parametrize("key", ["loop.epochs", "loop.batch_size", "miner.num_negatives"])
def test_an_int_setting_refuses_a_float(key: str, text: str, shown: str) -> None:
    message = _refused((), f"{key}={text}")
    assert message == f"{key} must be an integer, got {shown}"


def test_an_int_setting_refuses_a_float_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n  epochs: 1e3\n")
    with pytest.raises(ConfigError, match=r"^loop\.epochs must be an integer, got 1e3$"):
        load_config(path)


def test_lr_from_a_flag_an_override_and_a_file_is_the_same(tmp_path: Path) -> None:
    args = build_parser().parse_args(["train", "--lr", "0.00001"])
    from_flag = _load(*_train_overrides(args)).optim.lr
    from_set = _load("optim.lr=1e-5").optim.lr
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-5\n")
    from_file = load_config(path).optim.lr
    assert from_flag == from_set == from_file == 1e-5


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=1e-300, max_value=1e300))
@SLOW
def test_a_float_flag_reaches_the_config_exactly(value: float) -> None:
    path, parsed = parse_override(f"optim.lr={_flag_value(value)}")
    assert path == ["optim", "lr"] and float(parsed) == value


@given(st.text(max_size=20))
@SLOW
def test_a_string_flag_reaches_the_config_exactly(value: str) -> None:
    assert parse_override(f"data.name={_flag_value(value)}")[1] == value


@given(
    st.from_regex(
        r"[-+]?(\.[0-9]{1,4}|[0-9]{1,4}(\.[0-9]{0,4})?)([eE][-+]?[0-9]{1,2})?", fullmatch=True
    )
)
@SLOW
def test_every_yaml12_float_loads_as_that_float(text: str) -> None:
    config = from_dict(TrainConfig, {"combiner": {"init_log_var": load_yaml(text)}})
    assert config.combiner.init_log_var == float(text)


def test_dumped_configs_read_back_unchanged(tmp_path: Path) -> None:
    config = _load('output.run_dir="1e3"', "optim.lr=1e-5", "loop.time_budget_s=1.5e2")
    assert config.output.run_dir == "1e3"
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    again = load_config(path)
    assert again == config


# ---------------------------------------------------------------------------------------
# 2. overrides: flags vs --set, keys through a non-mapping, empty key segments
# ---------------------------------------------------------------------------------------

FLAG_VALUES = {
    "dataset": "karate",
    "epochs": "3",
    "batch_size": "16",
    "dim": "4",
    "manifold": "euclidean",
    "lr": "0.1",
    "negatives": "3",
    "strategy": "random",
    "seed": "1",
}


@pytest.mark.parametrize("flag", list(TRAIN_FLAGS))
def test_a_flag_and_set_of_its_key_is_an_error(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    key = TRAIN_FLAGS[flag][0]
    option = f"--{flag.replace('_', '-')}"
    code, _, err = _cli(capsys, "train", option, FLAG_VALUES[flag], "--set", f"{key}=1")
    _one_line_exit_2(code, err, option, f"--set {key}", "give one")


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--run-dir", "x", "--set", "output.run_dir=y"], ["--run-dir", "output.run_dir"]),
        (["--no-progress", "--set", "loop.progress=true"], ["--no-progress", "loop.progress"]),
        (["--no-report", "--set", "output.report=true"], ["--no-report", "output.report"]),
        (["--lr", "0.1", "--set", "optim={lr: 0.2}"], ["--lr", "--set optim", "optim.lr"]),
        (["--epochs", "3", "--set", "loop={epochs: 4}"], ["--epochs", "loop.epochs"]),
        (["--lr", "0.1", "--set", " optim.lr =0.2"], ["--lr", "optim.lr"]),
    ],
)
def test_flag_conflicts_name_both(
    capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]
) -> None:
    code, _, err = _cli(capsys, "train", *argv)
    _one_line_exit_2(code, err, *needles)


def test_a_set_of_a_sibling_key_is_not_a_conflict() -> None:
    args = build_parser().parse_args(["train", "--lr", "0.1", "--set", "optim={name: adam}"])
    config = _load(*_train_overrides(args))
    assert config.optim.lr == 0.1 and config.optim.name == "adam"


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ("loop.epochs.x=1", "loop.epochs"),
        ("optim.lr.value=1", "optim.lr"),
        ("data.name.x=1", "data.name"),
        ("objectives.infonce.temperature=0.1", "objectives.infonce"),
        ("task.kind.a.b=1", "task.kind"),
        ("eval.monitor.x=1", "eval.monitor"),
    ],
)
def test_an_override_through_a_non_mapping_is_an_error(override: str, where: str) -> None:
    _refused((where, "not a mapping"), override)


@pytest.mark.parametrize(
    "override",
    [
        "loop..epochs=3",
        ".epochs=3",
        "loop.=3",
        "..=1",
        "loop. .epochs=3",
        "a..b.c=1",
        "loop.epochs.=1",
    ],
)
def test_empty_key_segments_are_an_error(override: str) -> None:
    _refused(("empty part",), override)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("noequals", ("key.sub=value",)),
        ("=3", ("empty key",)),
        ("  =3", ("empty key",)),
        ("loop.epochs=[1", ("loop.epochs", "unreadable value")),
        ("loop.epochs={a: 1", ("loop.epochs", "unreadable value")),
        ("loop.epochz=3", ("unknown key loop.epochz", "did you mean loop.epochs")),
        ("lop.epochs=3", ("unknown key lop", "did you mean loop")),
        ("loop.epochs=", ("loop.epochs must be an integer",)),
        ("loop.epochs=~", ("loop.epochs must be an integer",)),
        ("loop=3", ("loop must be a mapping",)),
        ("loop.epochs=ten", ("loop.epochs must be an integer, got 'ten'",)),
        ("loop.epochs=1_000", ("loop.epochs must be an integer, got '1_000'",)),
        ("loop.progress=maybe", ("loop.progress must be true or false",)),
        ("optim.lr=fast", ("optim.lr must be a number",)),
        ("optim.lr=1_000.5", ("optim.lr must be a number",)),
        ("data.name=1e3", ("data.name must be one of", "got 1e3")),
    ],
)
def test_bad_overrides(override: str, needles: tuple[str, ...]) -> None:
    _refused(needles, override)


@given(
    st.lists(st.sampled_from(["loop", "epochs", "", " ", "x"]), min_size=1, max_size=4).filter(
        lambda parts: any(not p.strip() for p in parts)
    )
)
@SLOW
def test_any_empty_segment_is_refused(parts: list[str]) -> None:
    with pytest.raises(ConfigError, match="empty"):
        apply_overrides({}, [".".join(parts) + "=1"])


def test_a_null_section_is_filled_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n")
    assert load_config(path, ["loop.epochs=3"]).loop.epochs == 3


def test_a_duplicate_key_in_a_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("loop:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(ConfigError, match=r"'epochs' is given twice"):
        load_config(path)


# ---------------------------------------------------------------------------------------
# 3. eval.monitor: validated against what the task kind reports
# ---------------------------------------------------------------------------------------

KINDS = {
    "relations": [],
    "pairs": ["task.kind=pairs"],
    "nodes": [
        "task.kind=nodes",
        "encoder.kind=gnn",
        "encoder.manifold=euclidean",
        "objective.distance=dot",
        "optim.name=adam",
        "optim.lr=0.01",
    ],
}


def _kind(kind: str, *extra: str) -> TrainConfig:
    return _load(*KINDS[kind], *extra)


def _candidates() -> list[tuple[str, str]]:
    return [(kind, name) for kind in KINDS for name in monitor_candidates(_kind(kind))]


@pytest.mark.parametrize(("kind", "name"), _candidates())
def test_every_known_monitor_loads(kind: str, name: str) -> None:
    config = _kind(kind, f"eval.monitor={name}")
    assert config.eval.monitor == name


@pytest.mark.parametrize(
    ("kind", "monitor", "hint"),
    [
        ("relations", "bogus", None),
        ("relations", "train/mapp", "train/map"),
        ("relations", "test/mrr", None),
        ("relations", "val_los", "val_loss"),
        ("relations", "train_loss/triplet", None),  # not an objective of this run
        ("pairs", "test/recall@3", None),  # 3 is not in pairs.eval_ks
        ("pairs", "test/link_map", None),
        ("pairs", "test/mrrr", "test/mrr"),
        ("nodes", "search/hnsw_recall@5", "search/hnsw_recall@10"),
        ("nodes", "train/mean_rank", None),
        ("nodes", "test/aucc", "test/auc"),
    ],
)
def test_an_unknown_monitor_is_refused(kind: str, monitor: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        _kind(kind, f"eval.monitor={monitor}")
    message = str(info.value)
    assert message.startswith("eval.monitor") and repr(monitor) in message and kind in message
    assert "known:" in message
    if hint is not None:
        assert f"did you mean {hint}?" in message


def test_the_cli_refuses_a_bogus_monitor(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "train", "--set", "eval.monitor=bogus")
    _one_line_exit_2(code, err, "eval.monitor", "bogus")


def test_relation_default_monitor_follows_the_kind() -> None:
    assert _kind("pairs").eval.monitor == default_monitor(_kind("pairs")) == "test/mrr"
    assert _kind("nodes").eval.monitor == "train_loss"
    assert _kind("nodes", "data.test_fraction=0.1").eval.monitor == "test/auc"
    assert _kind("relations").eval.monitor == "train/map"
    assert _kind("relations", "eval.monitor=link_map").eval.monitor == "test/link_map"


# ---------------------------------------------------------------------------------------
# 4. values out of range
# ---------------------------------------------------------------------------------------

OUT_OF_RANGE = [
    ("loop.seed=-1", "loop.seed"),
    ("loop.seed=2147483648", "loop.seed"),
    ("loop.num_threads=-1", "loop.num_threads"),
    ("output.checkpoint_every=0", "output.checkpoint_every"),
    ("output.checkpoint_every=-1", "output.checkpoint_every"),
    ("burn_in.lr_scale=0", "burn_in.lr_scale"),
    ("burn_in.lr_scale=-0.5", "burn_in.lr_scale"),
    ("burn_in.epochs=-1", "burn_in.epochs"),
    ("loop.burn_in_lr_scale=0", "burn_in.lr_scale"),
    ("loop.batch_size=0", "loop.batch_size"),
    ("loop.batch_size=-5", "loop.batch_size"),
    ("miner.memory_budget=0", "miner.memory_budget"),
    ("miner.memory_budget=-1", "miner.memory_budget"),
    ("eval.early_stopping_patience=-1", "eval.early_stopping_patience"),
    ("loop.time_budget_s=-1", "loop.time_budget_s"),
    ("loop.epochs=0", "loop.epochs"),
    ("loop.log_every=0", "loop.log_every"),
    ("loop.max_nonfinite_steps=0", "loop.max_nonfinite_steps"),
    ("loop.grad_cache_chunks=0", "loop.grad_cache_chunks"),
    ("eval.every_epochs=0", "eval.every_epochs"),
    ("eval.monitor=''", "eval.monitor"),
    ("output.run_dir=''", "output.run_dir"),
    ("encoder.dim=0", "encoder.dim"),
    ("encoder.hidden=0", "encoder.hidden"),
    ("encoder.layers=0", "encoder.layers"),
    ("encoder.dropout=1.0", "encoder.dropout"),
    ("encoder.dropout=-0.1", "encoder.dropout"),
    ("encoder.init_scale=0", "encoder.init_scale"),
    ("objective.temperature=0", "objective.temperature"),
    ("objective.margin=-1", "objective.margin"),
    ("objective.norm_target=-1", "objective.norm_target"),
    ("schedule.temperature_end=0", "schedule.temperature_end"),
    ("schedule.curriculum_stages=0", "schedule.curriculum_stages"),
    ("schedule.curriculum_patience=-1", "schedule.curriculum_patience"),
    ("schedule.loss_weights_warmup=0", "schedule.loss_weights_warmup"),
    ("schedule.loss_weights_initial={infonce: -1}", "schedule.loss_weights_initial.infonce"),
    ("combiner.momentum=1", "combiner.momentum"),
    ("combiner.alpha=-1", "combiner.alpha"),
    ("combiner.lr=0", "combiner.lr"),
    ("combiner.min_weight=0", "combiner.min_weight"),
    ("optim.lr=0", "optim.lr"),
    ("optim.lr=-1e-3", "optim.lr"),
    ("optim.weight_decay=-1", "optim.weight_decay"),
    ("optim.grad_clip=-1", "optim.grad_clip"),
    ("optim.momentum=1", "optim.momentum"),
    ("optim.momentum=-0.1", "optim.momentum"),
    ("optim.dampening=2", "optim.dampening"),
    ("optim.betas=[0.9]", "optim.betas"),
    ("optim.betas=[0.9, 1.0]", "optim.betas"),
    ("optim.eps=0", "optim.eps"),
    ("optim.warmup_steps=-1", "optim.warmup_steps"),
    ("optim.restart_epochs=[3, 2]", "optim.restart_epochs"),
    ("miner.num_negatives=0", "miner.num_negatives"),
    ("miner.hard_ratio=1.5", "miner.hard_ratio"),
    ("miner.pool_size=0", "miner.pool_size"),
    ("miner.refresh_every=0", "miner.refresh_every"),
    ("miner.shared_negatives=-1", "miner.shared_negatives"),
    ("miner.weighted_alpha=-1", "miner.weighted_alpha"),
    ("miner.num_clusters=0", "miner.num_clusters"),
    ("miner.khop_min=1", "miner.khop_min"),
    ("miner.khop_max=1", "miner.khop_min"),
    ("miner_stages=[{from_epoch: 0, set: {strategy: hardest}}]", "miner_stages[0].from_epoch"),
    ("miner_stages=[{from_epoch: 3, set: {pool_size: 0}}]", "miner_stages[0]: miner.pool_size"),
    ("miner_stages=[{set: {strategy: hardest}}]", "miner_stages[0].from_epoch is required"),
    ("data.knn=0", "data.knn"),
    ("data.sbm_nodes=0", "data.sbm_nodes"),
    ("data.sbm_blocks=0", "data.sbm_blocks"),
    ("data.sbm_p_in=1.5", "data.sbm_p_in"),
    ("data.sbm_p_out=-0.1", "data.sbm_p_out"),
    ("data.test_fraction=1", "data.test_fraction"),
    ("data.path=/tmp/x.tsv", "data.path"),
    ("sparse.ball_eps=0", "sparse.ball_eps"),
    ("sparse.max_row_step=-1", "sparse.max_row_step"),
    ("hierarchy.exclude_common_ancestors=2", "hierarchy.exclude_common_ancestors"),
    ("objectives={infonce: .inf}", "objectives.infonce"),
    ("objectives={infonce: -1}", "objectives.infonce"),
    ("pairs.split_seed=-1", "pairs.split_seed"),
    ("nodes.hnsw_k=0", "nodes.hnsw_k"),
]


@pytest.mark.parametrize(("override", "key"), OUT_OF_RANGE)
def test_out_of_range_values_name_the_key_and_value(override: str, key: str) -> None:
    _refused((key,), override)


def test_sbm_blocks_above_nodes_is_refused() -> None:
    _refused(("data.sbm_blocks", "data.sbm_nodes=10"), "data.sbm_nodes=10", "data.sbm_blocks=11")


def test_zero_threads_still_means_torch_default() -> None:
    assert _load("loop.num_threads=0").loop.num_threads == 0


# ---------------------------------------------------------------------------------------
# every field of every config section with a value of a wrong type; unknown keys
# ---------------------------------------------------------------------------------------


def _wrong_values(tp: Any) -> list[Any]:
    origin, args = get_origin(tp), get_args(tp)
    if tp is bool:
        return ["maybe", 1]
    if tp is int:
        return ["ten", 1.5, True]
    if tp is float:
        return ["fast", True, [1.0]]
    if tp is str:
        return [5, ["a"]]
    if origin is Literal:
        return ["no-such-choice", 3]
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _wrong_values(inner[0]) if len(inner) == 1 else []
    if origin is list or origin is tuple:
        return [3, "x"]
    if origin is dict:
        return [3, ["a"]]
    return []


def _leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    hints = get_type_hints(cls)
    out: list[tuple[str, Any]] = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _leaf_fields(tp, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        else:
            out.append((prefix + f.name, tp))
    return out


def _nested(key: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


WRONG_TYPES = [
    pytest.param(key, value, id=f"{key}={value!r}")
    for key, tp in _leaf_fields(TrainConfig)
    for value in _wrong_values(tp)
]


@pytest.mark.parametrize(("key", "value"), WRONG_TYPES)
def test_every_field_refuses_a_wrong_type(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, _nested(key, value))
    assert key in str(info.value), str(info.value)


SECTIONS = [
    name for name, tp in get_type_hints(TrainConfig).items() if dataclasses.is_dataclass(tp)
]


@pytest.mark.parametrize("section", SECTIONS)
def test_unknown_keys_in_every_section(section: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown key {section}\.no_such_key$"):
        from_dict(TrainConfig, {section: {"no_such_key": 1}})
    first = dataclasses.fields(getattr(TrainConfig(), section))[0].name
    with pytest.raises(ConfigError, match=rf"did you mean {section}\.{first}\?"):
        from_dict(TrainConfig, {section: {first + "x": 1}})
    with pytest.raises(ConfigError, match=rf"^{section} must be a mapping"):
        from_dict(TrainConfig, {section: 3})


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError, match=r"unknown key optm \(did you mean optim\?\)"):
        from_dict(TrainConfig, {"optm": {}})


def test_the_wrong_type_table_is_large() -> None:
    assert len(WRONG_TYPES) >= 200


# ---------------------------------------------------------------------------------------
# 5. files
# ---------------------------------------------------------------------------------------


def _bad_config(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "c.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "non-utf8":
        path.write_bytes(b"loop:\n  epochs: 3\n# caf\xe9\n")
    elif kind == "truncated":
        path.write_text("loop: {epochs: 3\n")
    elif kind == "invalid":
        path.write_text("loop:\n  epochs: 3\n bad indent: [\n")
    elif kind == "tab":
        path.write_text("loop:\n\tepochs: 3\n")
    elif kind == "list":
        path.write_text("- 1\n- 2\n")
    elif kind == "scalar":
        path.write_text("just text\n")
    elif kind == "nul":
        path.write_bytes(b"loop:\n  epochs: \x00\n")
    elif kind == "missing":
        pass
    return path


FILE_KINDS = {
    "directory": "is a directory",
    "non-utf8": "not UTF-8 text (byte 0xe9 on line 3)",
    "truncated": "not valid YAML",
    "invalid": "not valid YAML",
    "tab": "not valid YAML",
    "list": "must hold a mapping",
    "scalar": "must hold a mapping",
    "nul": "not valid YAML",
    "missing": "does not exist",
}


@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_unreadable_config_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = _bad_config(tmp_path, kind)
    with pytest.raises(ConfigError, match=FILE_KINDS[kind].replace("(", r"\(").replace(")", r"\)")):
        load_config(path)
    code, _, err = _cli(capsys, "train", "--config", str(path))
    _one_line_exit_2(code, err, str(path), FILE_KINDS[kind])


def test_a_config_without_permission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n  epochs: 3\n")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: make the read fail as it would for a user
        real = Path.read_bytes

        def deny(self: Path) -> bytes:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", deny)
    code, _, err = _cli(capsys, "train", "--config", str(path))
    _one_line_exit_2(code, err, str(path), "cannot be read")


def test_an_empty_config_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("# nothing\n")
    assert load_config(path) == TrainConfig()


@pytest.mark.parametrize("where", ["is-file", "under-file", "under-file-deep"])
def test_a_run_dir_that_cannot_be_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    run_dir = {
        "is-file": blocker,
        "under-file": blocker / "run",
        "under-file-deep": blocker / "a" / "b" / "run",
    }[where]
    code, _, err = _cli(capsys, "train", "--run-dir", str(run_dir), "--epochs", "1")
    line = _one_line_exit_2(code, err, "--run-dir", str(run_dir))
    assert ("is a file" in line) if where == "is-file" else ("lies under the file" in line)
    # the same through the config key
    code, _, err = _cli(capsys, "train", "--set", f"output.run_dir={run_dir}")
    _one_line_exit_2(code, err, "output.run_dir", str(run_dir))


@pytest.mark.parametrize(
    ("out", "needle"),
    [
        ("z.csv", "--out must end in .npy, .npz or .parquet"),
        ("z", "--out must end in"),
        ("adir.npy", "is a directory"),
        ("blocker/z.npy", "lies under the file"),
        ("blocker/deeper/z.npz", "lies under the file"),
    ],
)
def test_export_out_is_checked_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, needle: str
) -> None:
    (tmp_path / "adir.npy").mkdir()
    (tmp_path / "blocker").write_text("x")
    # the run directory does not even exist: --out is refused before anything is loaded
    code, _, err = _cli(capsys, "export", str(tmp_path / "norun"), "--out", str(tmp_path / out))
    _one_line_exit_2(code, err, needle)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["export", "RUN", "--out", "OUT/z.npy", "--faiss", "OUT/blocker/i.faiss"], "--faiss"),
        (["export", "RUN", "--out", "OUT/z.npy", "--faiss", "OUT/adir.npy"], "--faiss"),
        (["export", "RUN", "--out", "OUT/z.npy", "--faiss", "OUT/z.npy"], "same file"),
        (["mine", "RUN", "--out", "OUT/n.txt"], "--out must end in .npz"),
        (["mine", "RUN", "--out", "OUT/blocker/n.npz"], "lies under the file"),
        (["mine", "RUN", "--out", "OUT/n.npz", "--k", "0"], "--k must be > 0"),
        (["report", "RUN", "--out", "OUT/blocker/r.html"], "lies under the file"),
        (["report", "RUN", "--max-points", "0"], "--max-points must be > 0"),
        (["eval", "--embeddings", "OUT/z.txt"], "--embeddings must be a .npy or .npz"),
        (["eval", "--embeddings", "OUT/adir.npy"], "is a directory"),
        (["eval", "--embeddings", "OUT/none.npy"], "does not exist"),
        (["eval"], "either RUN_DIR or --embeddings"),
        (["eval", "RUN"], "not a run directory"),
        (["train", "--resume", "OUT/blocker"], "--resume"),
        (["train", "--resume", "OUT/norun", "--config", "x.yaml"], "do not pass --config"),
        (["train", "--lr", "inf"], "invalid finite number value"),
        (["train", "--lr", "nan"], "invalid finite number value"),
        (["train", "--epochs", "1e3"], "invalid int value"),
        (["train", "--epochs", "-1"], "loop.epochs must be > 0"),
        (["train", "--seed", "-1"], "loop.seed"),
        (["train", "--dim", "0"], "encoder.dim"),
        (["train", "--dataset", "1e3"], "data.name must be one of"),
        (["train", "--strategy", "hard-ish"], "miner.strategy"),
        (["train", "--manifold", "sphere"], "encoder.manifold"),
        (["train", "--negatives", "0"], "miner.num_negatives"),
        (["train", "--batch-size", "0"], "loop.batch_size"),
    ],
)
def test_bad_command_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    (tmp_path / "adir.npy").mkdir()
    (tmp_path / "blocker").write_text("x")
    run = str(tmp_path / "norun")
    argv = [a.replace("RUN", run).replace("OUT", str(tmp_path)) for a in argv]
    code, _, err = _cli(capsys, *argv)
    _one_line_exit_2(code, err, needle)


# -- edge lists, npz, npy ---------------------------------------------------------------


def test_a_huge_integer_node_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("0\t1\n1\t2\n2\t1000000000000\n")
    with pytest.raises(ValueError) as info:
        read_edge_list(path)
    message = str(info.value)
    for needle in (str(path), "line 3", "1000000000000", "ids='str'"):
        assert needle in message


@pytest.mark.parametrize("big", [2**20 + 1, 2**31, 10**30, 10**40])
def test_ids_above_the_bound(tmp_path: Path, big: int) -> None:
    path = tmp_path / "g.txt"
    path.write_text(f"# comment\n0 1\n{big} 1\n")
    with pytest.raises(ValueError, match=rf"line 3: node id {big} is too large"):
        read_edge_list(path)


def test_sparse_ids_within_the_bound_load(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text(f"0 1\n1 {2**20}\n")
    assert read_edge_list(path).num_nodes == 2**20 + 1
    # the same ids read as names are dense
    assert read_edge_list(path, ids="str").num_nodes == 3
    # an explicit num_nodes says how many rows there are
    with pytest.raises(ValueError, match=r"line 2: node id 1048576 is out of range"):
        read_edge_list(path, num_nodes=10)


def test_a_huge_id_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("0\t1\n1\t1000000000000\n")
    code, _, err = _cli(
        capsys,
        "train",
        "--dataset",
        "edgelist",
        "--set",
        f"data.path={path}",
        "--run-dir",
        str(tmp_path / "run"),
        "--no-progress",
        "--no-report",
    )
    _one_line_exit_2(code, err, str(path), "line 2", "1000000000000")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"a\tb\n\xff\xfe\tc\n", "line 2: not UTF-8 text"),
        (b"0\t1\t0.5\n1\t2\tnan\n", "line 2: weight 'nan' is not a finite number"),
        (b"0\t1\t0.5\n1\t2\tinf\n", "line 2: weight 'inf' is not a finite number"),
        (b"0\t1\n1\n", "line 2: expected 2 fields"),
        (b"0\t-1\n", "negative node id"),
        (b"", "no edges found"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text"),
    ],
)
def test_bad_edge_lists_name_the_file(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "g.tsv"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_edge_list(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_an_edge_list_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory"):
        read_edge_list(tmp_path)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, edge_index=np.array([[0, 1], [1, 2]]), num_nodes=np.array(3))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (lambda: _npz_bytes()[:40], "not a readable .npz file"),
        (lambda: _npz_bytes()[:-30], "not a readable .npz file"),
        (lambda: b"PK\x03\x04garbage", "not a readable .npz file"),
        (lambda: b"hello", "not a readable .npz file"),
        (lambda: b"\x93NUMPY\x01\x00garbage", "not a readable .npz file"),
    ],
)
def test_truncated_or_foreign_npz(tmp_path: Path, content: Any, needle: str) -> None:
    path = tmp_path / "g.npz"
    path.write_bytes(content())
    with pytest.raises(ValueError) as info:
        load_npz(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"edge_index": np.array([[0.5, 1.0], [1.0, 2.0]])}, "integer [2, E]"),
        ({"edge_index": np.array([0, 1, 2])}, "integer [2, E]"),
        ({"edge_index": np.array([[0, 1], [1, 5]]), "num_nodes": np.array(3)}, "[0, 3)"),
        ({"edge_index": np.array([[0], [1]]), "num_nodes": np.array(-1)}, "num_nodes"),
        ({"x": np.zeros((3, 2))}, "no 'edge_index'"),
    ],
)
def test_malformed_npz(tmp_path: Path, arrays: dict[str, np.ndarray], needle: str) -> None:
    path = tmp_path / "g.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as info:
        load_npz(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_npz_round_trip_still_works(tmp_path: Path) -> None:
    graph = GraphData(torch.tensor([[0, 1], [1, 2]]), 3, names=["a", "b", "c"])
    save_npz(tmp_path / "g.npz", graph)
    again = load_npz(tmp_path / "g.npz")
    assert again.num_nodes == 3 and again.names == ["a", "b", "c"]


def test_an_npy_given_to_load_npz(tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"not an \.npz archive"):
        load_npz(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr'"), "not a readable .npy file"),
        (lambda p: p.write_bytes(b"not numpy at all"), "not a readable .npy file"),
        (lambda p: p.write_bytes(_npy_bytes(np.zeros((4, 3)))[:-10]), "not a readable .npy file"),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "not a readable .npy file"),
        (lambda p: np.save(p, np.array(["a", "b"])), "must be numbers"),
        (lambda p: np.save(p, np.array([1.0, np.nan])), "NaN or infinite"),
        (lambda p: np.save(p, np.zeros((2, 2, 2))), "1-D or 2-D"),
    ],
)
def test_bad_node_feature_files(tmp_path: Path, content: Any, needle: str) -> None:
    path = tmp_path / "x.npy"
    content(path)
    with pytest.raises(ValueError) as info:
        load_node_features(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_an_npz_given_as_node_features(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    with open(path, "wb") as fh:
        np.savez(fh, x=np.zeros(3))
    with pytest.raises(ValueError, match=r"got an \.npz archive"):
        load_node_features(path)


@pytest.mark.parametrize(
    ("name", "write", "needle"),
    [
        ("z.npz", lambda p: p.write_bytes(_npz_bytes()[:50]), "not a readable .npz"),
        ("z.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage"), "not a readable .npy"),
        ("z.npz", lambda p: np.savez(p, other=np.zeros(3)), "no 'embeddings' array"),
        ("z.npy", lambda p: np.save(p, np.zeros(3)), "float [N, d]"),
        ("z.npy", lambda p: np.save(p, np.full((34, 2), np.nan)), "NaN or infinite"),
        ("z.npy", lambda p: np.save(p, np.zeros((3, 2))), "has 3 rows"),
    ],
)
def test_eval_of_a_bad_embedding_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, write: Any, needle: str
) -> None:
    path = tmp_path / name
    write(path)
    code, _, err = _cli(capsys, "eval", "--embeddings", str(path), "--dataset", "karate")
    _one_line_exit_2(code, err, needle)


# ---------------------------------------------------------------------------------------
# 6, 7 and the one real training: --lr 0.00001 trains; export's sidecars; warnings
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cosine_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("robust") / "run"
    argv = [
        "train", "--dataset", "karate", "--epochs", "2", "--batch-size", "32", "--dim", "3",
        "--manifold", "euclidean", "--negatives", "4", "--lr", "0.00001", "--run-dir", str(run),
        "--no-progress", "--no-report", "--set", "objective.distance=cosine",
        "--set", "optim.name=adam", "--set", "burn_in.epochs=0", "--set", "eval.every_epochs=2",
    ]  # fmt: skip
    assert main(argv) == 0
    return run


def test_the_lr_flag_trains_with_its_exact_value(cosine_run: Path) -> None:
    written = load_config(cosine_run / "config.yaml")
    assert written.optim.lr == 1e-5
    assert "lr: 1.0e-05" in (cosine_run / "config.yaml").read_text()


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".parquet"])
def test_every_export_has_a_sidecar(cosine_run: Path, tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"z{suffix}"
    assert main(["export", str(cosine_run), "--out", str(out)]) == 0
    meta = json.loads((tmp_path / f"z{suffix}.meta.json").read_text())
    assert meta["count"] == 34 and meta["dimension"] == 3 and meta["normalized"] is False
    assert meta["distance"] == "cosine" and meta["manifold"] == "euclidean"
    assert meta["run_dir"] == str(cosine_run.absolute()) and meta["format"] == suffix[1:]
    assert meta["file"] == out.name and "contrastkit_version" in meta
    assert not list(tmp_path.glob(".*tmp-*"))  # written atomically, nothing left over


def test_the_faiss_index_says_its_rows_are_normalised(cosine_run: Path, tmp_path: Path) -> None:
    faiss = pytest.importorskip("faiss")
    out, index_path = tmp_path / "z.npy", tmp_path / "z.faiss"
    assert main(["export", str(cosine_run), "--out", str(out), "--faiss", str(index_path)]) == 0
    meta = json.loads((tmp_path / "z.faiss.meta.json").read_text())
    assert meta["normalized"] is True and meta["metric"] == "inner_product"
    assert meta["rows_of"] == "z.npy" and meta["dimension"] == 3 and meta["count"] == 34
    index = faiss.read_index(str(index_path))
    rows = index.reconstruct_n(0, index.ntotal)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    raw = np.load(out)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)  # the npy holds the raw rows


def test_faiss_with_a_poincare_distance_is_refused_before_writing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cosine_run: Path,
) -> None:
    import contrastkit.cli_export as commands  # where cmd_export looks up _trained
    from contrastkit.functional.distances import get_distance

    real = commands._trained

    def poincare(run_dir: Path) -> Any:
        trainer = real(run_dir)
        trainer.distance = get_distance("poincare")
        return trainer

    monkeypatch.setattr(commands, "_trained", poincare)
    out = tmp_path / "z.npy"
    code, _, err = _cli(
        capsys, "export", str(cosine_run), "--out", str(out), "--faiss", str(tmp_path / "i.faiss")
    )
    _one_line_exit_2(code, err, "--faiss", "'poincare' has no FAISS metric")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_faiss_index_folders_are_made(tmp_path: Path, cosine_run: Path) -> None:
    pytest.importorskip("faiss")
    index = tmp_path / "a" / "b" / "i.faiss"
    assert (
        main(["export", str(cosine_run), "--out", str(tmp_path / "z.npz"), "--faiss", str(index)])
        == 0
    )
    assert index.is_file() and (index.parent / "i.faiss.meta.json").is_file()


def _showing_warnings() -> Any:
    """Warnings printed to stderr as Python does outside pytest (which records them)."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("always")

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    return context


def test_a_foreign_checkpoint_is_one_line_despite_torch_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cosine_run: Path
) -> None:
    import pickle

    run = tmp_path / "foreign"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text((cosine_run / "config.yaml").read_text())
    with open(run / "checkpoints" / "last.pt", "wb") as fh:
        pickle.dump({"a": object}, fh, protocol=4)  # torch warns about the protocol
    context = _showing_warnings()
    try:
        for argv in (
            ["eval", str(run)],
            ["export", str(run), "--out", str(tmp_path / "z.npy")],
            ["mine", str(run), "--out", str(tmp_path / "n.npz")],
            ["train", "--resume", str(run), "--no-progress"],
        ):
            code, _, err = _cli(capsys, *argv)
            _one_line_exit_2(code, err, "checkpoint", "unreadable")
    finally:
        context.__exit__(None, None, None)


def test_setup_warnings_are_dropped_on_error_and_shown_on_success(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cosine_run: Path
) -> None:
    import contrastkit.cli_commands as commands

    real = commands._trained

    def noisy(run_dir: Path) -> Any:
        warnings.warn("a library's warning while loading", UserWarning, stacklevel=1)
        if "missing" in str(run_dir):
            raise ConfigError("the load failed")
        return real(run_dir)

    monkeypatch.setattr(commands, "_trained", noisy)
    monkeypatch.setattr(commands, "_run_dir", Path)
    context = _showing_warnings()
    try:
        code, _, err = _cli(capsys, "eval", "/missing-run")
        _one_line_exit_2(code, err, "the load failed")
        code, out, err = _cli(capsys, "eval", str(cosine_run))
        assert code == 0 and "a library's warning while loading" in err and "map" in out
    finally:
        context.__exit__(None, None, None)
