"""The ``combiner`` settings reach the weighting the run trains with: GradNorm's
``alpha``, ``lr`` and ``min_weight``, magnitude balancing's ``momentum`` and the
uncertainty weighting's ``init_log_var`` (each method's behaviour under them is
tested in tests/losses/; this is the config's wiring, which nothing else showed).

(scripts/config_settings.py found ``combiner.alpha`` and ``combiner.min_weight``
referenced only by bad-value tests.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config

TWO = 'objectives={"infonce": 1.0, "norm": 1.0}'


def test_gradnorm_takes_alpha_lr_and_min_weight(tmp_path: Path) -> None:
    config = karate_mlp_config(
        tmp_path,
        TWO,
        "combiner.method=gradnorm",
        "combiner.alpha=0.4",
        "combiner.lr=0.3",
        "combiner.min_weight=0.05",
    )
    combiner: Any = Trainer(config).schedules.combiner
    assert combiner.alpha == 0.4
    assert combiner.min_weight == 0.05
    assert combiner.optimizer.param_groups[0]["lr"] == 0.3


@pytest.mark.parametrize("init", [0.0, 1.5])
def test_uncertainty_starts_from_init_log_var(tmp_path: Path, init: float) -> None:
    config = karate_mlp_config(
        tmp_path, TWO, "combiner.method=uncertainty", f"combiner.init_log_var={init}"
    )
    combiner: Any = Trainer(config).schedules.combiner
    torch.testing.assert_close(combiner.log_vars.detach(), torch.full((2,), init))


def test_magnitude_takes_momentum(tmp_path: Path) -> None:
    config = karate_mlp_config(tmp_path, TWO, "combiner.method=magnitude", "combiner.momentum=0.3")
    combiner: Any = Trainer(config).schedules.combiner
    assert combiner.momentum == 0.3
