"""Row-level Fisher: the mean of per-relation squared gradients, equal to a
batch-of-one loop; EWC over a row-level Fisher and a grown table."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch.func import functional_call

from contrastkit.continual.edge_loss import relation_block_loss
from contrastkit.continual.growable import GrowableTable
from contrastkit.continual.row_fisher import row_fisher
from contrastkit.functional.distances import get_distance
from contrastkit.losses.ewc import EWC


@pytest.mark.parametrize("distance", ["cosine", "dot", "sqeuclidean"])
def test_row_fisher_equals_batch_of_one_loop(distance: str) -> None:
    gen = torch.Generator().manual_seed(0)
    n, d = 12, 5
    w = torch.randn(n, d, generator=gen, dtype=torch.float64)
    rows = torch.randint(0, n, (9, 6), generator=gen)
    rows[0, 3] = rows[0, 1]  # a negative equal to the positive: one row, summed slots
    loss = partial(relation_block_loss, distance=get_distance(distance), temperature=0.3)
    got = row_fisher(w, rows, loss)
    ref = torch.zeros(n, dtype=torch.float64)
    for i in range(rows.shape[0]):
        p = w.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(p[rows[i]]), p)
        ref += g.square().sum(1) / d
    ref /= rows.shape[0]
    torch.testing.assert_close(got, ref)
    # the square of the mean gradient (the common mistake) is a different number
    p = w.clone().requires_grad_(True)
    (gm,) = torch.autograd.grad(loss(p[rows]).mean(), p)
    assert not torch.allclose(gm.square().sum(1) / d, ref)


def test_ewc_penalty_zero_at_anchor_and_gradcheck() -> None:
    gen = torch.Generator().manual_seed(1)
    table = GrowableTable(6, 3, generator=gen)
    table.weight.data = table.weight.data.double()
    ewc = EWC(2.0)
    fisher = torch.rand(6, generator=gen, dtype=torch.float64)
    ewc.add_task({"weight": fisher}, {"weight": table.weight.detach().clone()})
    assert float(ewc.penalty(table).detach()) == 0.0
    table.grow(4, torch.tensor([[6, 7], [0, 1]]), generator=gen)  # rows added since
    table.weight.data = table.weight.data.double()
    assert float(ewc.penalty(table).detach()) == 0.0  # new rows are free, old ones at the anchor
    anchor = ewc.state_dict()["anchors"][0]["weight"]

    def penalty(w: torch.Tensor) -> torch.Tensor:
        return (fisher * (w[:6] - anchor).square().sum(1)).sum() * 1.0

    x = table.weight.detach() + 0.1 * torch.randn(10, 3, generator=gen, dtype=torch.float64)
    table.weight.data = x.clone()
    torch.testing.assert_close(ewc.penalty(table), penalty(x))

    # gradcheck of the penalty as a function of the table's rows, float64
    def at(w: torch.Tensor) -> torch.Tensor:
        # EWC reads the named parameters: functional_call swaps the checked input in
        return functional_call(_Penalty(ewc, table), {"table.weight": w}, ())

    assert torch.autograd.gradcheck(at, (x.clone().requires_grad_(True),))


class _Penalty(torch.nn.Module):
    def __init__(self, ewc: EWC, table: GrowableTable) -> None:
        super().__init__()
        self.ewc, self.table = ewc, table

    def forward(self) -> torch.Tensor:
        return self.ewc.penalty(self.table)


def test_online_fisher_accumulates_over_growth() -> None:
    ewc = EWC(1.0, gamma=0.5)
    w1 = torch.zeros(3, 2)
    ewc.add_task({"weight": torch.tensor([1.0, 2.0, 3.0])}, {"weight": w1})
    w2 = torch.ones(5, 2)
    ewc.add_task({"weight": torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0])}, {"weight": w2})
    state = ewc.state_dict()
    assert len(state["fishers"]) == 1  # online: one Fisher, one anchor
    torch.testing.assert_close(
        state["fishers"][0]["weight"], torch.tensor([1.5, 2.0, 2.5, 1.0, 1.0])
    )
    assert torch.equal(state["anchors"][0]["weight"], w2)
    with pytest.raises(ValueError, match="shape"):
        ewc.add_task({"weight": torch.ones(5, 3)}, {"weight": torch.ones(5, 2)})
