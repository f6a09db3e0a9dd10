"""The trainer: typed config, tasks (relations, pairs, nodes), one step, the run.

The one surface the CLI and the benchmarks import from."""

from contrastkit.train.callbacks import NonFiniteError
from contrastkit.train.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from contrastkit.train.config import (
    DEFAULT_RECIPE,
    DataConfig,
    TrainConfig,
    dump_config,
    load_config,
    resume_config,
)
from contrastkit.train.encoders import FixedEmbedding, NodeEncoder
from contrastkit.train.evaluation import evaluate_task
from contrastkit.train.ignored_settings import IgnoredSettingWarning, ignored_settings
from contrastkit.train.run import train
from contrastkit.train.task import GraphTask, build_task
from contrastkit.train.task_base import SampleContext, Task
from contrastkit.train.trainer import Trainer

__all__ = [
    "DEFAULT_RECIPE",
    "CheckpointError",
    "DataConfig",
    "FixedEmbedding",
    "GraphTask",
    "IgnoredSettingWarning",
    "NodeEncoder",
    "NonFiniteError",
    "SampleContext",
    "Task",
    "TrainConfig",
    "Trainer",
    "atomic_write_bytes",
    "build_task",
    "checkpoint_path",
    "dump_config",
    "evaluate_task",
    "ignored_settings",
    "load_checkpoint",
    "load_config",
    "resume_config",
    "save_checkpoint",
    "train",
]
