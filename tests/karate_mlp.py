"""One small config shared by tests that train through the trainer: an MLP over the
karate club's identity features, cosine InfoNCE, random negatives, Adam (~1 s)."""

from __future__ import annotations

from pathlib import Path

from contrastkit.train.config import DEFAULT_RECIPE, TrainConfig, load_config

KARATE_MLP = [
    "data.name=karate",
    "encoder.kind=mlp",
    "encoder.manifold=euclidean",
    "encoder.dim=8",
    "encoder.hidden=16",
    "objective.distance=cosine",
    "objective.temperature=0.2",
    "optim.name=adam",
    "optim.lr=0.01",
    "burn_in.epochs=0",
    "loop.batch_size=64",
    "miner.num_negatives=8",
    "miner.strategy=random",
    "output.report=false",
    "loop.progress=false",
]


def karate_mlp_config(tmp_path: Path, *extra: str) -> TrainConfig:
    """:data:`KARATE_MLP` over the default recipe, run in ``tmp_path/run``."""
    return load_config(DEFAULT_RECIPE, [*KARATE_MLP, f"output.run_dir={tmp_path / 'run'}", *extra])
