"""The ``meta`` section: few-shot meta-learning (``task.kind: fewshot``).

A ``fewshot`` run meta-trains an ``mlp`` or ``gnn`` encoder (``encoder``) on episodes
of the meta-train classes of ``data.name`` (``sbm``: blocks are the classes;
``wordnet_nouns``: lexicographer classes over MiniLM gloss features) with the outer
optimiser ``optim``, selects the step with the best validation accuracy, and reports
the mean accuracy and its 95 % interval over test episodes of held-out classes
(:mod:`contrastkit.meta`). ``objectives``, ``miner`` and ``schedule`` are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contrastkit.typed_config import config_fail

MetaMethod = Literal["maml", "fomaml", "protonet"]
HeadInitName = Literal["learned", "zero", "proto"]
InnerLRName = Literal["fixed", "per_layer_step", "per_parameter"]
FEWSHOT_DATASETS = ("sbm", "wordnet_nouns")


@dataclass
class MetaConfig:
    """Few-shot meta-learning settings.

    Attributes:
        method: ``maml`` (second order), ``fomaml`` (first order) or ``protonet``.
        ways, shots, queries: ``n``-way ``k``-shot episodes with ``q`` queries per class.
        inner_steps, inner_lr: MAML's adaptation (training and test alike), and the
            adapted-from-scratch baseline's (``inner_lr``: the rate, or every learnt
            rate's starting value).
        learn_inner_lr: ``fixed`` (``inner_lr``), ``per_layer_step`` (MAML++'s LSLR:
            a learnt rate per tensor and inner step) or ``per_parameter`` (Meta-SGD),
            :class:`~contrastkit.meta.inner_lr.InnerLR`; the scratch baseline keeps
            ``inner_lr``.
        adapt: ``all`` (MAML) or ``head`` (ANIL: only the head adapts, on features
            computed once per episode; the encoder is meta-learnt).
        head_init: the head each adaptation starts from: ``learned`` (meta-learnt),
            ``zero`` (Kao et al. 2022's zeroing trick: no episode-local label is
            favoured, the first step acts like prototypes) or ``proto`` (Proto-MAML,
            Triantafillou et al. 2020: the support prototypes' squared-distance
            classifier).
        head_input: what the head reads, ``relu`` (``relu(z)``) or ``embedding`` (``z``,
            the embedding ProtoNet compares:
            :class:`~contrastkit.meta.network.FewShotNet`).
        multi_step_loss: MAML++'s multi-step loss: over the first this many outer
            steps the meta-loss weighs the query loss after every inner step, annealed
            towards the last one (:func:`~contrastkit.meta.maml.multi_step_weights`);
            0 (default) uses the last step's alone throughout.
        meta_batch: episodes per outer step (looped; their losses averaged).
        steps: outer (meta-training) steps.
        train_classes, val_classes, test_classes: class counts of the disjoint splits
            (``train_classes: -1``: all the others), drawn from ``loop.seed``.
        train_tasks: what meta-train episodes draw their classes from: ``classes``
            (default: the meta-train classes themselves) or ``subtree`` (task
            augmentation: each meta-train class cut into its hypernym subtrees rooted at
            depth ``subtree_depth``, those with ``subtree_min_items`` items or more kept:
            :mod:`contrastkit.meta.subtree_tasks`; WordNet only). Validation and test
            episodes keep the held-out classes either way.
        subtree_depth: the depth (root = 0) of ``subtree``'s fine classes' roots (> 0).
        subtree_min_items: the fewest items a fine class keeps (0: ``shots + queries``,
            the fewest an episode needs; otherwise at least that).
        train_per_class: WordNet synsets drawn in addition per *meta-train* class, as
            unlabelled nodes that only ``subtree`` episodes draw (0: none; needs
            ``train_tasks: subtree``). Their MiniLM features are encoded with the rest.
        val_episodes, test_episodes: fixed episodes of each evaluation.
        eval_every: outer steps between validations (the best one is kept).
        distance, temperature: ProtoNet's ``sqeuclidean`` or ``cosine`` (divided by
            ``temperature``) score to the prototypes.
        scratch: also report the same network adapted from its random initialisation
            (``test/scratch_accuracy``).
        per_class: WordNet synsets drawn per class (features are encoded for these).
        cache_dir: where WordNet's MiniLM features are cached (default
            ``<output.run_dir>/cache``).
        features: WordNet's node features: ``minilm`` (default; the packaged MiniLM
            over the glosses) or ``run`` (the rows of the trained hierarchy embedding
            in ``features_run``, a ``contrastkit train`` run directory, matched by
            synset name; a Poincaré run through the log map at the origin:
            :mod:`contrastkit.meta.hierarchy_features`).
        features_run: that run directory (``features: run`` only).
        features_missing: synsets the run has no row for: ``error`` (default) or
            ``zero`` (the zero row, i.e. the origin: no information).
        sbm_signal_dims, sbm_noise_dims, sbm_signal: the SBM fixture's features
            (:func:`~contrastkit.meta.fewshot_data.sbm_fewshot_data`).
    """

    method: MetaMethod = "maml"
    ways: int = 5
    shots: int = 3
    queries: int = 15
    inner_steps: int = 5
    inner_lr: float = 0.1
    learn_inner_lr: InnerLRName = "fixed"
    adapt: Literal["all", "head"] = "all"
    head_init: HeadInitName = "learned"
    head_input: Literal["relu", "embedding"] = "relu"
    multi_step_loss: int = 0
    meta_batch: int = 4
    steps: int = 500
    train_classes: int = -1
    train_tasks: Literal["classes", "subtree"] = "classes"
    subtree_depth: int = 5
    subtree_min_items: int = 0
    train_per_class: int = 0
    val_classes: int = 5
    test_classes: int = 5
    val_episodes: int = 100
    test_episodes: int = 600
    eval_every: int = 50
    distance: Literal["sqeuclidean", "cosine"] = "sqeuclidean"
    temperature: float = 0.1
    scratch: bool = True
    per_class: int = 200
    cache_dir: str | None = None
    features: Literal["minilm", "run"] = "minilm"
    features_run: str | None = None
    features_missing: Literal["error", "zero"] = "error"
    sbm_signal_dims: int = 8
    sbm_noise_dims: int = 32
    sbm_signal: float = 1.0

    def __post_init__(self) -> None:
        for key in (
            "ways", "shots", "queries", "meta_batch", "steps", "val_classes", "test_classes",
            "val_episodes", "test_episodes", "eval_every", "per_class", "sbm_signal_dims",
            "subtree_depth",
        ):  # fmt: skip
            value = getattr(self, key)
            if value <= 0:
                config_fail(f"meta.{key}", f"must be > 0, got {value}")
        if self.inner_steps < 0:
            config_fail("meta.inner_steps", f"must be >= 0, got {self.inner_steps}")
        if self.multi_step_loss < 0:
            config_fail(
                "meta.multi_step_loss", f"must be >= 0 (0: off), got {self.multi_step_loss}"
            )
        need = self.shots + self.queries
        if self.subtree_min_items != 0 and self.subtree_min_items < need:
            config_fail(
                "meta.subtree_min_items",
                f"must be 0 (shots + queries) or >= shots + queries = {need}, "
                f"got {self.subtree_min_items}",
            )
        if self.train_per_class < 0:
            config_fail("meta.train_per_class", f"must be >= 0, got {self.train_per_class}")
        if self.train_per_class > 0 and self.train_tasks != "subtree":
            config_fail(
                "meta.train_per_class",
                f"adds items only subtree episodes draw; needs meta.train_tasks 'subtree', "
                f"got {self.train_tasks!r}",
            )
        if self.sbm_noise_dims < 0:
            config_fail("meta.sbm_noise_dims", f"must be >= 0, got {self.sbm_noise_dims}")
        if self.train_classes != -1 and self.train_classes < self.ways:
            config_fail(
                "meta.train_classes",
                f"must be >= meta.ways={self.ways} (or -1: the rest), got {self.train_classes}",
            )
        for key in ("val_classes", "test_classes"):
            if getattr(self, key) < self.ways:
                config_fail(
                    f"meta.{key}", f"must be >= meta.ways={self.ways}, got {getattr(self, key)}"
                )
        if not self.inner_lr > 0 or self.inner_lr == float("inf"):
            config_fail("meta.inner_lr", f"must be finite and > 0, got {self.inner_lr}")
        if not self.temperature > 0 or self.temperature == float("inf"):
            config_fail("meta.temperature", f"must be finite and > 0, got {self.temperature}")
        if not self.sbm_signal >= 0 or self.sbm_signal == float("inf"):
            config_fail("meta.sbm_signal", f"must be finite and >= 0, got {self.sbm_signal}")
        if self.cache_dir is not None and not self.cache_dir.strip():
            config_fail("meta.cache_dir", "must name a directory, got ''")
        if self.features == "run" and not (self.features_run or "").strip():
            config_fail("meta.features_run", "must name a trained run directory for features 'run'")
        if self.features != "run" and self.features_run is not None:
            config_fail(
                "meta.features_run", f"is read only with meta.features 'run', got {self.features!r}"
            )


#: the metrics a fewshot run reports at its evaluations (val) and at the end (test)
FEWSHOT_METRICS = [
    "val/accuracy",
    "test/accuracy",
    "test/accuracy_ci95",
    "test/scratch_accuracy",
    "test/scratch_accuracy_ci95",
    "train/accuracy",
    "train_loss",
]


def check_fewshot(
    encoder_kind: str,
    data_name: str,
    test_fraction: float,
    features: str = "minilm",
    train_tasks: str = "classes",
) -> None:
    """The settings a ``fewshot`` run needs outside ``meta``: a feature encoder
    (``encoder.kind``) and a dataset with classes (``data.name``), no edge split
    (``data.test_fraction``); ``meta.features: run`` reads WordNet synsets only."""
    if encoder_kind not in ("mlp", "gnn"):
        config_fail(
            "encoder.kind",
            f"task.kind 'fewshot' needs 'mlp' or 'gnn' (an embedding table has no rows for "
            f"the held-out classes' items to adapt), got {encoder_kind!r}",
        )
    if data_name not in FEWSHOT_DATASETS:
        config_fail(
            "data.name",
            f"task.kind 'fewshot' reads {' or '.join(map(repr, FEWSHOT_DATASETS))}, "
            f"got {data_name!r}",
        )
    if test_fraction > 0:
        config_fail("data.test_fraction", "a fewshot run holds out classes, not edges; use 0")
    if train_tasks == "subtree" and data_name != "wordnet_nouns":
        config_fail(
            "meta.train_tasks",
            f"'subtree' cuts WordNet's hypernym hierarchy and needs data.name "
            f"'wordnet_nouns', got {data_name!r}",
        )
    if features == "run" and data_name != "wordnet_nouns":
        config_fail(
            "meta.features",
            f"'run' matches WordNet synset names and needs data.name 'wordnet_nouns', "
            f"got {data_name!r}",
        )
