"""The task a config names (``task.kind``): relations, pairs or nodes (``fewshot`` runs
in :mod:`contrastkit.meta`)."""

from __future__ import annotations

import torch

from contrastkit.train.config import TrainConfig
from contrastkit.train.task_base import Task


def build_run_task(config: TrainConfig, generator: torch.Generator) -> Task:
    """The :class:`~contrastkit.train.task_base.Task` of ``config``."""
    kind = config.task.kind
    if kind == "fewshot":
        raise ValueError(
            "task.kind 'fewshot' is meta-trained by contrastkit.meta.train_fewshot "
            "(contrastkit train dispatches to it), not by the Trainer"
        )
    if kind == "pairs" and config.pairs.source in ("text_file", "wordnet_text"):
        from contrastkit.train.text_task import TextPairTask

        return TextPairTask(config, generator)
    if kind == "pairs":
        from contrastkit.train.pair_task import PairTask

        return PairTask(config, generator)
    if kind == "nodes":
        from contrastkit.train.node_task import NodeTask

        return NodeTask(config, generator)
    from contrastkit.train.relation_task import RelationTask

    return RelationTask(config, generator)
