"""The training configuration: one typed dataclass per concern, validated once.

Loaded from YAML (:func:`load_config`), overridable with ``key.sub=value`` flags,
and saved resolved in the run directory. Every field has a default, and the
defaults are neutral — a cosine embedding of the karate club trained by InfoNCE with
10 random negatives and Adam — not any one recipe's: what a recipe needs it says in
its file. ``contrastkit train`` with no ``--config`` loads :data:`DEFAULT_RECIPE`,
the packaged recipe: a 5-dimensional Poincaré embedding of the WordNet mammal closure
trained with Nickel & Kiela's (2017) distance softmax (see that file and
docs/recipes.md). Recipe-only settings live in opt-in sections (``burn_in``,
``sparse``, ``hierarchy``: :mod:`.recipe_config`); their old flat names still load.

Each section is a dataclass in its own module (``task``/``encoder``:
:mod:`.model_config`; ``objective``/``schedule``/``combiner``: :mod:`.loss_config`;
``optim``/``loop``: :mod:`.optim_config`; ``eval``/``output``: :mod:`.eval_config`; and
the others' ``*_config`` modules), re-exported here. This module holds what spans them:
:class:`TrainConfig`, its checks of sections against each other, the metrics a task
can monitor, and reading / writing config files."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contrastkit.continual.config import ContinualConfig
from contrastkit.train.data_config import DataConfig
from contrastkit.train.distributed_config import DistributedConfig
from contrastkit.train.eval_config import (
    METRIC_ALIASES,
    RELATIONS_MONITOR,
    EvalConfig,
    OutputConfig,
)
from contrastkit.train.ignored_settings import warn_ignored_settings, written_keys
from contrastkit.train.loss_config import CombinerConfig, ObjectiveConfig, ScheduleConfig
from contrastkit.train.matryoshka_config import MatryoshkaConfig
from contrastkit.train.meta_config import FEWSHOT_METRICS, MetaConfig, check_fewshot
from contrastkit.train.miner_config import MinerConfig, MinerStage, resolve_miner_stages
from contrastkit.train.model_config import EncoderConfig, TaskConfig
from contrastkit.train.nodes_config import NodesConfig
from contrastkit.train.optim_config import MAX_SEED, LoopConfig, OptimConfig
from contrastkit.train.pairs_config import PairsConfig
from contrastkit.train.recipe_config import (
    BurnInConfig,
    HierarchyConfig,
    SparseConfig,
    migrate_legacy_keys,
    migrate_override,
)
from contrastkit.typed_config import (
    ConfigError,
    apply_overrides,
    config_fail,
    dump_yaml,
    from_dict,
    load_yaml,
    to_dict,
    yaml_problem,
)

if TYPE_CHECKING:
    from contrastkit.objectives.registry import ObjectiveSpec

# the recipe `contrastkit train` runs when given no config (shipped with the package)
DEFAULT_RECIPE = Path(__file__).parent / "recipes" / "mammals_default.yaml"

# the sections in their own modules, importable from here as they always were
__all__ = [
    "DEFAULT_RECIPE",
    "MAX_SEED",
    "METRIC_ALIASES",
    "RELATIONS_MONITOR",
    "TEXT_SOURCES",
    "BurnInConfig",
    "CombinerConfig",
    "ContinualConfig",
    "DataConfig",
    "DistributedConfig",
    "EncoderConfig",
    "EvalConfig",
    "HierarchyConfig",
    "LoopConfig",
    "MatryoshkaConfig",
    "MetaConfig",
    "MinerConfig",
    "MinerStage",
    "NodesConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "OutputConfig",
    "PairsConfig",
    "ScheduleConfig",
    "SparseConfig",
    "TaskConfig",
    "TrainConfig",
    "default_monitor",
    "dump_config",
    "load_config",
    "monitor_candidates",
    "read_config_file",
    "resume_config",
]


@dataclass
class TrainConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    nodes: NodesConfig = field(default_factory=NodesConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    matryoshka: MatryoshkaConfig = field(default_factory=MatryoshkaConfig)
    # name -> weight, or name -> {weight, **parameters} (contrastkit.objectives.REGISTRY)
    objectives: dict[str, Any] = field(default_factory=lambda: {"infonce": 1.0})
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    miner: MinerConfig = field(default_factory=MinerConfig)
    # later stages of the miner: from each stage's epoch on, its settings replace those
    # before (uniform negatives first, mined ones later: configs/nouns_euclidean_d200.yaml)
    miner_stages: list[MinerStage] = field(default_factory=list)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    combiner: CombinerConfig = field(default_factory=CombinerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    burn_in: BurnInConfig = field(default_factory=BurnInConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # a task stream learned online (contrastkit.continual): enabled runs take its learner
    continual: ContinualConfig = field(default_factory=ContinualConfig)
    # task.kind fewshot: episodes, MAML / ProtoNet (train/meta_config.py)
    meta: MetaConfig = field(default_factory=MetaConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    # `contrastkit tune`'s search space: config key -> distribution (contrastkit.tune.space);
    # `contrastkit train` trains the config's own values and says it ignores the block
    search: dict[str, Any] = field(default_factory=dict)

    def objective_specs(self) -> dict[str, ObjectiveSpec]:
        """``objectives`` validated: each name's weight and typed parameters."""
        return _objective_specs(self)

    def objective_weights(self) -> dict[str, float]:
        """The weights of the objectives that run (weight > 0)."""
        return {n: s.weight for n, s in self.objective_specs().items() if s.weight > 0}

    def _check_one_temperature_owner(self, specs: dict[str, ObjectiveSpec]) -> None:
        """The run's temperature has one owner: ``objective.temperature`` (constant), a
        ``schedule.temperature`` annealing, or the curriculum's stages; an objective's
        own temperature (fixed or learnable) is refused beside a scheduled one."""
        sc = self.schedule
        if sc.curriculum != "none" and sc.temperature != "constant":
            config_fail(
                "schedule.temperature",
                f"{sc.temperature!r} and schedule.curriculum {sc.curriculum!r} both set the "
                "temperature; keep one (a curriculum's stages carry their temperatures)",
            )
        if sc.curriculum == "none" and sc.temperature == "constant":
            return
        for name, spec in specs.items():
            params = spec.params
            own = getattr(params, "temperature", None) is not None or getattr(
                params, "learnable_temperature", False
            )
            if spec.weight > 0 and own:
                config_fail(
                    f"objectives.{name}.temperature",
                    "is the objective's own, but the run's temperature is scheduled "
                    "(schedule.temperature / schedule.curriculum); keep one",
                )

    def __post_init__(self) -> None:
        specs = self.objective_specs()  # validates names, weights and parameters
        for name, spec in specs.items():
            if not math.isfinite(spec.weight):
                config_fail(f"objectives.{name}", f"weight must be finite, got {spec.weight}")
        if not any(spec.weight > 0 for spec in specs.values()):
            config_fail("objectives", "must give at least one objective a weight > 0")
        _check_monitor(self)
        if self.task.kind == "fewshot":
            check_fewshot(
                self.encoder.kind, self.data.name, self.data.test_fraction, self.meta.features,
                self.meta.train_tasks,
            )  # fmt: skip
        if self.encoder.manifold == "poincare" and self.objective.distance != "poincare":
            config_fail("objective.distance", "must be 'poincare' for a Poincaré embedding")
        if self.sparse.ball_eps < 1e-6 and self.encoder.dtype != "float64":
            # float32 spaces numbers near 1 by 6e-8: such a rim cannot be told apart
            config_fail(
                "sparse.ball_eps",
                f"{self.sparse.ball_eps} is below float32's reach (1e-6); "
                "set encoder.dtype: float64",
            )
        if self.loop.autocast and self.encoder.kind == "embedding":
            config_fail(
                "loop.autocast", "applies to mlp/gnn encoders; an embedding table has no matmul"
            )
        _check_text(self)
        if self.loop.grad_caching and self.combiner.method == "pcgrad":
            config_fail(
                "combiner.method", "'pcgrad' needs per-objective gradients; set grad_cache_chunks=1"
            )
        if self.loop.grad_caching and self.encoder.kind == "gnn":
            config_fail("loop.grad_cache_chunks", "cannot chunk a full-graph GNN encoder; use 1")
        resolve_miner_stages(self.miner, self.miner_stages)  # validates every stage
        if self.schedule.curriculum != "none" and any(
            "num_negatives" in stage.set for stage in self.miner_stages
        ):
            config_fail(
                "miner_stages", "cannot set num_negatives: schedule.curriculum sets the count"
            )
        sc = self.schedule
        self._check_one_temperature_owner(specs)
        weights = {n: s.weight for n, s in specs.items() if s.weight > 0}
        if self.combiner.method == "gradnorm" and len(set(weights.values())) > 1:
            config_fail(
                "combiner.method",
                f"'gradnorm' learns the weights from 1 (Chen et al. 2018); give every "
                f"objective the same weight, got {weights}",
            )
        if sc.curriculum != "none" and sc.loss_weights != "constant":
            config_fail(
                "schedule.loss_weights",
                f"{sc.loss_weights!r} and schedule.curriculum {sc.curriculum!r} both set loss "
                "weights over time; keep one",
            )
        if sc.loss_weights == "warmup" and set(sc.loss_weights_initial) != set(self.objectives):
            config_fail(
                "schedule.loss_weights_initial",
                f"must name the objectives {sorted(self.objectives)} for 'warmup'",
            )
        if self.search:
            from contrastkit.tune.space import check_search

            check_search(self)  # every key and bound, against this config (did you mean)


def default_monitor(config: TrainConfig) -> str:
    """The metric a run of ``config``'s task kind watches unless ``eval.monitor`` names
    another: relations ``train/map``, pairs ``test/mrr``, nodes ``test/auc`` with a
    link-prediction split (``data.test_fraction > 0``), else ``train_loss``."""
    kind = config.task.kind
    if kind == "pairs":
        return "test/mrr"  # text sources too: the MRR of held-out anchors' positives
    if kind == "fewshot":
        return "val/accuracy"
    if kind == "nodes":
        return "test/auc" if config.data.test_fraction > 0 else "train_loss"
    return RELATIONS_MONITOR


def monitor_candidates(config: TrainConfig) -> list[str]:
    """Every metric name a run of ``config`` can report at an evaluation, by task kind
    (the exact set depends on the data: a split, labels, faiss; the trainer checks the
    monitor against the first evaluation's metrics).

    * relations: ``train/map``, ``train/mean_rank``, ``train/alignment``,
      ``embedding/uniformity``; with a split ``test/link_map``, ``test/link_mean_rank``,
      ``test/auc``, ``test/ap``; with labels ``test/probe_accuracy``;
    * pairs: ``test/{recall,hit,precision,ndcg}@K`` for ``K`` in ``pairs.eval_ks``,
      ``test/mrr``, ``test/probe_accuracy``, ``test/probe_macro_f1``,
      ``train/probe_accuracy``;
    * nodes: ``test/auc``, ``test/ap``, ``test/probe_accuracy``, ``test/probe_macro_f1``,
      ``search/hnsw_recall@K`` (``K`` = ``nodes.hnsw_k``);
    * fewshot: :data:`~contrastkit.train.meta_config.FEWSHOT_METRICS` (``val/accuracy``,
      ``test/accuracy`` and its 95 % half-width, the scratch baseline's);
    * every other kind: ``train_loss``, ``val_loss``, ``skipped_nonfinite_steps``, and
      ``train_loss/<name>``, ``val_loss/<name>`` for each objective.
    """
    kind = config.task.kind
    if kind == "fewshot":
        return list(FEWSHOT_METRICS)
    if kind == "pairs":
        ks, names = config.pairs.eval_ks, ["test/probe_accuracy", "test/probe_macro_f1"]
        for split in config.pairs.eval_splits:  # test, validation (text sources)
            names += [
                f"{split}/{m}@{k}" for k in ks for m in ("recall", "hit", "precision", "ndcg")
            ]
            names += [f"{split}/mrr"]
            for d in config.matryoshka.dims:  # text sources: each truncated width
                names += [f"{split}/dim{d}/{m}@{k}" for k in ks for m in ("recall", "hit", "ndcg")]
                names += [f"{split}/dim{d}/mrr"]
        names += ["train/probe_accuracy"]
    elif kind == "nodes":
        names = ["test/auc", "test/ap", "test/probe_accuracy", "test/probe_macro_f1"]
        names += [f"search/hnsw_recall@{config.nodes.hnsw_k}"]
    else:
        names = ["train/map", "train/mean_rank", "train/alignment", "embedding/uniformity"]
        names += ["test/link_map", "test/link_mean_rank", "test/auc", "test/ap"]
        names += ["test/probe_accuracy"]
    names += ["train_loss", "val_loss", "skipped_nonfinite_steps"]
    for objective in config.objectives:
        names += [f"train_loss/{objective}", f"val_loss/{objective}"]
    return names


TEXT_SOURCES = ("text_file", "wordnet_text")


def _check_text(config: TrainConfig) -> None:
    """A text source needs the text encoder and the text encoder a text source;
    Matryoshka widths must not exceed a known width."""
    text_source = config.task.kind == "pairs" and config.pairs.source in TEXT_SOURCES
    if config.encoder.kind == "text" and not text_source:
        config_fail(
            "encoder.kind",
            f"'text' needs task.kind 'pairs' with pairs.source one of {list(TEXT_SOURCES)}, "
            f"got task {config.task.kind!r}, source {config.pairs.source!r}",
        )
    if text_source and config.encoder.kind != "text":
        config_fail(
            "encoder.kind",
            f"pairs.source {config.pairs.source!r} holds texts: use encoder.kind 'text', "
            f"got {config.encoder.kind!r}",
        )
    if config.matryoshka.dims and config.encoder.kind != "text":
        too_wide = [d for d in config.matryoshka.dims if d > config.encoder.dim]
        if too_wide:
            config_fail(
                "matryoshka.dims",
                f"{too_wide} exceed encoder.dim {config.encoder.dim}",
            )


def _check_monitor(config: TrainConfig) -> None:
    ev = config.eval
    if config.task.kind != "relations" and ev.monitor == RELATIONS_MONITOR:
        ev.monitor = default_monitor(config)
    known = monitor_candidates(config)
    if ev.monitor in known:
        return
    close = difflib.get_close_matches(ev.monitor, known, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    config_fail(
        "eval.monitor",
        f"{ev.monitor!r} is not a metric a {config.task.kind!r} task reports{hint}; "
        f"known: {', '.join(known)}",
    )


def _objective_specs(config: TrainConfig) -> dict[str, ObjectiveSpec]:
    from contrastkit.objectives.registry import parse_objectives

    return parse_objectives(config.objectives)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping a YAML config file holds (YAML 1.2 numbers:
    :func:`~contrastkit.typed_config.load_yaml`); a missing, unreadable (a directory, no
    permission), non-UTF-8 or invalid file is a :class:`ConfigError` naming it."""
    source = Path(path)
    where = f"config file {str(source)!r}"
    if source.is_dir():
        raise ConfigError(f"{where} is a directory, not a YAML file")
    if not source.is_file():
        raise ConfigError(f"{where} does not exist")
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{where} is not UTF-8 text (byte {raw[exc.start]:#04x} on line {line})"
        ) from None
    import yaml

    try:
        loaded = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {yaml_problem(exc)}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(
            f"{where} must hold a mapping at the top level, got {type(loaded).__name__}"
        )
    return loaded or {}


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> TrainConfig:
    """Read a YAML config (or start from the defaults) and apply ``key=value`` overrides.

    Warns (:class:`~contrastkit.train.ignored_settings.IgnoredSettingWarning`, one per
    setting) about a setting the file or an override gives a non-default value that the
    run does not read; the packaged :data:`DEFAULT_RECIPE`'s own values are not the
    user's and never warn."""
    user_file = path is not None and Path(path).resolve() != DEFAULT_RECIPE.resolve()
    return _load(path, overrides, user_file=user_file)


def _load(
    path: str | os.PathLike[str] | None, overrides: list[str] | None, *, user_file: bool
) -> TrainConfig:
    """:func:`load_config`; ``user_file``: the file's keys count as written by the user."""
    file_data: dict[str, Any] = {} if path is None else read_config_file(path)
    # old flat keys move into their sections first, in the file and in the overrides,
    # so that an override wins over the file whichever name either uses
    migrated = [migrate_override(text) for text in overrides or []]
    data = apply_overrides(migrate_legacy_keys(file_data), migrated)
    config = from_dict(TrainConfig, migrate_legacy_keys(data))
    written = written_keys(apply_overrides({}, migrated))
    if user_file:
        written |= written_keys(migrate_legacy_keys(file_data))
    warn_ignored_settings(config, written, stacklevel=3)
    return config


def resume_config(run_dir: Path, overrides: list[str] | None = None) -> TrainConfig:
    """The config a run directory was trained with (``config.yaml``), overrides applied."""
    source = run_dir / "config.yaml"
    if not source.is_file():
        raise ConfigError(f"cannot resume: {str(source)!r} does not exist (is it a run directory?)")
    # the file is the resolved config (every setting written): only overrides can warn
    config = _load(source, overrides, user_file=False)
    config.output.run_dir = str(run_dir)
    return config


def dump_config(config: TrainConfig) -> str:
    """YAML text of the resolved config."""
    return dump_yaml(to_dict(config))
