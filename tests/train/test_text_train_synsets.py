"""``pairs.train_synsets`` through the trainer: more training, the same evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastkit.objectives.entries_preserve import DistillObjective
from contrastkit.train.config import load_config
from contrastkit.train.text_task import TextPairTask
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.wordnet_slice import write_wordnet_slice


@pytest.fixture(scope="module")
def wordnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wordnet_slice(tmp_path_factory.mktemp("wn"))


def _trainer(model_dir: Path, wordnet: Path, run_dir: Path, *extra: str) -> Trainer:
    config = load_config(
        None,
        [
            "task.kind=pairs",
            "pairs.source=wordnet_text",
            f"pairs.path={wordnet}",
            "pairs.max_synsets=10",
            "pairs.validation_fraction=0.3",
            "pairs.test_fraction=0.3",
            "pairs.eval_splits=[validation,test]",
            "pairs.eval_distractors=2",
            "pairs.eval_ks=[1,3]",
            "pairs.train_exclude_hops=0",
            "pairs.num_negatives=1",
            "encoder.kind=text",
            f"encoder.model_path={model_dir}",
            "objectives.infonce=0",
            "objectives.mnr=1.0",
            "objectives.distill=1.0",
            "optim.name=adamw",
            "loop.batch_size=4",
            "loop.progress=false",
            "output.report=false",
            f"output.run_dir={run_dir}",
            *extra,
        ],
    )
    return Trainer(config)


def _eval_texts(task: TextPairTask, split: str) -> tuple[list[str], list[str]]:
    queries, corpus, _ = task.eval_sets(split)
    return task.text_pairs.text_list(queries), task.text_pairs.text_list(corpus)


def test_train_synsets_enlarge_training_and_keep_the_evaluation(
    model_dir: Path, wordnet: Path, tmp_path: Path
) -> None:
    base = _trainer(model_dir, wordnet, tmp_path / "base")
    wide = _trainer(model_dir, wordnet, tmp_path / "wide", "pairs.train_synsets=9")
    bt, wt = base.task, wide.task
    assert isinstance(bt, TextPairTask) and isinstance(wt, TextPairTask)
    assert wt.num_examples() > bt.num_examples()
    for split in ("validation", "test"):
        assert _eval_texts(wt, split) == _eval_texts(bt, split)
        assert torch.equal(wt.eval_sets(split)[2], bt.eval_sets(split)[2])
    # whole-embedding views stop at the sample's texts; distillation sees every text
    sample = wt.text_pairs.sample_texts
    assert wt.embedded_items == sample < wt.num_items and bt.embedded_items == bt.num_items
    assert wide.encoder.embed_all().shape[0] == sample
    metrics = wide.fit()
    assert metrics["test/num_queries"] == base.evaluate()["test/num_queries"] > 0
    distill = wide.objectives["distill"]
    assert isinstance(distill, DistillObjective) and distill._targets is not None
    assert distill._targets.shape[0] == wt.num_items
    # the snapshots read validation pairs (embedded), not training-only texts
    u, v = wt.snapshot_pairs(100)
    assert bool((torch.cat([u, v]) < sample).all())


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["pairs.source=wordnet_text", "pairs.train_synsets=0"], "pairs.train_synsets"),
        (["pairs.train_synsets=10"], "pairs.train_synsets"),  # digits: not WordNet
        (["pairs.train_exclude_hops=-2"], "pairs.train_exclude_hops"),
    ],
)
def test_bad_train_synsets_name_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, ["task.kind=pairs", *overrides])


def test_too_many_train_synsets_raise(model_dir: Path, wordnet: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_synsets must be at most"):
        _trainer(model_dir, wordnet, tmp_path / "r", "pairs.train_synsets=50")
