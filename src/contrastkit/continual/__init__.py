"""Continual learning over task streams: growing tables, reservoir replay (ER / DER), online EWC
with row-level Fisher, and forgetting metrics (the R matrix).

:class:`~contrastkit.continual.learner.ContinualLearner` (imported from its module:
it needs the model and evaluation packages) runs a stream; ``contrastkit train`` runs
it for a config whose ``continual.enabled`` is true
(:func:`contrastkit.continual.run.train_continual`).
"""

from contrastkit.continual.growable import GrowableTable, grow_optimizer_state, neighbour_mean_init
from contrastkit.continual.metrics import forgetting_metrics
from contrastkit.continual.replay import ReplayMemory
from contrastkit.continual.reservoir import ReservoirBuffer
from contrastkit.continual.row_fisher import row_fisher
from contrastkit.continual.stream import (
    StreamTask,
    TaskStream,
    edge_file_stream,
    sbm_stream,
    validation_stream,
    wordnet_stream,
)

__all__ = [
    "GrowableTable",
    "ReplayMemory",
    "ReservoirBuffer",
    "StreamTask",
    "TaskStream",
    "edge_file_stream",
    "forgetting_metrics",
    "grow_optimizer_state",
    "neighbour_mean_init",
    "row_fisher",
    "sbm_stream",
    "validation_stream",
    "wordnet_stream",
]
