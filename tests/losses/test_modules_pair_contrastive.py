"""Local / multi-hop contrastive modules."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.pair_contrastive import (
    local_contrastive_loss,
    multi_hop_contrastive_loss,
)
from contrastkit.losses.pair_contrastive import LocalContrastiveLoss, MultiHopContrastiveLoss


def test_modules_match_functional(gen):
    z = torch.randn(6, 3, generator=gen)
    ei = torch.randint(0, 6, (2, 8), generator=gen)
    similar = torch.rand(8, generator=gen) > 0.5
    w = torch.rand(8, generator=gen)
    mod = LocalContrastiveLoss(margin=2.0, distance="sqeuclidean", reduction="sum")
    want = local_contrastive_loss(
        z, ei, similar, margin=2.0, distance="sqeuclidean", reduction="sum", weight=w
    )
    torch.testing.assert_close(mod(z, ei, similar, weight=w), want)
    hops = [ei[:, :4], ei[:, 4:]]
    neg = torch.randint(0, 6, (2, 3), generator=gen)
    mod = MultiHopContrastiveLoss([1.0, 0.3], negative_weight=0.5, margin=1.5, normalize=True)
    want = multi_hop_contrastive_loss(
        z,
        hops,
        hop_weights=[1.0, 0.3],
        negative_edge_index=neg,
        negative_weight=0.5,
        margin=1.5,
        normalize=True,
    )
    torch.testing.assert_close(mod(z, hops, negative_edge_index=neg), want)
    hop = torch.tensor([1, 1, 1, 1, 2, 2, 2, 2])
    torch.testing.assert_close(
        MultiHopContrastiveLoss()(z, ei, hop), multi_hop_contrastive_loss(z, ei, hop)
    )


def test_bad_hyper_parameters_fail_at_construction():
    with pytest.raises(ValueError, match="margin"):
        LocalContrastiveLoss(margin=-1.0)
    with pytest.raises(ValueError, match="distance"):
        LocalContrastiveLoss(distance="cosine")
    with pytest.raises(ValueError, match="distance"):
        MultiHopContrastiveLoss(distance="dot")
    with pytest.raises(ValueError, match="hop_weights"):
        MultiHopContrastiveLoss([1.0, -0.5])
    with pytest.raises(ValueError, match="negative_weight"):
        MultiHopContrastiveLoss(negative_weight=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        MultiHopContrastiveLoss(reduction="mode")
    with pytest.raises(ValueError, match="edge_index"):
        LocalContrastiveLoss()(torch.randn(3, 2), torch.tensor([[0], [3]]))
