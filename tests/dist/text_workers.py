"""The text pairs task (tiny BERT, cached MNR) on spawned ranks and in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from contrastkit.train.config import TrainConfig, load_config
from contrastkit.train.distributed_sampler import DistributedBatchSampler
from contrastkit.train.text_encoder import TextItemEncoder
from contrastkit.train.trainer import Trainer
from tests.dist.workers import count_bucket_allreduces

#: 46 training pairs in global batches of 16: two full batches and a padded third per
#: epoch; MNR over 4-text chunks, so a rank's 8 anchors + 8 positives take 4 replays
EPOCHS = 2
BATCH = 16
CHUNK = 4
#: the 128 texts encoded in batches of 24: five full and one of 8, so the evaluation's
#: encode splits unevenly (rank 0 batches 0, 2, 4: 72 texts; rank 1: 56)
ENCODE_BATCH = 24


def text_config(run_dir: Path, pairs: str, model: str) -> TrainConfig:
    return load_config(
        None,
        [
            "task.kind=pairs",
            "pairs.source=text_file",
            f"pairs.path={pairs}",
            "encoder.kind=text",
            f"encoder.model_path={model}",
            f"encoder.encode_batch_size={ENCODE_BATCH}",
            "objectives={mnr: 1.0}",
            # one hard negative per anchor, mined from the pool rank 0 embeds and broadcasts
            "pairs.num_negatives=1",
            "optim.name=adamw",
            "optim.lr=0.003",
            f"loop.batch_size={BATCH}",
            f"loop.grad_cache_chunk_size={CHUNK}",
            f"loop.epochs={EPOCHS}",
            "loop.log_every=1",
            "loop.progress=false",
            "loop.num_threads=1",
            "output.report=false",
            f"output.run_dir={run_dir}",
        ],
    )


def _float64_trainer(config: TrainConfig, run_dir: Path) -> Trainer:
    """A trainer whose text encoder computes in float64 (``encoder.dtype`` is for
    tables only; converted before the trainer builds the optimiser and DDP)."""
    from contrastkit.train import trainer as trainer_module

    build = trainer_module.build_encoder

    def build_float64(*args: Any, **kwargs: Any) -> Any:
        return build(*args, **kwargs).double()

    trainer_module.build_encoder = build_float64  # type: ignore[assignment]
    try:
        return Trainer(config, run_dir)
    finally:
        trainer_module.build_encoder = build


def _count_syncs(trainer: Trainer) -> list[int]:
    """A DDP comm hook on the trainer's step counting gradient all-reduces."""
    ddp = getattr(trainer.step_fn, "ddp", None)
    assert ddp is not None, "the text encoder is not under DDP"
    return count_bucket_allreduces(ddp)


def _train(trainer: Trainer) -> dict[str, Any]:
    """Every step of ``EPOCHS`` epochs (the trainer's loop without its evaluations):
    the logged (global batch's) loss per step and the encoder after them; then one
    evaluation (its metrics, how many task evaluations and how many text encodes this
    process ran) and the embedding it read, beside one whole encode of the same texts
    with the same weights."""
    losses = []
    for epoch in range(EPOCHS):
        trainer.epoch = epoch
        perm = trainer._epoch_permutation()
        for t in range(trainer.batches_per_epoch):
            record = trainer.train_step(trainer._batch_ids(perm, t))
            trainer.step += 1
            losses.append(float(record["loss"]))
    assert all(p.dtype == torch.float64 for p in trainer.encoder.parameters())
    state = {k: v.detach().clone() for k, v in trainer.encoder.state_dict().items()}
    # then one evaluation, counting the task evaluations this process ran
    calls: list[int] = []
    evaluate = trainer.task.evaluate

    def counted(*args: Any, **kwargs: Any) -> dict[str, float]:
        calls.append(1)
        return evaluate(*args, **kwargs)

    trainer.task.evaluate = counted  # type: ignore[method-assign]
    encoder = trainer.encoder
    assert isinstance(encoder, TextItemEncoder)
    text = encoder.text
    encoded: list[int] = []
    encode_batches = text.encode_batches

    def counted_encode(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        rows, z = encode_batches(*args, **kwargs)
        encoded.append(int(rows.numel()))
        return rows, z

    text.encode_batches = counted_encode  # type: ignore[method-assign]
    trainer._evaluate(None)
    del text.encode_batches  # the method again
    evaluated = encoder.embed_all()  # the evaluation's, from the cache
    texts = encoder.texts[: evaluated.shape[0]]
    return {
        "losses": losses,
        "encoder": state,
        "steps": trainer.step,
        "metrics": dict(trainer.final_metrics),
        "task_evaluations": len(calls),
        "encoded": sum(encoded),
        "evaluated": evaluated,
        "whole": text.encode(texts, ENCODE_BATCH),
    }


def text_ranks(
    rank: int, world: int, base: str, pairs: str, models: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """One rank of a 2-rank run per model (``models``: name -> model directory);
    ``syncs``: the gradient all-reduces over each run."""
    out = {}
    for name, model in models.items():
        config = text_config(Path(base) / f"{name}{rank}", pairs, model)
        trainer = _float64_trainer(config, Path(base))
        calls = _count_syncs(trainer)
        result = _train(trainer)
        result["syncs"] = calls[0]
        out[name] = result
    return out


def text_single(base: Path, pairs: str, model: str) -> dict[str, Any]:
    """One process on the 2-rank run's global batches."""
    config = text_config(base / "single", pairs, model)
    trainer = _float64_trainer(config, base / "single")
    n = trainer.task.num_examples()
    trainer.use_sampler(DistributedBatchSampler(n, BATCH, 1, 0, config.loop.seed))
    return _train(trainer)
