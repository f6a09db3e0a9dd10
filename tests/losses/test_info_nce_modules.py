"""Temperature, InfoNCELoss, SupervisedInfoNCELoss and MultipleNegativesRankingLoss modules."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.functional.info_nce import info_nce, supervised_info_nce
from contrastkit.functional.mnr import multiple_negatives_ranking_loss
from contrastkit.losses.info_nce import InfoNCELoss, SupervisedInfoNCELoss
from contrastkit.losses.mnr import MultipleNegativesRankingLoss
from contrastkit.losses.temperature import Temperature


def _ap(gen: torch.Generator, b: int = 6, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)


def test_temperature_value_clamp_and_state() -> None:
    t = Temperature(0.1, min_value=0.05, max_value=0.5)
    assert t().item() == pytest.approx(0.1) and t.scale.item() == pytest.approx(10.0)
    assert [n for n, _ in t.named_parameters()] == ["log_temperature"]
    with torch.no_grad():
        t.log_temperature.fill_(math.log(5.0))
    value = t()
    assert value.item() == pytest.approx(0.5)  # clamped in forward
    value.backward()
    assert t.log_temperature.grad is not None and t.log_temperature.grad.item() == 0.0
    t.clamp_()
    assert t.log_temperature.item() == pytest.approx(math.log(0.5))
    u = Temperature(0.2, min_value=0.05, max_value=0.5)
    u.load_state_dict(t.state_dict())
    assert u().item() == pytest.approx(0.5)
    fixed = Temperature(0.3, learnable=False)
    assert list(fixed.parameters()) == [] and "log_temperature" in fixed.state_dict()
    assert not fixed().requires_grad


def test_temperature_bad_arguments() -> None:
    with pytest.raises(ValueError, match="init"):
        Temperature(0.0)
    with pytest.raises(ValueError, match="init"):
        Temperature(2.0)  # outside the default [0.01, 1]
    with pytest.raises(ValueError, match="max_value"):
        Temperature(0.1, min_value=0.5, max_value=0.2)
    with pytest.raises(ValueError, match="min_value"):
        Temperature(0.1, min_value=-1.0)


def test_info_nce_module_matches_functional(gen: torch.Generator) -> None:
    a, p = _ap(gen)
    n = torch.randn(6, 3, 5, generator=gen)
    keep = torch.rand(6, 3, generator=gen) > 0.3
    w = torch.rand(6, generator=gen)
    loss = InfoNCELoss(0.2, distance="dot", reduction="sum")
    want = info_nce(
        a, p, n, negative_mask=keep, temperature=0.2, distance="dot", reduction="sum", weight=w
    )
    torch.testing.assert_close(loss(a, p, n, negative_mask=keep, weight=w), want)
    sym = InfoNCELoss(0.2, symmetric=True)
    torch.testing.assert_close(sym(a, p), info_nce(a, p, temperature=0.2, symmetric=True))


def test_learnable_temperature_trains(gen: torch.Generator) -> None:
    a, p = _ap(gen)
    loss = InfoNCELoss(0.5, learnable_temperature=True)
    assert isinstance(loss.temperature, Temperature)
    params = dict(loss.named_parameters())
    assert list(params) == ["temperature.log_temperature"]
    loss(a, p).backward()
    assert params["temperature.log_temperature"].grad is not None
    state = loss.state_dict()
    other = InfoNCELoss(0.5, learnable_temperature=True)
    other.load_state_dict(state)
    torch.testing.assert_close(other(a, p), loss(a, p))
    # an explicit Temperature is used as is; a large fixed value widens the bounds
    shared = Temperature(0.07)
    assert InfoNCELoss(shared).temperature is shared
    assert InfoNCELoss(3.0, learnable_temperature=True).temperature().item() == pytest.approx(3.0)


@pytest.mark.parametrize("symmetric", [False, True])
def test_tiled_module_matches_plain(symmetric: bool, gen: torch.Generator) -> None:
    a, p = _ap(gen, b=40, d=8)
    plain = InfoNCELoss(0.1, symmetric=symmetric)(a, p)
    tiled = InfoNCELoss(0.1, symmetric=symmetric, tiled=True, tile_size=16)(a, p)
    torch.testing.assert_close(tiled, plain, atol=1e-5, rtol=1e-5)
    # explicit negatives have no B x B matrix, so the tiled module uses the plain path
    n = torch.randn(40, 2, 8, generator=gen)
    torch.testing.assert_close(
        InfoNCELoss(0.1, tiled=True)(a, p, n), info_nce(a, p, n, temperature=0.1)
    )
    with pytest.raises(ValueError, match="false_negative_mask"):
        InfoNCELoss(tiled=True)(a, p, false_negative_mask=torch.zeros(40, 40, dtype=torch.bool))


def test_module_bad_arguments() -> None:
    with pytest.raises(ValueError, match="temperature"):
        InfoNCELoss(0.0)
    with pytest.raises(ValueError, match="reduction"):
        InfoNCELoss(reduction="mean_of_means")
    with pytest.raises(ValueError, match="distance"):
        SupervisedInfoNCELoss(distance="hamming")
    with pytest.raises(ValueError, match="scale"):
        MultipleNegativesRankingLoss(scale=-20.0)


def test_supervised_module(gen: torch.Generator) -> None:
    z = torch.randn(8, 4, generator=gen)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    loss = SupervisedInfoNCELoss(0.3, reduction="none")
    torch.testing.assert_close(
        loss(z, y), supervised_info_nce(z, labels=y, temperature=0.3, reduction="none")
    )
    k = torch.randn(5, 4, generator=gen)
    mask = torch.rand(8, 5, generator=gen) > 0.5
    torch.testing.assert_close(
        loss(z, keys=k, positive_mask=mask),
        supervised_info_nce(z, k, positive_mask=mask, temperature=0.3, reduction="none"),
    )


@pytest.mark.parametrize("symmetric", [False, True])
def test_mnr_module(symmetric: bool, gen: torch.Generator) -> None:
    a, p = _ap(gen, b=12, d=6)
    n = torch.randn(12, 2, 6, generator=gen)
    loss = MultipleNegativesRankingLoss(symmetric=symmetric)
    want = multiple_negatives_ranking_loss(a, p, n, symmetric=symmetric)
    torch.testing.assert_close(loss(a, p, n), want)
    tiled = MultipleNegativesRankingLoss(symmetric=symmetric, tiled=True, tile_size=5)
    torch.testing.assert_close(tiled(a, p, n), want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="false_negative_mask"):
        tiled(a, p, false_negative_mask=torch.zeros(12, 12, dtype=torch.bool))


@pytest.mark.peers
def test_modules_match_peers(gen: torch.Generator) -> None:
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    st = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    z = torch.randn(12, 8, generator=gen)
    y = torch.arange(12) // 3
    torch.testing.assert_close(
        SupervisedInfoNCELoss(0.1)(z, y),
        pml.NTXentLoss(temperature=0.1)(z, y),
        atol=1e-5,
        rtol=1e-5,
    )
    a, p = _ap(gen, b=10, d=8)
    n = torch.randn(10, 8, generator=gen)
    peer = st.MultipleNegativesRankingLoss(torch.nn.Identity(), scale=20.0)
    want = peer.compute_loss_from_embeddings([a, p, n], None)
    torch.testing.assert_close(
        MultipleNegativesRankingLoss(20.0)(a, p, n), want, atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(
        MultipleNegativesRankingLoss(20.0, tiled=True, tile_size=4)(a, p, n),
        want,
        atol=1e-5,
        rtol=1e-5,
    )


@pytest.mark.parametrize("module", [InfoNCELoss, MultipleNegativesRankingLoss])
def test_modules_check_their_tiling_options(module: type) -> None:
    assert module(tiled=True, tile_size=8).tile_size == 8
    assert module(tiled=True, memory_budget=2**20).memory_budget == 2**20
    with pytest.raises(ValueError, match="tile_size"):
        module(tiled=True, tile_size=0)
    with pytest.raises(ValueError, match="memory_budget"):
        module(tiled=True, memory_budget=-1)
    with pytest.raises(ValueError, match="at most one of tile_size and memory_budget"):
        module(tiled=True, tile_size=8, memory_budget=2**20)
