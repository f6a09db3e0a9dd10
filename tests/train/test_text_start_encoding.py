"""Step 0 of a text run encodes each text once with the starting model: the mining
pool, ``distill``'s targets and the ``encoder.projection`` fit read one encoding;
later re-mining encodes with the current model; resuming stays bit-identical."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastkit.models.text import TextEncoder
from contrastkit.train.trainer import Trainer
from tests.text_tiny import (
    FirstCheckpoint,
    text_file_config,
)

#: the three readers of the starting model: mining, distillation, the PCA head
EVERYTHING = (
    "pairs.num_negatives=1",
    "objectives.distill=1.0",
    "encoder.projection.kind=pca",
    "encoder.projection.dim=24",
)


def _trainer(model_dir: Path, pairs_file: Path, run_dir: Path, *extra: str) -> Trainer:
    config = text_file_config(model_dir, pairs_file, run_dir, *EVERYTHING, *extra)
    return Trainer(config, run_dir)


def _training_texts(trainer: Trainer) -> set[str]:
    task = trainer.task
    rows = task.train_rows
    ids = torch.unique(torch.cat([task.anchor[rows], task.positive[rows]]))
    return {task.texts[i] for i in ids.tolist()}


@pytest.mark.parametrize("kind", ["pca", "pair_pca"])
def test_step_zero_encodes_each_training_text_once(
    model_dir: Path, pairs_file: Path, tmp_path: Path, kind: str
) -> None:
    trainer = _trainer(
        model_dir,
        pairs_file,
        tmp_path / "run",
        f"encoder.projection.kind={kind}",
        "loop.epochs=1",
        "eval.at_start=true",
    )
    text = trainer.encoder.text
    tokenize = text.tokenize
    seen: Counter[str] = Counter()

    def counted(texts: list[str]) -> dict:
        # inference passes (eval mode) before the first update: the starting model's
        if trainer.step == 0 and not text.training:
            seen.update(texts)
        return tokenize(texts)

    text.tokenize = counted  # type: ignore[method-assign]
    trainer.fit()
    wanted = _training_texts(trainer)
    assert {t: seen[t] for t in wanted} == dict.fromkeys(wanted, 1)
    # what that one pass fed: a fitted head, distill's targets of every text, a pool
    assert bool(text.head.fitted)
    distill = trainer.objectives["distill"]
    assert distill._targets is not None and distill._targets.shape[0] == len(trainer.task.texts)
    assert trainer.task._round >= 0


def test_the_one_encoding_gives_what_separate_encodes_gave(
    model_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    trainer = _trainer(model_dir, pairs_file, tmp_path / "run")
    encoder, task = trainer.encoder, trainer.task
    ctx = trainer.sample_context()
    from contrastkit.train.start_encoding import start_items

    items = start_items(task, trainer.objectives.values(), ctx)
    assert torch.equal(items, torch.arange(len(task.texts)))  # distill: every text
    said = encoder.prepare_training(items)
    assert said is not None and "24 dims" in said
    # the head: the PCA of a separate pre-head encode of the training texts
    base = TextEncoder(model_dir)
    fit_texts = [task.texts[i] for i in encoder.fit_items.tolist()]
    from contrastkit.models.pca_head import pca_basis

    expected = pca_basis(base.encode(fit_texts), 24).components.float()
    torch.testing.assert_close(encoder.text.head.weight.detach(), expected, atol=1e-5, rtol=0)
    # pool and targets: what encoding them separately with the fitted head gives
    pool = task.mining_pool(ctx)
    alone = encoder.text.encode([task.texts[i] for i in task.pool_ids.tolist()])
    torch.testing.assert_close(pool, alone, atol=1e-6, rtol=0)
    targets = encoder.embed_every_item()
    torch.testing.assert_close(targets, encoder.text.encode(task.texts), atol=1e-6, rtol=0)
    assert torch.equal(targets[task.pool_ids], pool)  # one encoding, read twice
    # a parameter update ends step 0: re-mining encodes with the current model
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ctx.epoch = 1
    again = task.mining_pool(ctx)
    assert encoder._start is None
    current = encoder.text.encode([task.texts[i] for i in task.pool_ids.tolist()])
    assert torch.equal(again, current) and not torch.allclose(again, pool, atol=1e-3)


def test_only_the_texts_step_zero_reads_are_encoded(
    model_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    # no distillation, no head: the evaluation's texts and the pool, nothing more
    config = text_file_config(
        model_dir, pairs_file, tmp_path / "run", "pairs.num_negatives=1", "pairs.eval_ks=[1]"
    )
    trainer = Trainer(config, tmp_path / "run")
    task = trainer.task
    from contrastkit.train.start_encoding import start_items

    items = start_items(task, trainer.objectives.values(), trainer.sample_context())
    assert torch.equal(items, task.pool_ids)
    # without mining nothing beyond embed_all's texts
    quiet = text_file_config(model_dir, pairs_file, tmp_path / "quiet")
    plain = Trainer(quiet, tmp_path / "quiet")
    none = start_items(plain.task, plain.objectives.values(), plain.sample_context())
    assert none.numel() == 0


def test_resume_with_pool_distill_and_head_is_bit_identical(
    model_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    extra = (
        "loop.epochs=2",
        "pairs.refresh_every=1",  # epoch 1 re-mines with the current model
        "output.checkpoint_every=2",
        "eval.every_epochs=2",
    )
    first = FirstCheckpoint()
    whole = _trainer(model_dir, pairs_file, tmp_path / "a", *extra)
    whole.fit(checkpoint=first)
    state = first.state()
    assert state["step"] == 2 and state["epoch"] == 0  # inside the first epoch
    resumed = _trainer(model_dir, pairs_file, tmp_path / "b", *extra)
    resumed.load_state_dict(state)
    resumed.fit()
    assert whole.task._round == resumed.task._round == 1
    assert torch.equal(whole.task._pool, resumed.task._pool)
    distill_a, distill_b = whole.objectives["distill"], resumed.objectives["distill"]
    assert torch.equal(distill_a._targets, distill_b._targets)
    ours, theirs = whole.encoder.state_dict(), resumed.encoder.state_dict()
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        assert torch.equal(value, theirs[name]), name
    assert whole.final_metrics == resumed.final_metrics
