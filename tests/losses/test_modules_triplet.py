"""Triplet loss modules: same values as the functional forms, validation at construction."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.triplet import triplet_margin_loss
from contrastkit.functional.triplet_batch import batch_all_triplet_loss, per_anchor_triplet_loss
from contrastkit.losses.triplet import (
    BatchAllTripletLoss,
    PerAnchorTripletLoss,
    TripletMarginLoss,
)


def test_modules_match_functional(gen):
    a, p = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    n = torch.randn(6, 3, 4, generator=gen)
    mask = torch.rand(6, 3, generator=gen) > 0.3
    w = torch.rand(6, generator=gen)
    kw = {"margin": 0.3, "distance": "sqeuclidean", "adaptive_margin": True}
    mod = TripletMarginLoss(negative_reduction="max", reduction="none", **kw)
    want = triplet_margin_loss(
        a, p, n, negative_mask=mask, negative_reduction="max", reduction="none", weight=w, **kw
    )
    torch.testing.assert_close(mod(a, p, n, negative_mask=mask, weight=w), want)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    mod = PerAnchorTripletLoss(positives="all", hard_negative_penalty=True, **kw)
    want = per_anchor_triplet_loss(a, labels, positives="all", hard_negative_penalty=True, **kw)
    torch.testing.assert_close(mod(a, labels), want)
    mod = BatchAllTripletLoss(average="all", **kw)
    torch.testing.assert_close(
        mod(a, labels, weight=w), batch_all_triplet_loss(a, labels, average="all", weight=w, **kw)
    )


def test_margin_can_be_rescheduled(gen):
    a, p, n = (torch.randn(4, 3, generator=gen) for _ in range(3))
    mod = TripletMarginLoss(margin=0.0, distance="sqeuclidean")
    before = mod(a, p, n)
    mod.margin = 5.0
    assert mod(a, p, n) > before
    assert "margin=5.0" in repr(mod)


def test_backward_reaches_embeddings(gen):
    x = torch.randn(8, 4, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    for mod in [PerAnchorTripletLoss(margin=1.0), BatchAllTripletLoss(margin=1.0)]:
        mod(x, labels).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        x.grad = None


def test_bad_hyper_parameters_fail_at_construction():
    for cls in [TripletMarginLoss, PerAnchorTripletLoss, BatchAllTripletLoss]:
        with pytest.raises(ValueError, match="margin"):
            cls(margin=-0.5)
        with pytest.raises(ValueError, match="reduction"):
            cls(reduction="avg")
        with pytest.raises(ValueError, match="distance"):
            cls(distance="hamming")
        with pytest.raises(ValueError, match="penalty_weight"):
            cls(penalty_weight=-1.0)
    with pytest.raises(ValueError, match="negative_reduction"):
        TripletMarginLoss(negative_reduction="min")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positives"):
        PerAnchorTripletLoss(positives="semi-hard")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="average"):
        BatchAllTripletLoss(average="median")  # type: ignore[arg-type]
