"""The ``continual:`` section of a training config: a task stream and how to learn it.

With ``continual.enabled: true``, ``contrastkit train`` runs
:class:`~contrastkit.continual.learner.ContinualLearner` instead of the one-task
trainer. The sections it shares with that trainer: ``encoder`` (``embedding``: a
growable table; ``mlp``: an inductive encoder over the stream's node features; ``dim``,
``hidden``, ``layers``), ``objective`` (``distance``, ``temperature``), ``optim``,
``loop`` (``seed``, ``batch_size`` = relations per arriving batch, ``log_every``) and
``output`` (``run_dir``, ``checkpoint_every`` in arriving batches, ``report``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from contrastkit.typed_config import config_fail

DEFAULT_LEXFILES = ["noun.animal", "noun.plant", "noun.artifact", "noun.food", "noun.person"]


@dataclass
class ReplayConfig:
    """Reservoir replay (:mod:`contrastkit.continual.replay`): a memory of
    ``buffer_fraction`` of the stream's training relations (or ``buffer_size`` relations
    when > 0); each step of a later task draws ``ratio / (1 - ratio)`` replayed relations
    per new one (0.5: as many replayed as new) from earlier tasks, and adds ``alpha``
    times the match of their stored logits (DER) and ``beta`` times their InfoNCE
    (ER); both > 0 is DER++."""

    buffer_fraction: float = 0.0
    buffer_size: int = 0
    ratio: float = 0.5
    # DER (Buzzega et al. 2020): squared error to the logits each relation had when its
    # task ended, over its positive and num_negatives recorded candidates
    alpha: float = 1.0
    # ER: the replayed relation's own InfoNCE against fresh negatives. Off by default:
    # on the WordNet stream's validation split it over-fits the 5 % sample and forgets
    # more than no replay (README)
    beta: float = 0.0
    # an ER-replayed relation's gradient also pushes its negatives (off by default: a
    # small sample of the past replayed many times would push old rows without the
    # pulls of the old relations left out of the buffer, and undo more than it keeps)
    push_negatives: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.buffer_fraction <= 1.0:
            config_fail(
                "continual.replay.buffer_fraction", f"must be in [0, 1], got {self.buffer_fraction}"
            )
        if self.buffer_size < 0:
            config_fail("continual.replay.buffer_size", f"must be >= 0, got {self.buffer_size}")
        if not 0.0 <= self.ratio < 1.0:
            config_fail("continual.replay.ratio", f"must be in [0, 1), got {self.ratio}")
        for key in ("alpha", "beta"):
            if getattr(self, key) < 0:
                config_fail(f"continual.replay.{key}", f"must be >= 0, got {getattr(self, key)}")
        if self.alpha == 0 and self.beta == 0 and (self.buffer_fraction > 0 or self.buffer_size):
            config_fail(
                "continual.replay.alpha",
                "and beta are both 0: a replay buffer with nothing to replay "
                "(alpha: DER logits, beta: ER relations)",
            )


@dataclass
class StreamEWCConfig:
    """Online EWC after every task (``lambda_ > 0``): :math:`F \\leftarrow \\gamma F + F_{new}`
    from ``fisher_samples`` relations' own gradients; per-layer ``layer_lambdas`` and
    ``adaptive`` as in :class:`~contrastkit.losses.ewc.EWC` (a table's Fisher is row-level)."""

    lambda_: float = 0.0
    gamma: float = 1.0
    adaptive: Literal["none", "fisher_mean", "normalize"] = "none"
    layer_lambdas: dict[str, float] = field(default_factory=dict)
    fisher_samples: int = 512

    def __post_init__(self) -> None:
        if self.lambda_ < 0:
            config_fail("continual.ewc.lambda_", f"must be >= 0 (0: off), got {self.lambda_}")
        if not 0.0 <= self.gamma <= 1.0:
            config_fail("continual.ewc.gamma", f"must be in [0, 1], got {self.gamma}")
        if self.fisher_samples <= 0:
            config_fail("continual.ewc.fisher_samples", f"must be > 0, got {self.fisher_samples}")


@dataclass
class ContinualConfig:
    """Stream, schedule and strategy of a continual run (module docstring).

    ``stream``: ``sbm`` (blocks arrive task by task: ``blocks_per_task``, ``block_size``,
    ``p_in``, ``p_out``, ``feature_dim`` for an ``mlp`` encoder), ``wordnet`` (``split``
    by ``lexfile`` or ``subtree``, ``groups``, ``max_nodes_per_task``; the WordNet
    directory is ``data.path`` with ``data.name: wordnet_nouns``) or ``edge_files``
    (``files`` in order, ``undirected``). ``num_tasks`` tasks (the first of ``groups``),
    ``test_fraction`` of each task's relations held out. Each task's relations arrive in batches of
    ``loop.batch_size``, ``passes`` times; each arriving batch takes ``local_steps``
    steps with ``num_negatives`` uniform negatives from every node arrived so far.
    ``joint``: train on all relations of the tasks so far (the upper bound).
    ``metric``: ``mrr`` or ``map`` of each task's held-out relations (the R matrix).
    """

    enabled: bool = False
    stream: Literal["sbm", "wordnet", "edge_files"] = "sbm"
    num_tasks: int = 5
    test_fraction: float = 0.2
    blocks_per_task: int = 6
    block_size: int = 10
    p_in: float = 0.5
    p_out: float = 0.002
    feature_dim: int = 16
    split: Literal["lexfile", "subtree"] = "lexfile"
    groups: list[str] = field(default_factory=lambda: list(DEFAULT_LEXFILES))
    max_nodes_per_task: int = 400
    # later tasks' relations reach earlier tasks' upper nodes (wordnet_stream)
    shared_ancestors: bool = False
    files: list[str] = field(default_factory=list)
    undirected: bool = False
    passes: int = 5
    local_steps: int = 1
    num_negatives: int = 20
    init_scale: float = 0.1
    joint: bool = False
    metric: Literal["mrr", "map"] = "mrr"
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    ewc: StreamEWCConfig = field(default_factory=StreamEWCConfig)

    def __post_init__(self) -> None:
        for key in (
            "num_tasks",
            "blocks_per_task",
            "block_size",
            "max_nodes_per_task",
            "passes",
            "local_steps",
            "num_negatives",
        ):
            if getattr(self, key) <= 0:
                config_fail(f"continual.{key}", f"must be > 0, got {getattr(self, key)}")
        if not 0.0 < self.test_fraction < 1.0:
            config_fail("continual.test_fraction", f"must be in (0, 1), got {self.test_fraction}")
        if not (0.0 < self.p_in <= 1.0 and 0.0 <= self.p_out <= 1.0):
            config_fail(
                "continual.p_in", f"and p_out must be probabilities, got {self.p_in}, {self.p_out}"
            )
        if self.feature_dim < 0:
            config_fail("continual.feature_dim", f"must be >= 0, got {self.feature_dim}")
        if self.init_scale <= 0:
            config_fail("continual.init_scale", f"must be > 0, got {self.init_scale}")
        if self.stream == "wordnet" and len(self.groups) < self.num_tasks:
            config_fail(
                "continual.groups",
                f"names {len(self.groups)} groups, fewer than num_tasks {self.num_tasks}",
            )
        if self.stream == "edge_files" and self.enabled and not self.files:
            config_fail(
                "continual.files", "must name the edge-list files of an 'edge_files' stream"
            )
        if self.joint and (
            self.replay.buffer_fraction > 0 or self.replay.buffer_size > 0 or self.ewc.lambda_ > 0
        ):
            config_fail("continual.joint", "sees every relation again; it takes no replay or ewc")
