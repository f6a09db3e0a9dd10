"""``miner`` settings act as they claim through the trainer: ``burn_in_degree`` draws
the negatives of the ``burn_in.epochs`` from the degree distribution (the karate
club's two hubs come up about twice as often as uniformly) and uniform ones after,
and ``refresh_every`` re-mines the hard pool every that many steps.

(scripts/config_settings.py found no test of these effects through a run.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config

HUBS = [0, 33]  # the instructor and the administrator: degrees 16 and 17 of 34 nodes


def _hub_share(trainer: Trainer, epoch: int) -> float:
    """The share of one full batch's valid negatives that are the two hubs."""
    trainer.epoch = epoch
    batch = trainer.task.batch(torch.arange(trainer.task.num_examples()), trainer.sample_context())
    assert batch.negatives is not None and batch.mask is not None
    negatives = batch.items[batch.negatives][batch.mask]
    return float(torch.isin(negatives, torch.tensor(HUBS)).float().mean())


@pytest.mark.parametrize("degree", [True, False])
def test_burn_in_degree_draws_burn_in_negatives_by_degree(tmp_path: Path, degree: bool) -> None:
    config = karate_mlp_config(
        tmp_path, "burn_in.epochs=1", f"miner.burn_in_degree={str(degree).lower()}"
    )
    trainer = Trainer(config)
    uniform = len(HUBS) / 34
    during, after = _hub_share(trainer, 0), _hub_share(trainer, 1)
    # 156 x 8 draws: the uniform share is ~0.06 (a hub's true neighbours are rejected),
    # the degree-weighted one ~0.12
    assert after < 1.5 * uniform  # after the burn-in: the miner's own (random) negatives
    if degree:
        assert during > 1.6 * uniform
    else:
        assert during < 1.5 * uniform


def test_refresh_every_re_mines_the_pool_every_that_many_steps(tmp_path: Path) -> None:
    config = karate_mlp_config(
        tmp_path, "miner.strategy=hardest", "miner.pool_size=5", "miner.refresh_every=3"
    )
    trainer = Trainer(config)
    task: Any = trainer.task
    sampler = task.negatives.sampler
    refreshed: list[int] = []
    original = sampler.refresh

    def recording(*args: Any, **kwargs: Any) -> None:
        refreshed.append(trainer.step)
        original(*args, **kwargs)

    sampler.refresh = recording
    for _ in range(8):
        trainer.train_step(torch.arange(16))
        trainer.step += 1
    assert refreshed == [0, 3, 6]
