"""The ``training`` section of ``bench_text.py``: one fine-tuning step, contrastkit's
against sentence-transformers', same model, loss, batch and data, in one process.

* data: ``--train-pairs`` WordNet 3.0 training (lemma names -> definition) pairs
  (:mod:`contrastkit.data.wordnet_text`, seed ``--seed``), the same for both sides;
* model: the packaged all-MiniLM-L6-v2 (or ``--model DIR``), ``max_seq_length`` 64;
* loss: multiple-negatives ranking, in-batch negatives, scale 20, cosine;
* optimiser: AdamW, learning rate 2e-5, no warm-up, batch ``--train-batch`` pairs;
* contrastkit: ``contrastkit train``'s own step — a :class:`~contrastkit.train.trainer.Trainer`
  over a ``text_file`` of the pairs (``encoder.kind: text``, ``objectives.mnr``),
  timing ``Trainer.train_step`` (batch layout, encode, loss, backward, AdamW);
* sentence-transformers: ``SentenceTransformerTrainer.train()`` with
  ``MultipleNegativesRankingLoss`` on a ``datasets.Dataset`` of the same pairs, the
  same batch size and ``max_steps`` (its data loader, collation and optimiser step
  included; no evaluation, no saving), timed by its own ``train_runtime``.

Each side first runs ``--warmup`` steps untimed (its own model copy, so neither
benefits from the other's warm caches beyond the shared process), then
``--train-steps`` timed steps. The two sides alternate ``--rounds`` times (ours,
theirs, ours, ...), so a change in the machine's load hits both; reported: each
round's seconds per step, the medians, pairs/s and the ratio of the medians
contrastkit / sentence-transformers (> 1: contrastkit is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _pairs(n: int, seed: int) -> tuple[list[str], list[str]]:
    from contrastkit.data.wordnet_text import load_wordnet_text_pairs

    pairs = load_wordnet_text_pairs(kinds=("lemmas",), seed=seed).subset("train")
    take = torch.randperm(pairs.num_pairs, generator=torch.Generator().manual_seed(seed))[:n]
    return pairs.text_list(pairs.anchors[take]), pairs.text_list(pairs.positives[take])


def _ours(
    anchors: list[str],
    positives: list[str],
    model: Path | None,
    batch: int,
    steps: int,
    warmup: int,
    threads: int,
    work: Path,
) -> float:
    """Seconds per timed ``Trainer.train_step`` of contrastkit."""
    from contrastkit.train.config import load_config
    from contrastkit.train.trainer import Trainer

    path = work / "pairs.jsonl"
    rows = [
        {"anchor": a, "positive": p, "split": "train"}
        for a, p in zip(anchors, positives, strict=True)
    ]
    rows[-1]["split"] = "test"  # the task needs a held-out example; never a batch row
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    overrides = [
        "task.kind=pairs",
        "pairs.source=text_file",
        f"pairs.path={path}",
        "encoder.kind=text",
        "encoder.max_seq_length=64",
        "objectives.infonce=0",
        "objectives.mnr=1.0",
        "optim.name=adamw",
        "optim.lr=2e-5",
        f"loop.batch_size={batch}",
        f"loop.num_threads={threads}",
        "loop.progress=false",
        "loop.log_every=1000000",
        f"output.run_dir={work / 'run'}",
    ]
    if model is not None:
        overrides.append(f"encoder.model_path={model}")
    trainer = Trainer(load_config(None, overrides))
    order = torch.arange(trainer.task.num_examples())
    for i in range(warmup):
        trainer.train_step(order[i * batch : (i + 1) * batch])
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        trainer.train_step(order[i * batch : (i + 1) * batch])
    return (time.perf_counter() - t0) / steps


def _theirs(
    anchors: list[str],
    positives: list[str],
    model: Path | None,
    batch: int,
    steps: int,
    warmup: int,
    work: Path,
    seed: int,
) -> float:
    """Seconds per step of ``SentenceTransformerTrainer`` over ``steps`` steps (after
    a separate ``warmup``-step run on the same model)."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from contrastkit.models.text import default_model_path

    st = SentenceTransformer(str(model or default_model_path()), device="cpu")
    st.max_seq_length = 64
    data = Dataset.from_dict({"anchor": anchors, "positive": positives})

    def run(max_steps: int, out: str) -> float:
        args = SentenceTransformerTrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=max_steps,
            learning_rate=2e-5,
            warmup_steps=0,
            lr_scheduler_type="constant",
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            dataloader_num_workers=0,
            disable_tqdm=True,
            seed=seed,
            use_cpu=True,
        )
        trainer = SentenceTransformerTrainer(
            model=st, args=args, train_dataset=data, loss=MultipleNegativesRankingLoss(st)
        )
        return float(trainer.train().metrics["train_runtime"])

    if warmup:
        run(warmup, str(work / "st_warmup"))
    return run(steps, str(work / "st")) / steps


def bench_training(args: argparse.Namespace) -> dict[str, float]:
    """The ``training`` section (see the module docstring)."""
    batch = getattr(args, "train_batch", 32)
    steps = getattr(args, "train_steps", 20)
    warmup = getattr(args, "warmup", 2)
    if getattr(args, "quick", False):
        steps, warmup = min(steps, 5), 1
    rounds = max(1, int(getattr(args, "rounds", 3)))
    n = batch * (steps + warmup) + 1
    anchors, positives = _pairs(n, args.seed)
    ours_runs: list[float] = []
    theirs_runs: list[float] = []
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            ours_runs.append(
                _ours(anchors, positives, args.model, batch, steps, warmup, args.threads, work)
            )
            torch.set_num_threads(args.threads)  # the Trainer set it; keep both sides equal
            theirs_runs.append(
                _theirs(anchors, positives, args.model, batch, steps, warmup, work, args.seed)
            )
        print(
            f"round {r + 1}: contrastkit {ours_runs[-1]:.3f} s/step, "
            f"sentence-transformers {theirs_runs[-1]:.3f} s/step",
            flush=True,
        )
    ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
    out = {
        "batch": float(batch),
        "steps": float(steps),
        "ours_s_per_step": ours,
        "st_s_per_step": theirs,
        "throughput_ratio": theirs / ours,
    }
    print(
        f"batch {batch} pairs, {steps} timed steps, {args.threads} thread(s), medians of {rounds}"
    )
    print(f"{'':24}{'contrastkit':>14}{'sentence-tf':>14}{'ratio':>9}")
    print(f"{'s / step':24}{ours:>14.3f}{theirs:>14.3f}{theirs / ours:>8.2f}x")
    print(f"{'pairs / s':24}{batch / ours:>14.1f}{batch / theirs:>14.1f}")
    return out
