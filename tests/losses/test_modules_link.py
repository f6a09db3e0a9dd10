"""Link / adjacency modules: functional equivalence, learnable temperature and bias, and the
sampling generator's state in state_dict()."""

from __future__ import annotations

import io

import pytest
import torch

from contrastkit.functional.link import (
    dense_adjacency_reconstruction_loss,
    link_prediction_loss,
    sparse_adjacency_reconstruction_loss,
)
from contrastkit.losses.link import (
    DenseAdjacencyReconstructionLoss,
    LinkPredictionLoss,
    SparseAdjacencyReconstructionLoss,
)
from contrastkit.losses.temperature import Temperature


def _graph(gen, n=8):
    z = torch.randn(n, 4, generator=gen)
    pos = torch.randint(0, n, (2, 10), generator=gen)
    neg = torch.randint(0, n, (2, 7), generator=gen)
    return z, pos, neg


def test_modules_match_functional(gen):
    z, pos, neg = _graph(gen)
    mod = LinkPredictionLoss("cosine", temperature=0.2, bias=0.1)
    want = link_prediction_loss(z, pos, neg, distance="cosine", temperature=0.2, bias=0.1)
    torch.testing.assert_close(mod(z, pos, neg), want)
    mod = DenseAdjacencyReconstructionLoss("auto", include_diagonal=False)
    want = dense_adjacency_reconstruction_loss(
        z, edge_index=pos, pos_weight="auto", include_diagonal=False
    )
    torch.testing.assert_close(mod(z, edge_index=pos), want)
    mod = SparseAdjacencyReconstructionLoss(reduction="sum")
    want = sparse_adjacency_reconstruction_loss(z, pos, neg, reduction="sum")
    torch.testing.assert_close(mod(z, pos, neg), want)


def test_learnable_temperature_and_bias_train(gen):
    z, pos, neg = _graph(gen)
    mod = LinkPredictionLoss(
        "cosine", temperature=0.5, learnable_temperature=True, learnable_bias=True
    )
    names = {name for name, _ in mod.named_parameters()}
    assert names == {"bias", "temperature.log_temperature"}
    mod(z, pos, neg).backward()
    assert all(p.grad is not None and p.grad != 0 for p in mod.parameters())
    shared = Temperature(0.1)
    assert LinkPredictionLoss(temperature=shared).temperature is shared
    fixed = LinkPredictionLoss()
    assert list(fixed.parameters()) == [] and "temperature=1.0" in repr(fixed)


def test_fermi_dirac_decoder(gen):
    """A distance with bias r/t is sigma((r - d)/t)."""
    z, pos, neg = _graph(gen)
    mod = LinkPredictionLoss("euclidean", temperature=0.5, bias=2.0 / 0.5, reduction="none")
    d = (z[pos[0]] - z[pos[1]]).norm(dim=1)
    want = -torch.log(torch.sigmoid((2.0 - d) / 0.5))
    torch.testing.assert_close(mod(z, pos, neg)[:10], want)


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_sampling_generator_state_survives_restart(gen):
    z, pos, _ = _graph(gen)
    mod = SparseAdjacencyReconstructionLoss(num_neg_samples=6, seed=11, reduction="none")
    mod(z, pos)
    state = _roundtrip(mod.state_dict())
    expected = mod(z, pos)
    fresh = SparseAdjacencyReconstructionLoss(num_neg_samples=6, reduction="none")
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(z, pos), expected)
    # an explicit generator overrides the module's own
    a = mod(z, pos, generator=torch.Generator().manual_seed(1))
    b = fresh(z, pos, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="temperature"):
        LinkPredictionLoss(temperature=0.0)
    with pytest.raises(ValueError, match="distance"):
        LinkPredictionLoss("chebyshev")
    with pytest.raises(TypeError, match="bias"):
        LinkPredictionLoss(bias="zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pos_weight"):
        DenseAdjacencyReconstructionLoss(-1.0)
    with pytest.raises(ValueError, match="num_neg_samples"):
        SparseAdjacencyReconstructionLoss(-3)
    with pytest.raises(ValueError, match="seed"):
        SparseAdjacencyReconstructionLoss(seed=-1)
    with pytest.raises(ValueError, match="generator"):
        SparseAdjacencyReconstructionLoss()(torch.randn(3, 2), torch.tensor([[0], [1]]))
