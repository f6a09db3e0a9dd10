"""Cached (gradient-caching) MNR on a tiny BERT: the gradients of the uncached loss.

float64 and dropout on: the cached step's gradients equal those of the same loss
back-propagated through one graph over the same chunks and the same dropout draws —
the chunks' second passes must replay the first passes' dropout masks (the RNG state
is restored per chunk), else they differ. Dropout off, they equal one plain pass
over the whole batch (padding differs per chunk; masked out).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("sentence_transformers")

from contrastkit.functional.distances import get_distance
from contrastkit.losses.combine import FixedWeighting
from contrastkit.models.text import TextEncoder
from contrastkit.objectives.batch import Batch
from contrastkit.objectives.matryoshka import MatryoshkaObjective
from contrastkit.objectives.registry import ObjectiveContext, build_objectives, parse_objectives
from contrastkit.train import grad_cache
from contrastkit.train.step import AutogradStep
from contrastkit.train.text_encoder import TextItemEncoder
from tests.text_tiny import A, B, C, D, all_texts, tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny"), dropout=0.1, dim=16)


def _encoder(model_dir: Path, texts: list[str]) -> TextItemEncoder:
    enc = TextItemEncoder(TextEncoder(model_dir), texts)
    return enc.double()


def _batch(b: int, k: int, n: int, seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    u, v = perm[:b], perm[b : 2 * b]
    negatives = torch.randint(0, n, (b, k), generator=g)
    mask = torch.ones(b, k, dtype=torch.bool)
    mask[0, 0] = False
    return Batch.from_ids(u, v, negatives, mask, 0.05)


def _grads(encoder: nn.Module, objectives: nn.ModuleDict, batch: Batch, chunk_size: int, seed: int):
    weights = {name: 1.0 for name in objectives}
    step = AutogradStep(
        encoder,  # type: ignore[arg-type]
        objectives,
        FixedWeighting(weights),
        torch.optim.SGD(encoder.parameters(), lr=0.0),
        grad_cache_chunk_size=chunk_size,
    )
    torch.manual_seed(seed)  # the same dropout stream for both runs
    out = step.compute(batch)
    # parameters outside the graph (BERT's pooler under mean pooling) have no gradient
    grads = [
        torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in encoder.parameters()
    ]
    assert any(bool(g.abs().sum() > 0) for g in grads)
    return out.combined.total.detach(), grads


def _reference(encoder: nn.Module, objectives: nn.ModuleDict, batch: Batch, size: int, seed: int):
    """The loss through one autograd graph over ``size``-item chunks (same draws)."""
    encoder.train()
    encoder.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    z = torch.cat([encoder(c) for c in batch.items.split(size)])
    loss = sum(obj(batch.with_z(z)) for obj in objectives.values())
    loss.backward()
    grads = [
        torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in encoder.parameters()
    ]
    return loss.detach(), grads


def _objectives(spec: dict, dim: int) -> nn.ModuleDict:
    ctx = ObjectiveContext(distance=get_distance("cosine"), dim=dim, num_items=1)
    return build_objectives(parse_objectives(spec), ctx)


@pytest.mark.parametrize(
    "spec",
    [
        {"mnr": {"weight": 1.0}},
        {"mnr": {"weight": 1.0, "symmetric": True}},
        {"infonce": {"weight": 1.0, "in_batch": True, "symmetric": True}},
        {"triplet": {"weight": 1.0, "adaptive_margin": True}},
    ],
)
def test_cached_step_has_the_uncached_gradients(model_dir: Path, spec: dict) -> None:
    texts = all_texts()
    encoder = _encoder(model_dir, texts)
    batch = _batch(12, 2, len(texts), seed=0)
    objectives = _objectives(spec, 16)
    plain_loss, plain = _reference(encoder, objectives, batch, 5, seed=3)
    cached_loss, cached = _grads(encoder, objectives, batch, 5, seed=3)
    torch.testing.assert_close(cached_loss, plain_loss, rtol=1e-12, atol=1e-12)
    for a, b in zip(cached, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_dropout_is_on_and_replay_matters(model_dir: Path, monkeypatch) -> None:
    texts = all_texts()
    encoder = _encoder(model_dir, texts)
    encoder.train()
    ids = torch.arange(6)
    assert not torch.allclose(encoder(ids), encoder(ids))  # dropout draws differ
    batch = _batch(12, 1, len(texts), seed=1)
    objectives = _objectives({"mnr": 1.0}, 16)
    _, plain = _reference(encoder, objectives, batch, 5, seed=4)
    monkeypatch.setattr(grad_cache.RandState, "restore", lambda self: None)
    _, unreplayed = _grads(encoder, objectives, batch, 5, seed=4)
    worst = max(float((a - b).abs().max()) for a, b in zip(unreplayed, plain, strict=True))
    assert worst > 1e-6  # without the replay the cached gradients are wrong


def test_matryoshka_cached_equals_uncached_and_sums_the_widths(model_dir: Path) -> None:
    texts = all_texts()
    encoder = _encoder(model_dir, texts)
    batch = _batch(10, 1, len(texts), seed=2)
    inner = _objectives({"mnr": 1.0}, 16)["mnr"]
    wrapped = nn.ModuleDict({"mnr": MatryoshkaObjective(inner, [16, 8, 4], [1.0, 0.5, 0.25])})
    plain_loss, plain = _reference(encoder, wrapped, batch, 4, seed=5)
    cached_loss, cached = _grads(encoder, wrapped, batch, 4, seed=5)
    torch.testing.assert_close(cached_loss, plain_loss, rtol=1e-12, atol=1e-12)
    for a, b in zip(cached, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    z = torch.randn(batch.items.numel(), 16, dtype=torch.float64)
    full = batch.with_z(z)
    expected = sum(w * inner(batch.with_z(z[:, :d])) for d, w in [(16, 1.0), (8, 0.5), (4, 0.25)])
    torch.testing.assert_close(wrapped["mnr"](full), expected)


@pytest.fixture(scope="module")
def no_dropout_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny0"), dropout=0.0, dim=16)


def test_cached_mnr_at_batch_1024_has_the_plain_gradients(no_dropout_dir: Path) -> None:
    # the acceptance case: a batch of 1024 pairs in chunks of 64 texts against one
    # plain full-batch pass (dropout off: a single pass draws other masks than chunks)
    texts = [f"{a} {b} {c} {d}" for a in A for b in B for c in C for d in D][::2]  # 2048
    encoder = TextItemEncoder(TextEncoder(no_dropout_dir), texts).double()
    perm = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0))
    u, v = perm[:1024], perm[1024:]
    batch = Batch.from_ids(
        u, v, torch.empty(1024, 0, dtype=torch.long), torch.empty(1024, 0, dtype=torch.bool), 0.05
    )
    assert batch.items.numel() == 2048
    objectives = _objectives({"mnr": 1.0}, 16)
    plain_loss, plain = _grads(encoder, objectives, batch, 0, seed=6)
    cached_loss, cached = _grads(encoder, objectives, batch, 64, seed=6)
    torch.testing.assert_close(cached_loss, plain_loss, rtol=1e-12, atol=1e-12)
    for a, b in zip(cached, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)
