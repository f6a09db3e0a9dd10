"""``optim.weight_decay`` acts under ``optim.name: radagrad``: row-wise Adagrad decays
as torch's Adagrad does (``g + lambda x`` before the step). It used to ignore the
setting: :class:`RowAdagrad` never read its groups' ``weight_decay``.

(Found by scripts/config_settings.py's audit: the setting's only tests were of
torch's optimisers.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.optim.row_adagrad import RowAdagrad
from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_config


def test_on_a_vector_it_is_torchs_adagrad_with_weight_decay() -> None:
    gen = torch.Generator().manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(6, generator=gen, dtype=torch.float64))
    ref = torch.nn.Parameter(ours.detach().clone())
    opt = RowAdagrad([ours], lr=0.3, weight_decay=0.2)
    peer = torch.optim.Adagrad([ref], lr=0.3, eps=1e-10, weight_decay=0.2)
    for _ in range(4):
        g = torch.randn(6, generator=gen, dtype=torch.float64)
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        peer.step()
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-12, atol=1e-12)


def test_rows_follow_the_decayed_formula() -> None:
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    g = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    w = torch.nn.Parameter(x0.clone())
    opt = RowAdagrad([{"params": [w], "weight_decay": 0.5}], lr=0.1)  # a group's wins
    w.grad = g.clone()
    opt.step()
    d = g + 0.5 * x0
    total = (d * d).mean(1, keepdim=True)
    torch.testing.assert_close(w.detach(), x0 - 0.1 * d / (total.sqrt() + 1e-10))


def test_sparse_gradients_refuse_weight_decay() -> None:
    w = torch.nn.Parameter(torch.ones(3, 2))
    opt = RowAdagrad([w], lr=0.1, weight_decay=0.1)
    w.grad = torch.sparse_coo_tensor(
        torch.tensor([[0]]), torch.ones(1, 2), (3, 2), check_invariants=True
    )
    with pytest.raises(ValueError, match="weight_decay"):
        opt.step()


def _one_step(tmp_path: Path, decay: float) -> dict[str, torch.Tensor]:
    config = karate_mlp_config(tmp_path, "optim.name=radagrad", f"optim.weight_decay={decay}")
    trainer = Trainer(config)
    trainer.train_step(torch.arange(64))
    return {k: v.detach().clone() for k, v in trainer.encoder.named_parameters()}


def test_the_config_decays_the_radagrad_runs_weights_not_its_biases(tmp_path: Path) -> None:
    plain, decayed = _one_step(tmp_path / "a", 0.0), _one_step(tmp_path / "b", 5.0)
    weights = [k for k in plain if k.endswith("weight")]
    biases = [k for k in plain if k.endswith("bias")]
    assert weights and biases
    for k in weights:  # the same start, batch and negatives: only the decay differs
        assert not torch.allclose(plain[k], decayed[k])
    for k in biases:  # parameter_groups keeps biases out of weight decay
        torch.testing.assert_close(plain[k], decayed[k])
