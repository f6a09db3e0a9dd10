"""``objectives.mnr.hard_negatives: false`` leaves the batch's mined negatives out of
MNR's candidates: the loss is sentence-transformers' in-batch-only MNR (the default,
with them, is tested in test_through_trainer.py).

(scripts/config_settings.py found the ``false`` value exercised only by the DDP workers.)"""

from __future__ import annotations

from pathlib import Path

import torch

from contrastkit.functional.mnr import multiple_negatives_ranking_loss
from tests.objectives.test_through_trainer import (
    _close,
    _encoded,
    _in_batch_false_negatives,
    _trainer,
    _value,
)


def test_mnr_without_hard_negatives_ranks_against_the_batch_only(tmp_path: Path) -> None:
    params = {"weight": 1.0, "scale": 10.0, "hard_negatives": False}
    trainer = _trainer(tmp_path, "digits", {"mnr": params})
    batch = _encoded(trainer)
    assert batch.negatives.shape[1] == 3 and bool(batch.mask.any())  # there were some
    z = batch.z
    expected = multiple_negatives_ranking_loss(
        z[batch.anchor],
        z[batch.positive],
        None,
        scale=10.0,
        distance="cosine",
        false_negative_mask=_in_batch_false_negatives(batch),
    )
    actual = _value(trainer, batch, "mnr")
    _close(actual, expected)
    with_hard = _value(
        _trainer(tmp_path / "hard", "digits", {"mnr": {**params, "hard_negatives": True}}),
        batch,
        "mnr",
    )
    assert not torch.allclose(actual, with_hard)
