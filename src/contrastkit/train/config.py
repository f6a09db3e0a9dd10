"""The training configuration: one typed dataclass per concern, validated once.

Loaded from YAML (:func:`load_config`), overridable with ``key.sub=value`` flags,
and saved resolved in the run directory. Every field has a default, and the
defaults are neutral — a cosine embedding of the karate club trained by InfoNCE with
10 random negatives and Adam — not any one recipe's: what a recipe needs it says in
its file. ``contrastkit train`` with no ``--config`` loads :data:`DEFAULT_RECIPE`,
the packaged recipe: a 5-dimensional Poincaré embedding of the WordNet mammal closure
trained with Nickel & Kiela's (2017) distance softmax (see that file and
docs/recipes.md). Recipe-only settings live in opt-in sections (``burn_in``,
``sparse``, ``hierarchy``: :mod:`.recipe_config`); their old flat names still load."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from contrastkit.continual.config import ContinualConfig
from contrastkit.optim.factory import OptimizerConfig
from contrastkit.train.data_config import DataConfig
from contrastkit.train.distributed_config import DistributedConfig
from contrastkit.train.matryoshka_config import MatryoshkaConfig
from contrastkit.train.meta_config import FEWSHOT_METRICS, MetaConfig, check_fewshot
from contrastkit.train.miner_config import MinerConfig, MinerStage, resolve_miner_stages
from contrastkit.train.nodes_config import NodesConfig
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


@dataclass
class TaskConfig:
    """What a run trains on: ``relations`` of a graph or hierarchy (``data``), ``pairs``
    of items (``pairs``), the ``nodes`` of a featured graph under a GNN (``nodes``), or
    ``fewshot`` episodes of held-out classes, meta-learnt (``meta``)."""

    kind: Literal["relations", "pairs", "nodes", "fewshot"] = "relations"


@dataclass
class EncoderConfig:
    """``embedding`` is a free table (transductive); ``mlp``/``gnn`` encode node features;
    ``text`` is a sentence-transformers model over a text task's texts
    (:mod:`.text_encoder`: ``model_path`` a local model directory, unset = the packaged
    all-MiniLM-L6-v2; ``max_seq_length`` truncates inputs; ``encode_batch_size`` the
    batch of inference encodes; ``dim`` is then the model's width)."""

    kind: Literal["embedding", "mlp", "gnn", "text"] = "embedding"
    dim: int = 16
    manifold: Literal["euclidean", "poincare"] = "euclidean"
    init_scale: float = 1e-3
    hidden: int = 128
    layers: int = 2
    gnn: Literal["gcn", "sage", "gat"] = "sage"
    dropout: float = 0.0
    sparse: bool = False
    dtype: Literal["float32", "float64"] = "float32"
    model_path: str | None = None
    max_seq_length: int | None = None
    encode_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.kind != "text" and self.model_path is not None:
            config_fail("encoder.model_path", f"applies to encoder.kind 'text', got {self.kind!r}")
        if self.max_seq_length is not None and self.max_seq_length <= 0:
            config_fail("encoder.max_seq_length", f"must be > 0, got {self.max_seq_length}")
        if self.encode_batch_size <= 0:
            config_fail("encoder.encode_batch_size", f"must be > 0, got {self.encode_batch_size}")
        if self.kind != "embedding" and self.dtype != "float32":
            config_fail("encoder.dtype", "'float64' needs encoder.kind 'embedding'")
        if self.dim <= 0:
            config_fail("encoder.dim", f"must be > 0, got {self.dim}")
        if self.init_scale <= 0:
            config_fail("encoder.init_scale", f"must be > 0, got {self.init_scale}")
        if self.hidden <= 0:
            config_fail("encoder.hidden", f"must be > 0, got {self.hidden}")
        if self.layers <= 0:
            config_fail("encoder.layers", f"must be > 0, got {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            config_fail("encoder.dropout", f"must be in [0, 1), got {self.dropout}")
        if self.kind != "embedding" and self.manifold == "poincare":
            config_fail("encoder.manifold", "'poincare' needs encoder.kind 'embedding'")


@dataclass
class ObjectiveConfig:
    """Per-objective hyper-parameters; which objectives run is ``TrainConfig.objectives``."""

    distance: Literal["cosine", "dot", "sqeuclidean", "euclidean", "poincare"] = "cosine"
    temperature: float = 0.1
    margin: float = 0.2
    norm_target: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            config_fail("objective.temperature", f"must be > 0, got {self.temperature}")
        if self.margin < 0:
            config_fail("objective.margin", f"must be >= 0, got {self.margin}")
        if self.norm_target < 0:
            config_fail("objective.norm_target", f"must be >= 0, got {self.norm_target}")


@dataclass
class ScheduleConfig:
    """Temperature annealing and the optional curriculum over negative difficulty."""

    temperature: Literal["constant", "linear", "exponential", "cosine"] = "constant"
    temperature_end: float = 1.0
    curriculum: Literal["none", "default", "linear"] = "none"
    curriculum_stages: int = 3
    # > 0: also advance when eval.monitor has not improved for this many evaluations
    curriculum_patience: int = 0
    # loss weights over epochs: "constant" (objectives' weights) or "warmup" (linear from
    # loss_weights_initial to the objectives' weights over loss_weights_warmup epochs)
    loss_weights: Literal["constant", "warmup"] = "constant"
    loss_weights_initial: dict[str, float] = field(default_factory=dict)
    loss_weights_warmup: int = 10

    def __post_init__(self) -> None:
        if self.temperature_end <= 0:
            config_fail("schedule.temperature_end", f"must be > 0, got {self.temperature_end}")
        if self.curriculum_stages <= 0:
            config_fail("schedule.curriculum_stages", f"must be > 0, got {self.curriculum_stages}")
        if self.curriculum_patience < 0:
            config_fail(
                "schedule.curriculum_patience",
                f"must be >= 0 (0: off), got {self.curriculum_patience}",
            )
        if self.loss_weights_warmup <= 0:
            config_fail(
                "schedule.loss_weights_warmup",
                f"must be > 0 epochs, got {self.loss_weights_warmup}",
            )
        for name, weight in self.loss_weights_initial.items():
            if weight < 0:
                config_fail(f"schedule.loss_weights_initial.{name}", f"must be >= 0, got {weight}")


@dataclass
class CombinerConfig:
    # pcgrad: fixed weights, with conflicting per-objective gradients projected (Yu et al.)
    method: Literal["fixed", "magnitude", "uncertainty", "gradnorm", "pcgrad"] = "fixed"
    momentum: float = 0.9  # magnitude: EMA factor of the loss magnitudes
    init_log_var: float = 0.0  # uncertainty: initial log-variance of every objective
    alpha: float = 1.5  # gradnorm: restoring force (Chen et al. 2018: 0.12-3)
    lr: float = 0.025  # gradnorm: learning rate of its weights (its own Adam)
    min_weight: float = 1e-3  # gradnorm: floor of a weight (a warning when one sits there)

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            config_fail("combiner.momentum", f"must be in [0, 1), got {self.momentum}")
        if self.alpha < 0:
            config_fail("combiner.alpha", f"must be >= 0, got {self.alpha}")
        if self.lr <= 0:
            config_fail("combiner.lr", f"must be > 0, got {self.lr}")
        if self.min_weight <= 0:
            config_fail("combiner.min_weight", f"must be > 0, got {self.min_weight}")


@dataclass
class OptimConfig:
    # radagrad: row-wise (Riemannian) Adagrad, PyTorch-BigGraph's (optim/row_adagrad.py)
    name: Literal["rsgd", "radam", "radagrad", "sgd", "adam", "adamw", "sparse_adam"] = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0
    momentum: float = 0.0  # SGD
    dampening: float = 0.0  # SGD
    nesterov: bool = False  # SGD (needs momentum > 0, dampening 0)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam family
    eps: float = 1e-8  # Adam family, Adagrad
    amsgrad: bool = False  # Adam, AdamW
    warmup_steps: int = 0
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    grad_clip: float = 0.0  # max gradient norm; 0 disables
    # at the start of each of these epochs the optimiser's state is reset to a fresh
    # one's (Adagrad accumulators, Adam moments): after a burn-in, or a warm restart
    restart_epochs: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.lr <= 0:
            config_fail("optim.lr", f"must be > 0, got {self.lr}")
        if self.grad_clip < 0:
            config_fail("optim.grad_clip", f"must be >= 0 (0: off), got {self.grad_clip}")
        if self.weight_decay < 0:
            config_fail("optim.weight_decay", f"must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.momentum < 1.0:
            config_fail("optim.momentum", f"must be in [0, 1), got {self.momentum}")
        if not 0.0 <= self.dampening <= 1.0:
            config_fail("optim.dampening", f"must be in [0, 1], got {self.dampening}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            config_fail("optim.betas", f"must be two numbers in [0, 1), got {self.betas}")
        if self.eps <= 0:
            config_fail("optim.eps", f"must be > 0, got {self.eps}")
        if self.warmup_steps < 0:
            config_fail("optim.warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        epochs = self.restart_epochs
        if any(e < 1 for e in epochs) or any(a >= b for a, b in pairwise(epochs)):
            config_fail("optim.restart_epochs", f"must be increasing epochs >= 1, got {epochs}")
        try:
            self.optimizer_config()
        except ValueError as exc:
            config_fail("optim", f"{exc}")

    def optimizer_config(self) -> OptimizerConfig:
        """The library's :class:`~contrastkit.optim.factory.OptimizerConfig` of these settings."""
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {self.betas}")
        return OptimizerConfig(
            name=self.name,
            lr=self.lr,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            dampening=self.dampening,
            nesterov=self.nesterov,
            betas=(self.betas[0], self.betas[1]),
            eps=self.eps,
            amsgrad=self.amsgrad,
        )


MAX_SEED = 2**31


@dataclass
class LoopConfig:
    epochs: int = 50
    batch_size: int = 128
    seed: int = 0
    deterministic: bool = True
    max_nonfinite_steps: int = 10
    log_every: int = 10  # steps between metrics.jsonl records
    autocast: bool = False  # bf16 autocast of the encoder (feature encoders on CPU)
    grad_cache_chunks: int = 1  # > 1: encode each batch in chunks with gradient caching
    # > 0: gradient caching in chunks of at most this many items (replaces the count;
    # sentence-transformers' CachedMultipleNegativesRankingLoss mini_batch_size)
    grad_cache_chunk_size: int = 0
    progress: bool = True
    # 1 by default: a step's tensors are small and thread hand-offs cost more than they
    # save on 2 cores; raise it for GNN/MLP encoders on big graphs (0: torch's default)
    num_threads: int = 1
    # > 0: stop after this many seconds of fit() (then evaluate): equal-wall-time runs
    time_budget_s: float = 0.0
    # a run directory whose trained encoder this run starts from (fine-tuning, continual
    # learning; objectives.ewc keeps the parameters near it)
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.time_budget_s < 0:
            config_fail("loop.time_budget_s", f"must be >= 0 (0: none), got {self.time_budget_s}")
        if not 0 <= self.seed < MAX_SEED:
            # derived seeds (seed + 1..6) and scikit-learn's probes need 32 bits
            config_fail("loop.seed", f"must be in [0, 2**31), got {self.seed}")
        if self.num_threads < 0:
            config_fail(
                "loop.num_threads", f"must be >= 0 (0: torch's default), got {self.num_threads}"
            )
        if self.epochs <= 0:
            config_fail("loop.epochs", f"must be > 0, got {self.epochs}")
        if self.batch_size <= 0:
            config_fail("loop.batch_size", f"must be > 0, got {self.batch_size}")
        if self.grad_cache_chunks <= 0:
            config_fail("loop.grad_cache_chunks", f"must be > 0, got {self.grad_cache_chunks}")
        if self.grad_cache_chunk_size < 0:
            config_fail(
                "loop.grad_cache_chunk_size",
                f"must be >= 0 (0: off), got {self.grad_cache_chunk_size}",
            )
        if self.grad_cache_chunk_size and self.grad_cache_chunks > 1:
            config_fail("loop.grad_cache_chunk_size", "set it or loop.grad_cache_chunks, not both")
        if self.log_every <= 0:
            config_fail("loop.log_every", f"must be > 0, got {self.log_every}")
        if self.max_nonfinite_steps <= 0:
            config_fail("loop.max_nonfinite_steps", f"must be > 0, got {self.max_nonfinite_steps}")

    @property
    def grad_caching(self) -> bool:
        """Whether steps encode in chunks with gradient caching."""
        return self.grad_cache_chunks > 1 or self.grad_cache_chunk_size > 0


# metric names before they said what they are measured on (configs written then load)
METRIC_ALIASES = {
    "map": "train/map",
    "mean_rank": "train/mean_rank",
    "link_map": "test/link_map",
    "link_mean_rank": "test/link_mean_rank",
    "auc": "test/auc",
    "ap": "test/ap",
    "probe_accuracy": "test/probe_accuracy",
    "alignment": "train/alignment",
    "uniformity": "embedding/uniformity",
}


RELATIONS_MONITOR = "train/map"


@dataclass
class EvalConfig:
    every_epochs: int = 10
    early_stopping_patience: int = 0  # evaluations without improvement; 0 disables
    # the metric early stopping and plateau curricula watch (the old names are aliases);
    # one the run's task does not report is a ConfigError (:func:`monitor_candidates`).
    # train/map is the relations default (and the packaged recipe's): a pairs or nodes
    # run left with it watches its own kind's default (:func:`default_monitor`) instead
    monitor: str = RELATIONS_MONITOR
    # how a ranking counts a negative tied with a relation: "optimistic" (gensim's, the
    # default), "average" (mid-rank) or "pessimistic"; logged with every evaluation
    ties: Literal["optimistic", "average", "pessimistic"] = "optimistic"
    # also evaluate before the first step (logged as step 0: the "before" numbers)
    at_start: bool = False

    def __post_init__(self) -> None:
        if self.every_epochs <= 0:
            config_fail("eval.every_epochs", f"must be > 0, got {self.every_epochs}")
        if self.early_stopping_patience < 0:
            config_fail(
                "eval.early_stopping_patience",
                f"must be >= 0 (0: off), got {self.early_stopping_patience}",
            )
        if not self.monitor.strip():
            config_fail("eval.monitor", "must name a metric, got ''")
        self.monitor = METRIC_ALIASES.get(self.monitor, self.monitor)

    @property
    def monitor_mode(self) -> Literal["max", "min"]:
        """Ranks and losses improve downwards; every other metric upwards."""
        return "min" if "rank" in self.monitor or "loss" in self.monitor else "max"


@dataclass
class OutputConfig:
    run_dir: str = "runs/default"
    checkpoint_every: int = 500  # steps; a checkpoint is also written at the end
    report: bool = True
    tensorboard: bool = False  # also log scalars to run_dir/tensorboard (needs tensorboard)

    def __post_init__(self) -> None:
        if not self.run_dir.strip():
            config_fail("output.run_dir", "must name a directory, got ''")
        if "\0" in self.run_dir:
            config_fail("output.run_dir", f"must not contain a NUL character, got {self.run_dir!r}")
        if self.checkpoint_every <= 0:
            config_fail(
                "output.checkpoint_every", f"must be > 0 steps, got {self.checkpoint_every}"
            )


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
            check_fewshot(self.encoder.kind, self.data.name, self.data.test_fraction)
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
    """Read a YAML config (or start from the defaults) and apply ``key=value`` overrides."""
    data: dict[str, Any] = {} if path is None else read_config_file(path)
    # old flat keys move into their sections first, in the file and in the overrides,
    # so that an override wins over the file whichever name either uses
    data = apply_overrides(migrate_legacy_keys(data), map(migrate_override, overrides or []))
    return from_dict(TrainConfig, migrate_legacy_keys(data))


def resume_config(run_dir: Path, overrides: list[str] | None = None) -> TrainConfig:
    """The config a run directory was trained with (``config.yaml``), overrides applied."""
    source = run_dir / "config.yaml"
    if not source.is_file():
        raise ConfigError(f"cannot resume: {str(source)!r} does not exist (is it a run directory?)")
    config = load_config(source, overrides)
    config.output.run_dir = str(run_dir)
    return config


def dump_config(config: TrainConfig) -> str:
    """YAML text of the resolved config."""
    return dump_yaml(to_dict(config))
