"""``meta.sbm_signal_dims`` / ``sbm_noise_dims`` / ``sbm_signal`` make the features of
a few-shot SBM: signal then noise columns, the blocks' means scaled by the signal (0:
the signal columns carry no block information); ``meta.train_classes`` is the number
of meta-training classes (-1: every class not held out for validation and test);
``meta.temperature`` divides ProtoNet's cosine scores (and, as documented, not its
squared distances).

(scripts/config_settings.py found no test referencing them.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.meta.run import build_fewshot_data
from contrastkit.meta.trainer import MetaTrainer
from contrastkit.train.config import TrainConfig, load_config
from contrastkit.train.ignored_settings import IgnoredSettingWarning


def _config(tmp_path: Path, *extra: str) -> TrainConfig:
    return load_config(
        None,
        [
            "task.kind=fewshot",
            "data.name=sbm",
            "data.sbm_nodes=300",
            "data.sbm_blocks=15",
            "encoder.kind=mlp",
            "meta.sbm_signal_dims=3",
            "meta.sbm_noise_dims=2",
            f"output.run_dir={tmp_path / 'run'}",
            *extra,
        ],
    )


def _features(tmp_path: Path, signal: float) -> tuple[torch.Tensor, torch.Tensor]:
    data = build_fewshot_data(_config(tmp_path, f"meta.sbm_signal={signal}"))
    return data.x, data.y


def _between_block_variance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[F]``: the variance over blocks of each column's block mean."""
    blocks = int(y.max()) + 1
    sums = torch.zeros(blocks, x.shape[1]).index_add_(0, y.long(), x)
    means = sums / torch.bincount(y.long(), minlength=blocks).unsqueeze(1)
    return means.var(0)


@pytest.mark.parametrize("signal", [0.0, 4.0])
def test_sbm_feature_settings_make_signal_then_noise_columns(tmp_path: Path, signal: float) -> None:
    x, y = _features(tmp_path, signal)
    assert x.shape == (300, 3 + 2)
    spread = _between_block_variance(x, y)
    # 20 nodes a block: a column without block information has block means of
    # variance ~1/20; the signal columns' grows as signal ** 2 (means ~ N(0, 1))
    assert bool((spread[3:] < 0.3).all())  # the noise columns
    if signal == 0.0:
        assert bool((spread[:3] < 0.3).all())
    else:
        assert bool((spread[:3] > 3.0).all())


@pytest.mark.parametrize(("train_classes", "expected"), [(-1, 5), (3, 3)])
def test_train_classes_is_the_meta_training_class_count(
    tmp_path: Path, train_classes: int, expected: int
) -> None:
    # 15 blocks less 5 validation and 5 test classes leave 5 for meta-training
    config = _config(tmp_path, f"meta.train_classes={train_classes}", "meta.ways=3")
    trainer = MetaTrainer(config, build_fewshot_data(config))
    splits = trainer.splits
    assert (splits.val.numel(), splits.test.numel()) == (5, 5)
    assert splits.train.numel() == expected
    held_out = torch.cat([splits.val, splits.test])
    assert not bool(torch.isin(splits.train, held_out).any())


def _protonet_loss(tmp_path: Path, distance: str, temperature: float) -> float:
    config = _config(
        tmp_path,
        "meta.method=protonet",
        "meta.ways=3",
        f"meta.distance={distance}",
        f"meta.temperature={temperature}",
    )
    trainer = MetaTrainer(config, build_fewshot_data(config))
    episode = trainer.samplers["train"].sample(1, generator=0).episode(0)
    loss, _ = trainer._episode_loss(episode)
    return float(loss.detach())


def test_temperature_divides_cosine_prototype_scores_only(tmp_path: Path) -> None:
    # the same network and episode: cosine logits / T, squared distances unscaled
    assert _protonet_loss(tmp_path, "cosine", 0.1) != _protonet_loss(tmp_path, "cosine", 1.0)
    sq = _protonet_loss(tmp_path, "sqeuclidean", 0.1)  # 0.1: the default, not a setting
    # and a squared-distance run is told that it ignores the temperature it was given
    with pytest.warns(IgnoredSettingWarning, match=r"meta\.temperature=1\.0 is ignored"):
        assert sq == _protonet_loss(tmp_path, "sqeuclidean", 1.0)
