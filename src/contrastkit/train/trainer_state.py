"""What a :class:`~contrastkit.train.trainer.Trainer` checkpoints and how it resumes.

:class:`TrainerState` is the trainer's base: the attributes a checkpoint holds
(declared here, set by the trainer) and :meth:`~TrainerState.state_dict` /
:meth:`~TrainerState.load_state_dict`. A state is checked before anything is loaded —
missing entries, tensors of other names or shapes than the run's config builds,
non-finite values — and what does not fit is a
:class:`~contrastkit.train.checkpoint.CheckpointError` naming the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit.train.callbacks import EarlyStopping, NonFiniteGuard, OverfitTracker
from contrastkit.train.checkpoint import CheckpointError, check_state_tensors
from contrastkit.train.data_parallel import DataParallel
from contrastkit.train.node_encoder import NodeEncoder
from contrastkit.train.schedules import RunSchedules
from contrastkit.train.snapshots import SnapshotRecorder
from contrastkit.train.task_base import Task

#: what a checkpoint's trainer state must hold (besides ``task``, or the older ``sampler``)
REQUIRED_STATE = (
    "encoder",
    "schedules",
    "guard",
    "stopper",
    "snapshots",
    "generator",
    "torch_rng",
    "step",
    "epoch",
    "batch_in_epoch",
    "perm",
    "final_metrics",
    "stopped_early",
    "overfit",
    "train_loss",
)


class TrainerState:
    """The checkpointed state of a run (the :class:`~contrastkit.train.trainer.Trainer`
    sets every attribute declared here) and its saving and loading."""

    encoder: NodeEncoder
    objectives: nn.ModuleDict
    schedules: RunSchedules
    task: Task
    guard: NonFiniteGuard
    stopper: EarlyStopping
    snapshots: SnapshotRecorder
    generator: torch.Generator
    parallel: DataParallel | None
    step: int
    epoch: int
    batch_in_epoch: int
    perm: Tensor | None
    final_metrics: dict[str, float]
    stopped_early: bool
    train_seconds: float
    overfit: OverfitTracker
    train_loss_sum: float
    train_loss_count: int
    train_loss_parts: dict[str, float]

    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "objectives": self.objectives.state_dict(),
            "schedules": self.schedules.state_dict(),
            "task": self.task.state_dict(),
            "guard": self.guard.state_dict(),
            "stopper": self.stopper.state_dict(),
            "snapshots": self.snapshots.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "perm": self.perm,
            "final_metrics": dict(self.final_metrics),
            "stopped_early": self.stopped_early,
            "train_seconds": self.train_seconds,
            "overfit": self.overfit.state_dict(),
            "train_loss": [self.train_loss_sum, self.train_loss_count],
            "train_loss_parts": dict(self.train_loss_parts),
            **self._rank_states(),
        }

    def _rank_states(self) -> dict[str, Any]:
        """Under DDP, every rank's RNG and task states (``dist``; a collective: every
        rank calls :meth:`state_dict` at the same step, rank 0 writes it)."""
        if self.parallel is None:
            return {}
        return {"dist": self.parallel.rank_states(self.generator, self.task.state_dict())}

    def load_state_dict(
        self, state: Mapping[str, Any], *, source: str | Path | None = None
    ) -> None:
        """Continue from ``state`` (a :meth:`state_dict`, e.g. a checkpoint's). It is
        checked first: missing entries, tensors of other names or shapes than this run's
        config builds (another dataset or dimension) and non-finite encoder or objective
        values raise :class:`CheckpointError` naming ``source`` (the checkpoint file) and
        what does not fit; so does anything else that fails to load."""
        where = repr(str(source)) if source is not None else "(in memory)"
        self._check_state(state, where)
        try:
            self._load_state(state)
        except CheckpointError:
            raise
        except KeyError as exc:
            raise CheckpointError(
                f"checkpoint {where} does not fit this run: it lacks the entry {exc.args[0]!r}"
            ) from None
        except (TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise CheckpointError(
                f"checkpoint {where} does not fit this run: {type(exc).__name__}: {first}"
            ) from None

    def _check_state(self, state: Mapping[str, Any], where: str) -> None:
        if not isinstance(state, Mapping):
            raise CheckpointError(f"checkpoint {where}: the trainer state is not a mapping")
        missing = [k for k in REQUIRED_STATE if k not in state]
        if "task" not in state and "sampler" not in state:
            missing.append("task")
        if missing:
            raise CheckpointError(
                f"checkpoint {where} lacks the trainer entries {', '.join(missing)}"
            )
        check_state_tensors("encoder", state["encoder"], self.encoder.state_dict(), where)
        objectives = state.get("objectives", {})
        check_state_tensors("objectives", objectives, self.objectives.state_dict(), where)
        perm, examples = state["perm"], self.task.num_examples()
        if perm is not None and (not isinstance(perm, Tensor) or perm.shape != (examples,)):
            got = list(perm.shape) if isinstance(perm, Tensor) else type(perm).__name__
            raise CheckpointError(
                f"checkpoint {where} does not fit this run: its epoch permutation has "
                f"shape {got}, this run's config gives {examples} examples per epoch"
            )

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.objectives.load_state_dict(state.get("objectives", {}))
        self.schedules.load_state_dict(state["schedules"])
        self.guard.load_state_dict(state["guard"])
        self.stopper.load_state_dict(state["stopper"])
        self.snapshots.load_state_dict(state["snapshots"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.task.enter_epoch(self.epoch)  # the checkpoint's pool is that stage's
        self.task.load_state_dict(
            state["task"] if "task" in state else {"sampler": state["sampler"]}
        )
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.perm = state["perm"]
        self.final_metrics = dict(state["final_metrics"])
        self.stopped_early = bool(state["stopped_early"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.overfit.load_state_dict(state["overfit"])
        self.train_loss_sum = float(state["train_loss"][0])
        self.train_loss_count = int(state["train_loss"][1])
        self.train_loss_parts = {k: float(v) for k, v in state.get("train_loss_parts", {}).items()}
        own = None if self.parallel is None else self.parallel.own_state(state, "(loaded)")
        if own is not None:  # this rank's own streams (rank 0's were loaded above)
            self.generator.set_state(own["generator"])
            torch.set_rng_state(own["torch_rng"])
            self.task.load_state_dict(own["task"])
