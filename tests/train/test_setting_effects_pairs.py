"""``pairs`` settings act as they claim: ``split_seed`` draws the held-out items of a
pairs task (the same seed the same stratified split whatever ``loop.seed`` is, another
seed another one with the same per-label counts), and ``structural_hops`` is how far
in the WordNet hierarchy the false-negative rule bans texts (-1: no rule).

(scripts/config_settings.py found ``split_seed`` only in fixtures and
``structural_hops`` in no test.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from contrastkit.train.config import load_config
from contrastkit.train.text_task import load_text_examples
from contrastkit.train.trainer import Trainer


def _split(tmp_path: Path, *extra: str) -> tuple[torch.Tensor, torch.Tensor]:
    config = load_config(
        None,
        [
            "task.kind=pairs",
            "pairs.source=digits",
            "encoder.kind=mlp",
            "pairs.test_fraction=0.2",
            "loop.progress=false",
            "output.report=false",
            f"output.run_dir={tmp_path / 'run'}",
            *extra,
        ],
    )
    task: Any = Trainer(config).task
    return task.test_items, task.all_labels


def test_split_seed_draws_the_held_out_items(tmp_path: Path) -> None:
    base, labels = _split(tmp_path / "a", "pairs.split_seed=0")
    same, _ = _split(tmp_path / "b", "pairs.split_seed=0", "loop.seed=5")
    other, _ = _split(tmp_path / "c", "pairs.split_seed=1")
    assert torch.equal(base, same)  # the split is the split seed's, not the run's
    assert not torch.equal(base, other)
    per_label = torch.bincount(labels[base], minlength=10)
    assert torch.equal(per_label, torch.bincount(labels[other], minlength=10))  # stratified


def _structural(tmp_path: Path, hops: int) -> Any:
    from tests.wordnet_slice import wordnet_text_settings, write_wordnet_slice

    root = write_wordnet_slice(tmp_path / f"wn{hops}")
    config = load_config(
        None,
        [
            *wordnet_text_settings(root),
            "pairs.test_fraction=0.3",
            f"pairs.structural_hops={hops}",
        ],
    )
    examples, _, structural = load_text_examples(config)
    return examples.texts, structural


def test_structural_hops_is_the_reach_of_the_false_negative_rule(tmp_path: Path) -> None:
    assert _structural(tmp_path, -1)[1] is None  # -1: no structural rule
    counts = []
    for hops in (0, 1, 3):
        texts, structural = _structural(tmp_path, hops)
        ids = torch.arange(len(texts))
        banned = structural.forbidden(ids, ids)
        dog, animal, puppy = (
            next(i for i, t in enumerate(texts) if t.startswith(w))
            for w in ("dog", "animal", "puppy")
        )
        # dog is a hop below animal, puppy two: each banned from the hops that reach it
        assert bool(banned[dog, animal]) == (hops >= 1)
        assert bool(banned[puppy, animal]) == (hops >= 2)
        counts.append(int(banned.sum()))
    assert counts[0] < counts[1] < counts[2]
