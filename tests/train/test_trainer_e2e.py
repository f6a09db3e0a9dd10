"""End-to-end training runs that an untrained model fails."""

from __future__ import annotations

from pathlib import Path

import torch

from contrastkit.eval.reconstruction import reconstruction_ranking
from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.train.run import train


def _config(tmp_path: Path, *overrides: str):  # type: ignore[no-untyped-def]
    base = [f"output.run_dir={tmp_path / 'run'}", "loop.progress=false", "output.report=false"]
    return load_config(DEFAULT_RECIPE, base + list(overrides))


def test_mammals_poincare_map_far_above_random(tmp_path: Path) -> None:
    config = _config(tmp_path, "loop.epochs=40", "eval.every_epochs=40", "loop.burn_in_epochs=5")
    trainer = train(config)
    metrics = trainer.final_metrics
    rand = torch.randn(trainer.task.num_items, 5, generator=torch.Generator().manual_seed(0)) * 1e-3
    random_map = reconstruction_ranking(rand.double(), trainer.task.graph.eval_edges).map
    assert metrics["train/map"] > random_map + 0.3, (metrics, random_map)
    assert metrics["train/mean_rank"] < 20
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "final_metrics.json", "checkpoints/last.pt"):
        assert (run / name).is_file(), name


def test_digits_mlp_probe_and_link_prediction(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "data.name=digits",
        "data.test_fraction=0.1",
        "encoder.kind=mlp",
        "encoder.manifold=euclidean",
        "encoder.dim=32",
        "objective.distance=cosine",
        "objective.temperature=0.1",
        "optim.name=adam",
        "optim.lr=0.003",
        "loop.epochs=8",
        "loop.burn_in_epochs=0",
        "loop.batch_size=256",
        "miner.num_negatives=20",
        "eval.every_epochs=8",
    )
    metrics = train(config).final_metrics
    assert metrics["test/probe_accuracy"] > 0.8, metrics  # chance is 0.1
    assert metrics["test/auc"] >= 0.9, metrics
