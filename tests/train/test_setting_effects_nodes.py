"""``nodes`` settings act as they claim through the node task: ``feature_signal`` is
the scale of the one-hot label in ``noisy_labels`` features and ``feature_noise_dims``
their extra noise columns, ``layer_sizes`` bounds a layer-wise sampled batch's
subgraph, and ``hnsw_k`` is the ``k`` of the HNSW search recall an evaluation reports.

(scripts/config_settings.py found these only in bad-value tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.train.config import load_config
from contrastkit.train.node_task import NodeTask
from contrastkit.train.trainer import Trainer
from tests.train.test_node_task import SMALL


def _trainer(tmp_path: Path, *extra: str) -> Trainer:
    return Trainer(load_config(None, [*SMALL, f"output.run_dir={tmp_path / 'run'}", *extra]))


@pytest.mark.parametrize(("signal", "noise_dims"), [(0.0, 3), (4.0, 0)])
def test_feature_signal_and_noise_dims_make_the_features(
    tmp_path: Path, signal: float, noise_dims: int
) -> None:
    trainer = _trainer(
        tmp_path, f"nodes.feature_signal={signal}", f"nodes.feature_noise_dims={noise_dims}"
    )
    task = trainer.task
    assert isinstance(task, NodeTask)
    x, y = task.x, task.graph.graph.y
    assert x is not None and y is not None
    assert x.shape == (400, 4 + noise_dims)  # 4 blocks' one-hot label, then the noise
    at_label = x[torch.arange(400), y.long()]
    # unit Gaussian noise around the signal: 400 draws put the mean within 0.25 of it
    assert abs(float(at_label.mean()) - signal) < 0.25


def test_layer_sizes_bound_the_sampled_subgraph(tmp_path: Path) -> None:
    def items(*sizes: int) -> int:
        trainer = _trainer(
            tmp_path / str(sizes), "nodes.sampler=layerwise", f"nodes.layer_sizes={list(sizes)}"
        )
        batch = trainer.task.batch(torch.arange(32), trainer.sample_context())
        rows = torch.cat([batch.anchor, batch.positive, batch.negatives.flatten()])
        seeds = int(torch.unique(rows).numel())
        assert batch.items.numel() <= seeds + sum(sizes)  # the budget, past the seeds
        return int(batch.items.numel()) - seeds

    small, large = items(4, 4), items(64, 64)
    assert small <= 8 < large


@pytest.mark.parametrize("k", [3, 7])
def test_hnsw_k_is_the_recall_the_evaluation_reports(tmp_path: Path, k: int) -> None:
    pytest.importorskip("faiss")
    trainer = _trainer(tmp_path, f"nodes.hnsw_k={k}")
    metrics = trainer.task.evaluate(trainer.encoder, trainer.distance)
    searched = [name for name in metrics if name.startswith("search/")]
    assert searched == [f"search/hnsw_recall@{k}"]
    assert 0.0 <= metrics[searched[0]] <= 1.0
