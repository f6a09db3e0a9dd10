"""Growable table: old rows and optimiser state bit-identical, new rows at the known
neighbours' mean."""

from __future__ import annotations

import pytest
import torch

from contrastkit.continual.growable import GrowableTable, neighbour_mean_init


@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd"])
def test_growth_keeps_old_rows_and_optimizer_state(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    grown = GrowableTable(5, 3, generator=gen)
    plain = GrowableTable(5, 3, generator=torch.Generator().manual_seed(0))
    make = {
        "adam": lambda p: torch.optim.Adam(p, lr=0.1),
        "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1),
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    }[name]
    opt_g, opt_p = make(grown.parameters()), make(plain.parameters())
    target = torch.randn(5, 3, generator=gen)
    for _ in range(3):
        for table, opt in ((grown, opt_g), (plain, opt_p)):
            opt.zero_grad()
            (table(torch.arange(5)) - target).square().sum().backward()
            opt.step()
    before = grown.weight.detach().clone()
    state_before = {
        k: v.clone() for k, v in opt_g.state[grown.weight].items() if torch.is_tensor(v)
    }
    grown.grow(4, torch.tensor([[5, 6], [0, 1]]), generator=gen, optimizer=opt_g)
    assert grown.num_embeddings == 9
    assert torch.equal(grown.weight[:5].detach(), before)  # bit-identical
    state = opt_g.state[grown.weight]
    for key, value in state_before.items():
        if value.dim():
            assert torch.equal(state[key][:5], value) and not state[key][5:].any()
        else:
            assert torch.equal(state[key], value)
    # the old rows' next step is the one the ungrown table takes (new rows get no gradient)
    for table, opt in ((grown, opt_g), (plain, opt_p)):
        opt.zero_grad()
        (table(torch.arange(5)) - target).square().sum().backward()
        opt.step()
    assert torch.equal(grown.weight[:5].detach(), plain.weight.detach())


def test_new_rows_start_at_known_neighbour_mean() -> None:
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    # new 3 knows 0 and 1; new 4 knows 2 (the edge written either way); new 5 knows none
    edges = torch.tensor([[3, 1, 4, 5], [0, 3, 2, 3]])
    rows = neighbour_mean_init(w, 3, edges, init_scale=1e-6, generator=torch.Generator())
    torch.testing.assert_close(rows[0], torch.tensor([0.5, 0.5]), atol=1e-5, rtol=0)
    torch.testing.assert_close(rows[1], torch.tensor([3.0, 3.0]), atol=1e-5, rtol=0)
    assert rows[2].abs().max() <= 1e-6  # no known neighbour: a fresh row


def test_checkpoint_of_a_grown_table_loads() -> None:
    gen = torch.Generator().manual_seed(0)
    table = GrowableTable(2, 4, generator=gen)
    table.grow(3, torch.tensor([[2], [0]]), generator=gen)
    fresh = GrowableTable(0, 4, generator=gen)
    fresh.load_state_dict(table.state_dict())
    assert torch.equal(fresh.weight, table.weight)
