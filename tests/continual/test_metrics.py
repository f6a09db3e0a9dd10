"""ACC / BWT / FWT / forgetting against hand-computed values (Chaudhry et al. 2018)."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.continual.metrics import forgetting_metrics

R = torch.tensor(
    [
        [0.8, 0.1, 0.2],
        [0.6, 0.7, 0.3],
        [0.5, 0.4, 0.9],
    ]
)
B = torch.tensor([0.1, 0.2, 0.1])


def test_hand_computed() -> None:
    m = forgetting_metrics(R, B)
    # ACC: mean of the last row
    assert m["acc"] == pytest.approx((0.5 + 0.4 + 0.9) / 3)
    # BWT: ((0.5 - 0.8) + (0.4 - 0.7)) / 2
    assert m["bwt"] == pytest.approx(-0.3)
    # FWT: ((R[0,1] - b1) + (R[1,2] - b2)) / 2 = ((0.1 - 0.2) + (0.3 - 0.1)) / 2
    assert m["fwt"] == pytest.approx(0.05)
    # forgetting: task 0 max(0.8, 0.6) - 0.5 = 0.3; task 1 max(0.1, 0.7) - 0.4 = 0.3
    assert m["forgetting"] == pytest.approx(0.3)


def test_improvement_is_positive_transfer_and_single_task() -> None:
    r = torch.tensor([[0.5, 0.0], [0.7, 0.6]])
    m = forgetting_metrics(r)
    assert m["bwt"] == pytest.approx(0.2) and m["forgetting"] == pytest.approx(-0.2)
    assert math.isnan(m["fwt"])  # no baseline
    one = forgetting_metrics(torch.tensor([[0.4]]))
    assert one["acc"] == pytest.approx(0.4) and math.isnan(one["bwt"])
    with pytest.raises(ValueError, match="square"):
        forgetting_metrics(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="baseline"):
        forgetting_metrics(R, torch.zeros(2))
