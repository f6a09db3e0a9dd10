"""``encoder.projection: {kind: pca}`` on a text task (tiny random BERT, small data):
fitted once before training to the training texts only, full-width scores unchanged,
truncated retrieval better, kept in checkpoints, bad settings named."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastkit.models.pca_head import pair_pca_basis, pca_basis
from contrastkit.models.text import TextEncoder
from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.text_tiny import (
    A,
    B,
    C,
    D,
    FirstCheckpoint,
    text_file_config,
    write_jsonl,
)


@pytest.fixture(scope="module")
def overlap_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 pairs ``"a b c" -> "a b d"``: an untrained encoder retrieves by the shared
    words at full width; every third pair is held out (``test``)."""
    rows = []
    for i, (a, b) in enumerate(itertools.product(A, B)):
        rows.append(
            {
                "anchor": f"{a} {b} {C[i % 8]}",
                "positive": f"{a} {b} {D[(i // 3) % 8]}",
                "split": "test" if i % 3 == 0 else "train",
            }
        )
    return write_jsonl(tmp_path_factory.mktemp("data") / "overlap.jsonl", rows)


def _config(model_dir: Path, path: Path, run_dir: Path, *extra: str):
    return text_file_config(
        model_dir, path, run_dir, "pairs.eval_ks=[1,10]", "matryoshka.dims=[32,8]", *extra
    )


def _start_metrics(config) -> dict[str, float]:
    trainer = Trainer(config, config.output.run_dir)
    trainer.encoder.prepare_training()
    return trainer.task.evaluate(trainer.encoder, trainer.distance)


@pytest.mark.parametrize("kind", ["pca", "pair_pca"])
def test_rotation_keeps_full_width_and_improves_the_truncated_retrieval(
    model_dir: Path, overlap_file: Path, tmp_path: Path, kind: str
) -> None:
    # the setting's effect, before any training: the same full-width ranking, and the
    # first 8 of 32 coordinates retrieve far better once they are the principal axes
    plain = _start_metrics(_config(model_dir, overlap_file, tmp_path / "a"))
    rotated = _start_metrics(
        _config(model_dir, overlap_file, tmp_path / "b", f"encoder.projection.kind={kind}")
    )
    for name in ("ndcg@10", "recall@1", "recall@10", "mrr"):
        assert rotated[f"test/{name}"] == pytest.approx(plain[f"test/{name}"], abs=1e-6)
    assert plain["test/ndcg@10"] > 0.7  # the words shared by query and answer retrieve
    assert rotated["test/dim8/ndcg@10"] > plain["test/dim8/ndcg@10"] + 0.1


def test_fitted_once_to_the_training_texts_only(
    model_dir: Path, overlap_file: Path, tmp_path: Path
) -> None:
    config = _config(model_dir, overlap_file, tmp_path / "run", "encoder.projection.kind=pca")
    trainer = Trainer(config, tmp_path / "run")
    encoder, task = trainer.encoder, trainer.task
    rows = task.train_rows
    train_ids = torch.unique(torch.cat([task.anchor[rows], task.positive[rows]]))
    assert torch.equal(encoder.fit_items, train_ids)
    held_out = set(range(len(task.texts))) - set(train_ids.tolist())
    queries, _, _ = task.eval_sets("test")
    assert set(queries.tolist()) <= held_out and held_out  # nothing held out is fitted
    said = encoder.prepare_training()
    assert said is not None and f"of {train_ids.numel()} training texts" in said
    head = encoder.text.head
    # the axes of the starting model's embeddings of exactly the training texts...
    base = TextEncoder(model_dir)
    train_texts = [task.texts[i] for i in train_ids.tolist()]
    expected = pca_basis(base.encode(train_texts)).components.float()
    torch.testing.assert_close(head.weight.detach(), expected, atol=1e-5, rtol=0)
    # ...which held-out texts would change: a leak would fail the comparison above
    leaked = pca_basis(base.encode(task.texts)).components.float()
    assert (head.weight.detach() - leaked)[:8].abs().max() > 1e-2
    # fitted once: a second call (a resumed or restarted fit) keeps the head
    before = head.weight.detach().clone()
    assert encoder.prepare_training() is None
    assert torch.equal(head.weight.detach(), before)


def test_centered_false_fits_the_uncentred_second_moment(
    model_dir: Path, overlap_file: Path, tmp_path: Path
) -> None:
    extra = ("encoder.projection.kind=pca", "encoder.projection.centered=false")
    trainer = Trainer(_config(model_dir, overlap_file, tmp_path / "run", *extra), tmp_path / "run")
    encoder, task = trainer.encoder, trainer.task
    assert encoder.prepare_training() is not None
    train_texts = [task.texts[i] for i in encoder.fit_items.tolist()]
    z = TextEncoder(model_dir).encode(train_texts)
    uncentred = pca_basis(z, centered=False).components.float()
    torch.testing.assert_close(encoder.text.head.weight.detach(), uncentred, atol=1e-5, rtol=0)
    # the setting matters: the centred fit (the default) has other leading axes
    centred = pca_basis(z).components.float()
    assert (uncentred - centred)[:4].abs().max() > 1e-2


def test_pair_head_is_fitted_to_the_training_pairs_only(
    model_dir: Path, overlap_file: Path, tmp_path: Path
) -> None:
    config = _config(model_dir, overlap_file, tmp_path / "run", "encoder.projection.kind=pair_pca")
    trainer = Trainer(config, tmp_path / "run")
    task, encoder = trainer.task, trainer.encoder
    rows = task.train_rows
    assert torch.equal(encoder.fit_pairs, torch.stack([task.anchor[rows], task.positive[rows]]))
    said = encoder.prepare_training()
    assert said is not None and f"of {rows.numel()} training pairs" in said
    base = TextEncoder(model_dir)
    z = base.encode(task.texts)
    expected = pair_pca_basis(z[task.anchor[rows]], z[task.positive[rows]]).components
    torch.testing.assert_close(
        encoder.text.head.weight.detach(), expected.float(), atol=1e-5, rtol=0
    )
    # every pair, held-out ones included, would give other axes
    every = torch.arange(task.anchor.numel())
    leaked = pair_pca_basis(z[task.anchor[every]], z[task.positive[every]]).components
    assert (expected - leaked)[:8].abs().max() > 1e-2


@pytest.mark.parametrize("trainable", [True, False])
def test_checkpoint_resume_is_bit_identical(
    model_dir: Path, overlap_file: Path, tmp_path: Path, trainable: bool
) -> None:
    extra = [
        "encoder.projection.kind=pca",
        "encoder.projection.dim=24",
        f"encoder.projection.trainable={str(trainable).lower()}",
        "loop.epochs=2",
        "output.checkpoint_every=2",
        "eval.every_epochs=2",
    ]
    config = _config(model_dir, overlap_file, tmp_path / "a", *extra)
    first = FirstCheckpoint()
    whole = Trainer(config, tmp_path / "a")
    whole.fit(checkpoint=first)
    head = whole.encoder.text.head
    assert head.out_dim == 24 and whole.encoder.dim == 24
    state = first.state()
    assert bool(state["encoder"]["text.head.fitted"])
    resumed = Trainer(_config(model_dir, overlap_file, tmp_path / "b", *extra), tmp_path / "b")
    resumed.load_state_dict(state)
    assert resumed.step == 2
    resumed.fit()
    ours, theirs = whole.encoder.state_dict(), resumed.encoder.state_dict()
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        assert torch.equal(value, theirs[name]), name
    # a frozen head stays the fitted PCA; a trainable one moved with the model
    fitted = first.state()["encoder"]["text.head.weight"]
    assert torch.equal(head.weight.detach(), fitted) != trainable


def test_a_head_added_to_an_earlier_run_is_fitted_to_its_model(
    model_dir: Path, overlap_file: Path, tmp_path: Path
) -> None:
    earlier = _config(
        model_dir, overlap_file, tmp_path / "a", "loop.epochs=1", "eval.every_epochs=9"
    )
    from contrastkit.train.run import train

    first = train(earlier)
    later = _config(
        model_dir,
        overlap_file,
        tmp_path / "b",
        f"loop.init_from={tmp_path / 'a'}",
        "encoder.projection.kind=pca",
    )
    trainer = Trainer(later, tmp_path / "b")
    assert not bool(trainer.encoder.text.head.fitted)
    trainer.encoder.prepare_training()
    ids = trainer.encoder.fit_items
    texts = [trainer.task.texts[i] for i in ids.tolist()]
    # the axes of the earlier run's fine-tuned model, not of the starting one
    expected = pca_basis(first.encoder.text.encode(texts)).components.float()
    torch.testing.assert_close(
        trainer.encoder.text.head.weight.detach(), expected, atol=1e-5, rtol=0
    )
    starting = pca_basis(TextEncoder(model_dir).encode(texts)).components.float()
    assert (expected - starting)[:8].abs().max() > 1e-3


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["encoder.projection.kind=pcaa"], "encoder.projection.kind"),
        (["encoder.projection.kind=pca", "encoder.projection.dim=0"], "encoder.projection.dim"),
        (["encoder.projection.dim=8"], "encoder.projection.dim"),
        (["encoder.projection.kind=pca", "encoder.kind=mlp"], "encoder.projection.kind"),
        (["encoder.projection.kind=pca", "encoder.projection.centred=false"], "centred"),
        (["encoder.projection.kind=pair_pca", "encoder.kind=gnn"], "encoder.projection.kind"),
    ],
)
def test_bad_settings_name_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(None, overrides)


def test_projection_wider_than_the_model_is_refused(
    model_dir: Path, overlap_file: Path, tmp_path: Path
) -> None:
    config = _config(
        model_dir,
        overlap_file,
        tmp_path / "run",
        "encoder.projection.kind=pca",
        "encoder.projection.dim=64",
    )
    with pytest.raises(ValueError, match=r"encoder.projection.dim .*width 32, got 64"):
        Trainer(config, tmp_path / "run")
