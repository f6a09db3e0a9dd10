"""The trainer: typed config, tasks (relations, pairs, nodes), one step, the run.

The surface the CLI and the benchmarks import from."""

from contrastkit.train.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from contrastkit.train.config import TrainConfig, dump_config, load_config, resume_config
from contrastkit.train.run import train
from contrastkit.train.task import GraphTask, build_task
from contrastkit.train.task_base import SampleContext, Task
from contrastkit.train.trainer import Trainer

__all__ = [
    "CheckpointError",
    "GraphTask",
    "SampleContext",
    "Task",
    "TrainConfig",
    "Trainer",
    "build_task",
    "checkpoint_path",
    "dump_config",
    "load_checkpoint",
    "load_config",
    "resume_config",
    "save_checkpoint",
    "train",
]
