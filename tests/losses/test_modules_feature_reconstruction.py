"""Feature reconstruction module."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.feature_reconstruction import feature_reconstruction_loss
from contrastkit.losses.feature_reconstruction import FeatureReconstructionLoss


@pytest.mark.parametrize("kind", ["mse", "bce", "ce"])
def test_module_matches_functional(kind, gen):
    pred = torch.randn(5, 4, generator=gen, requires_grad=True)
    target = (
        torch.randint(0, 4, (5,), generator=gen)
        if kind == "ce"
        else (torch.rand(5, 4, generator=gen) > 0.5).float()
    )
    mask = torch.tensor([True, False, True, True, True])
    opts = {"pos_weight": 2.0} if kind == "bce" else {}
    mod = FeatureReconstructionLoss(kind, feature_reduction="sum", **opts)
    want = feature_reconstruction_loss(
        pred, target, kind, node_mask=mask, feature_reduction="sum", **opts
    )
    got = mod(pred, target, node_mask=mask)
    torch.testing.assert_close(got, want)
    got.backward()
    assert pred.grad is not None and torch.all(pred.grad[1] == 0)


def test_bad_hyper_parameters_fail_at_construction():
    with pytest.raises(ValueError, match="kind"):
        FeatureReconstructionLoss("huber")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pos_weight"):
        FeatureReconstructionLoss("bce", pos_weight=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        FeatureReconstructionLoss("ce", label_smoothing=-0.1)
    with pytest.raises(ValueError, match="feature_reduction"):
        FeatureReconstructionLoss(feature_reduction="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        FeatureReconstructionLoss(reduction="median")
