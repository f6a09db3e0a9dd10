"""``encoder`` settings act as they claim on the encoder a run builds:
``init_scale`` is the half-width of an embedding table's uniform start, ``dtype`` its
precision, ``dropout`` makes two training-mode passes differ (and 0 keeps them equal),
``hidden`` / ``layers`` the MLP's widths and depth.

(scripts/config_settings.py found these set by many tests, their effect checked by
none through the config.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config


def _table(tmp_path: Path, *extra: str) -> torch.Tensor:
    """The starting rows of a karate embedding table (the neutral defaults)."""
    config = load_config(None, [f"output.run_dir={tmp_path / 'run'}", *extra])
    encoder: Any = Trainer(config).encoder
    return encoder.table.weight.detach()


@pytest.mark.parametrize("scale", [1e-3, 0.5])
def test_init_scale_is_the_half_width_of_the_uniform_start(tmp_path: Path, scale: float) -> None:
    w = _table(tmp_path, f"encoder.init_scale={scale}")
    assert float(w.abs().max()) <= scale
    # 34 x 10 uniform draws on [-s, s]: the largest is within 10 % of s
    assert float(w.abs().max()) > 0.9 * scale


def test_dtype_float64_makes_a_float64_table(tmp_path: Path) -> None:
    assert _table(tmp_path / "a").dtype == torch.float32
    assert _table(tmp_path / "b", "encoder.dtype=float64").dtype == torch.float64


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_dropout_makes_training_passes_differ(tmp_path: Path, dropout: float) -> None:
    encoder = Trainer(karate_mlp_config(tmp_path, f"encoder.dropout={dropout}")).encoder
    encoder.train()
    nodes = torch.arange(34)
    first, second = encoder(nodes), encoder(nodes)
    assert torch.equal(first, second) == (dropout == 0.0)
    encoder.eval()
    assert torch.equal(encoder(nodes), encoder(nodes))  # evaluation never drops


@pytest.mark.parametrize(("hidden", "layers"), [(16, 2), (7, 3)])
def test_hidden_and_layers_shape_the_mlp(tmp_path: Path, hidden: int, layers: int) -> None:
    config = karate_mlp_config(tmp_path, f"encoder.hidden={hidden}", f"encoder.layers={layers}")
    linears = [m for m in Trainer(config).encoder.modules() if isinstance(m, nn.Linear)]
    # karate's 34 identity features -> hidden x (layers - 1) -> encoder.dim 8
    widths = [(m.in_features, m.out_features) for m in linears]
    assert widths[0][0] == 34 and widths[-1][1] == 8
    assert len(linears) >= layers
    assert [w[1] for w in widths[: layers - 1]] == [hidden] * (layers - 1)
