"""The ``optim`` and ``loop`` sections of the train config: the optimiser and the
training loop (epochs, batches, seed, threads, gradient caching)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from contrastkit.optim.factory import OptimizerConfig
from contrastkit.typed_config import config_fail


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
