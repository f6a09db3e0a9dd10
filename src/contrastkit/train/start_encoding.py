"""Step 0's encoding: every item the run reads with the starting model, asked for once.

Before the first step several parts read the starting model's embeddings: the start
evaluation and snapshots (``embed_all``), a fitted output head (the text encoder's
``encoder.projection``), the task's mining pool, and objectives anchored to the
starting model (``distill``'s targets, every item). An encoder with
``prepare_training(items)`` (the text encoder) encodes them all in one pass when it
is told every item the others will read: :func:`start_items` asks the task
(``start_items(ctx)``) and each objective (``start_items()``) that has the method.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from contrastkit.train.task_base import SampleContext, Task


def start_items(task: Task, objectives: Iterable[Any], ctx: SampleContext) -> Tensor:
    """``[M]`` sorted distinct item ids the task (its first step under ``ctx``) and the
    ``objectives`` read with the starting model (empty: none beyond ``embed_all``)."""
    parts = [torch.empty(0, dtype=torch.int64)]
    wants = getattr(task, "start_items", None)
    if wants is not None:
        parts.append(wants(ctx))
    for objective in objectives:
        wants = getattr(objective, "start_items", None)
        if wants is not None:
            parts.append(wants())
    return torch.unique(torch.cat([p.to(torch.int64) for p in parts]))


def prepare_encoder(
    encoder: Any, task: Task, objectives: Iterable[Any], ctx: SampleContext
) -> str | None:
    """Call ``encoder.prepare_training(start_items(...))`` where the encoder has it (at
    step 0); its line saying what it did, or ``None``."""
    prepare = getattr(encoder, "prepare_training", None)
    if prepare is None:
        return None
    said: str | None = prepare(start_items(task, objectives, ctx))
    return said
