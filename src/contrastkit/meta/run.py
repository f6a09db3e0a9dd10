"""A ``task.kind: fewshot`` run: data, meta-training, the run directory.

```
run_dir/
  config.yaml          the resolved config
  metrics.jsonl        train records, validation evaluations, the final test record
  checkpoints/last.pt  the meta-trainer's state (atomic, weights_only), at each evaluation
  final_metrics.json   test accuracy and its 95 % interval (and the scratch baseline's)
  cache/               WordNet's MiniLM gloss features (meta.cache_dir by default)
```
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from contrastkit.meta.episodes import split_classes
from contrastkit.meta.fewshot_data import FewShotData, sbm_fewshot_data
from contrastkit.meta.trainer import MetaTrainer
from contrastkit.train.checkpoint import (
    CheckpointError,
    atomic_write_text,
    checkpoint_path,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from contrastkit.train.config import TrainConfig, dump_config
from contrastkit.train.progress import MetricsWriter


@dataclass(frozen=True)
class FewShotRun:
    """What a finished few-shot run reports."""

    run_dir: Path
    final_metrics: dict[str, float]
    trainer: MetaTrainer


def build_fewshot_data(config: TrainConfig) -> FewShotData:
    """The few-shot data ``config.data`` names (``sbm`` or ``wordnet_nouns``)."""
    data, meta, seed = config.data, config.meta, config.loop.seed
    if data.name == "sbm":
        return sbm_fewshot_data(
            data.sbm_nodes,
            data.sbm_blocks,
            data.sbm_p_in,
            data.sbm_p_out,
            signal_dims=meta.sbm_signal_dims,
            noise_dims=meta.sbm_noise_dims,
            signal=meta.sbm_signal,
            generator=seed,
        )
    if data.name == "wordnet_nouns":
        from contrastkit.data.wordnet import NOUN_LEXNAMES
        from contrastkit.meta.wordnet_fewshot import wordnet_fewshot_data

        cache = meta.cache_dir or str(Path(config.output.run_dir) / "cache")
        # the meta-train lexicographer classes the trainer will split off (it draws
        # the same split from the same seed over the same 26 classes), so that
        # meta.train_per_class's extra synsets come from meta-train classes only
        sizes = (meta.train_classes, meta.val_classes, meta.test_classes)
        train = split_classes(torch.arange(len(NOUN_LEXNAMES)), sizes, generator=seed).train
        return wordnet_fewshot_data(
            per_class=meta.per_class, cache_dir=cache, root=data.path, generator=seed,
            features_run=meta.features_run if meta.features == "run" else None,
            features_missing=meta.features_missing,
            extra_per_class=meta.train_per_class, extra_classes=train,
        )  # fmt: skip
    raise ValueError(f"data.name {data.name!r} has no few-shot classes (use sbm or wordnet_nouns)")


def _truncate_log(path: Path, step: int) -> None:
    """Keep the records up to the checkpoint's ``step``, less the test record a run that
    ended there wrote: the resumed run writes its own at its end."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the half-written line of a killed run
        at = int(record.get("step", 0))
        if at < step or (at == step and record.get("kind") != "test"):
            kept.append(line)
    atomic_write_text(path, "".join(k + "\n" for k in kept))


def train_fewshot(config: TrainConfig, *, resume: bool = False) -> FewShotRun:
    """Meta-train and test ``config`` (``task.kind: fewshot``) in ``output.run_dir``;
    with ``resume``, continue from the run's checkpoint."""
    if config.task.kind != "fewshot":
        raise ValueError(f"config.task.kind must be 'fewshot', got {config.task.kind!r}")
    run_dir = Path(config.output.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for folder in (run_dir, run_dir / "checkpoints"):
        remove_stale_temporaries(folder)
    trainer = MetaTrainer(config, build_fewshot_data(config))
    ckpt = checkpoint_path(run_dir)
    if resume:
        if not ckpt.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint at {str(ckpt)!r}")
        state = load_checkpoint(ckpt)
        if "meta_trainer" not in state:
            raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no few-shot trainer state")
        trainer.load_state_dict(state["meta_trainer"])
        print(f"contrastkit: resuming {str(run_dir)!r} from step {trainer.step}", file=sys.stderr)
        _truncate_log(run_dir / "metrics.jsonl", trainer.step)
    else:
        for name in ("metrics.jsonl", "final_metrics.json"):
            (run_dir / name).unlink(missing_ok=True)
        ckpt.unlink(missing_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))

    def save(t: MetaTrainer) -> None:
        save_checkpoint(ckpt, {"meta_trainer": t.state_dict()})

    with MetricsWriter(run_dir / "metrics.jsonl") as writer:
        metrics = trainer.fit(writer.write, checkpoint=save)
    save(trainer)
    atomic_write_text(run_dir / "final_metrics.json", json.dumps(metrics, indent=2) + "\n")
    return FewShotRun(run_dir, metrics, trainer)
