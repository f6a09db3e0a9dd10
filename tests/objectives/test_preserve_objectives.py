"""``objectives.l2sp`` and ``objectives.distill``: penalties that keep a fine-tuned
encoder near its start — exact values and gradients, a resumed anchor, no Matryoshka
repetition, and their effect through the trainer (a run moves less with them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from contrastkit.functional.distances import get_distance
from contrastkit.objectives import ObjectiveContext, build_objectives, parse_objectives
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.entries_contrastive import MNRObjective
from contrastkit.objectives.entries_preserve import DistillObjective, L2SPObjective
from contrastkit.objectives.matryoshka import MatryoshkaObjective, wrap_matryoshka
from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError


class TableEncoder(nn.Module):
    """A learnable ``[N, d]`` table with ``embed_all`` (what ``distill`` reads)."""

    def __init__(self, n: int = 6, d: int = 4) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(n, d, dtype=torch.float64))
        self.frozen = nn.Parameter(torch.ones(2, dtype=torch.float64), requires_grad=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]

    def embed_all(self) -> torch.Tensor:
        return self.table.detach()


def _ctx(encoder: nn.Module) -> ObjectiveContext:
    return ObjectiveContext(distance=get_distance("cosine"), dim=4, num_items=6, encoder=encoder)


def _batch(encoder: TableEncoder) -> Batch:
    u, v = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 3])
    batch = Batch.from_ids(u, v, torch.empty(3, 0, dtype=torch.long), torch.empty(3, 0).bool(), 1.0)
    return batch.with_z(encoder(batch.items))


def test_l2sp_is_zero_at_the_start_and_its_gradient_is_two_lambda_delta() -> None:
    torch.manual_seed(0)
    enc = TableEncoder()
    objective = build_objectives(parse_objectives({"l2sp": 0.3}), _ctx(enc))["l2sp"]
    assert isinstance(objective, L2SPObjective)
    lam = 0.3
    loss = lam * objective(_batch(enc))  # the first call anchors w0
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert enc.table.grad is not None and float(enc.table.grad.abs().max()) == 0.0
    w0 = enc.table.detach().clone()
    with torch.no_grad():
        enc.table.add_(torch.randn_like(enc.table) * 0.1)
        enc.frozen.add_(5.0)  # not trainable: not penalised
    enc.table.grad = None
    loss = lam * objective(_batch(enc))
    loss.backward()
    delta = enc.table.detach() - w0
    torch.testing.assert_close(loss, lam * (delta**2).sum())
    torch.testing.assert_close(enc.table.grad, 2 * lam * delta)


def test_l2sp_keeps_its_anchor_through_a_saved_state() -> None:
    torch.manual_seed(1)
    enc = TableEncoder()
    first = L2SPObjective(_ctx(enc))
    first(_batch(enc))
    with torch.no_grad():
        enc.table.add_(0.2)
    resumed = L2SPObjective(_ctx(enc))
    resumed.load_state_dict(first.state_dict())  # extra state: the starting weights
    assert resumed.anchored
    torch.testing.assert_close(resumed(_batch(enc)), first(_batch(enc)))
    torch.testing.assert_close(first(_batch(enc)), torch.tensor(0.04 * 24, dtype=torch.float64))


@pytest.mark.parametrize("metric", ["mse", "cosine"])
def test_distill_against_the_starting_embeddings(metric: str) -> None:
    torch.manual_seed(2)
    enc = TableEncoder()
    specs = parse_objectives({"distill": {"weight": 1.0, "metric": metric}})
    objective = build_objectives(specs, _ctx(enc))["distill"]
    assert isinstance(objective, DistillObjective)
    loss = objective(_batch(enc))
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-12)
    assert float(enc.table.grad.abs().max()) == pytest.approx(0.0, abs=1e-12)  # type: ignore[union-attr]
    start = enc.table.detach().clone()
    with torch.no_grad():
        enc.table.add_(torch.randn_like(enc.table) * 0.3)
    batch = _batch(enc)
    z, t = enc.table.detach()[batch.items], start[batch.items]
    if metric == "mse":
        expected = ((z - t) ** 2).sum(1).mean()
    else:  # 1 - cos, by hand
        expected = (1 - (z * t).sum(1) / (z.norm(dim=1) * t.norm(dim=1))).mean()
    torch.testing.assert_close(objective(batch), expected)
    # float64 gradcheck of the loss in z
    zz = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: objective(batch.with_z(x)), (zz,))


def test_distill_rejects_a_bad_metric_and_needs_embed_all() -> None:
    with pytest.raises(ConfigError, match=r"objectives\.distill\.metric"):
        parse_objectives({"distill": {"weight": 1.0, "metric": "l1"}})
    with pytest.raises(ValueError, match="embed_all"):
        DistillObjective.__new__(DistillObjective).__init__(  # type: ignore[misc]
            parse_objectives({"distill": 1.0})["distill"].params, _ctx(nn.Linear(2, 2))
        )


def test_matryoshka_does_not_repeat_the_penalties_per_width() -> None:
    enc = TableEncoder()
    objectives = build_objectives(
        parse_objectives({"mnr": 1.0, "l2sp": 1.0, "distill": 1.0}), _ctx(enc)
    )
    wrapped = wrap_matryoshka(objectives, [4, 2], [1.0, 1.0])
    assert isinstance(wrapped["mnr"], MatryoshkaObjective)
    assert isinstance(wrapped["mnr"].inner, MNRObjective)
    assert isinstance(wrapped["l2sp"], L2SPObjective)
    assert isinstance(wrapped["distill"], DistillObjective)


KARATE = [
    "data.name=karate",
    "encoder.kind=mlp",
    "encoder.dim=8",
    "encoder.hidden=16",
    "optim.name=sgd",
    "optim.lr=0.1",
    "loop.batch_size=32",
    "loop.epochs=4",
    "loop.progress=false",
    "output.report=false",
]


def _moved(tmp_path: Path, name: str, extra: str) -> tuple[float, float]:
    """(parameter distance, mean embedding distance) of a run from its start."""
    objectives = '{"norm": {"weight": 1.0, "target": 5.0}' + extra + "}"
    trainer = Trainer(
        load_config(
            None, [*KARATE, f"output.run_dir={tmp_path / name}", f"objectives={objectives}"]
        )
    )
    w0 = torch.cat([p.detach().reshape(-1).clone() for p in trainer.encoder.parameters()])
    z0 = trainer.encoder.embed_all().detach().clone()
    trainer.fit()
    w1 = torch.cat([p.detach().reshape(-1) for p in trainer.encoder.parameters()])
    z1 = trainer.encoder.embed_all().detach()
    return float((w1 - w0).norm()), float((z1 - z0).norm(dim=1).mean())


def test_through_the_trainer_each_penalty_keeps_the_run_nearer_its_start(tmp_path: Path) -> None:
    # the norm objective pulls every embedding to norm 5 (far from the start); the
    # penalties, at a weight that dominates, hold the weights / the embeddings back
    free_w, free_z = _moved(tmp_path, "free", "")
    l2sp_w, _ = _moved(tmp_path, "l2sp", ', "l2sp": 5.0')
    _, distill_z = _moved(tmp_path, "distill", ', "distill": 5.0')
    assert free_w > 0 and free_z > 0
    assert l2sp_w < 0.5 * free_w, (l2sp_w, free_w)
    assert distill_z < 0.5 * free_z, (distill_z, free_z)
