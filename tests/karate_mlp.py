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


def karate_mlp_overrides(*extra: str) -> list[str]:
    """:data:`KARATE_MLP` then ``extra``; its ``miner.*`` settings only for a relations
    task (the default), since a ``task.kind`` that draws its own negatives ignores them
    (and the suite makes an ignored setting an error)."""
    kinds = [e.partition("=")[2] for e in extra if e.startswith("task.kind=")]
    relations = kinds[-1:] in ([], ["relations"])
    base = [o for o in KARATE_MLP if relations or not o.startswith("miner.")]
    return [*base, *extra]


def karate_mlp_config(tmp_path: Path, *extra: str) -> TrainConfig:
    """:func:`karate_mlp_overrides` over the default recipe, run in ``tmp_path/run``."""
    run_dir = f"output.run_dir={tmp_path / 'run'}"
    return load_config(DEFAULT_RECIPE, karate_mlp_overrides(run_dir, *extra))
