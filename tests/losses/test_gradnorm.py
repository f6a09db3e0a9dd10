"""GradNorm (Chen et al. 2018): true gradient norms, weight update, balancing, state."""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from contrastkit.losses.combine import FixedWeighting
from contrastkit.losses.gradnorm import GradNormWeighting
from contrastkit.losses.weighting import LossWeighting


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class TwoHeads(nn.Module):
    def __init__(self, d: int = 8, h: int = 16) -> None:
        super().__init__()
        self.shared = nn.Linear(d, h)
        self.head_a = nn.Linear(h, 1)
        self.head_b = nn.Linear(h, 1)
        self.head_b.load_state_dict(self.head_a.state_dict())

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.tanh(self.shared(x))
        # The same task twice, the second on a 10x larger scale.
        return {
            "a": (self.head_a(z) - y).pow(2).mean(),
            "b": 10.0 * (self.head_b(z) - y).pow(2).mean(),
        }


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    return x, torch.tanh(x @ torch.randn(8, 1, generator=g))


def _grad_norm_ratio(model: TwoHeads, weights: list[float]) -> float:
    x, y = _data()
    losses = model.losses(x, y)
    norms = []
    for w, loss in zip(weights, losses.values(), strict=True):
        grads = torch.autograd.grad(loss, list(model.shared.parameters()), retain_graph=True)
        norms.append(w * float(torch.sqrt(sum(g.pow(2).sum() for g in grads))))
    return max(norms) / min(norms)


def _train(make: type[LossWeighting] | None, steps: int = 100) -> tuple[TwoHeads, list[float]]:
    x, y = _data()
    torch.manual_seed(1)
    model = TwoHeads()
    comb: LossWeighting
    if make is None:
        comb = FixedWeighting({"a": 1.0, "b": 1.0})
    else:
        comb = GradNormWeighting(["a", "b"], model.shared.parameters(), alpha=1.5, lr=0.05)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        out = comb(model.losses(x, y))
        opt.zero_grad()
        out.total.backward()
        opt.step()
    if isinstance(comb, GradNormWeighting):
        return model, comb.loss_weights.detach().tolist()
    return model, [1.0, 1.0]


def test_balances_gradient_norms_of_a_10x_scale_imbalance() -> None:
    torch.manual_seed(1)
    assert _grad_norm_ratio(TwoHeads(), [1.0, 1.0]) == pytest.approx(10.0, rel=1e-4)
    fixed_model, fixed_w = _train(None)
    gn_model, gn_w = _train(GradNormWeighting)
    assert _grad_norm_ratio(fixed_model, fixed_w) > 3.0  # without GradNorm: still imbalanced
    assert _grad_norm_ratio(gn_model, gn_w) < 1.5
    assert sum(gn_w) == pytest.approx(2.0) and gn_w[0] > gn_w[1] > 0


def test_weight_gradient_equals_create_graph_formulation() -> None:
    torch.manual_seed(0)
    model = TwoHeads()
    model.head_b.weight.data.mul_(3.0)  # make the two objectives differ
    x, y = _data()
    gn = GradNormWeighting(
        ["a", "b"], model.shared.parameters(), alpha=0.7, optimizer="sgd", lr=1.0
    )
    with torch.no_grad():
        gn.loss_weights.copy_(torch.tensor([1.3, 0.7]))
    gn.initial_losses.copy_(torch.tensor([2.0, 9.0]))
    gn.has_initial.fill_(True)

    # Reference: the paper's construction with a second-order graph.
    w = gn.loss_weights.detach().clone().requires_grad_(True)
    losses = model.losses(x, y)
    stacked = torch.stack(list(losses.values()))
    shared = list(model.shared.parameters())
    g_norms = []
    for i in range(2):
        grads = torch.autograd.grad(w[i] * stacked[i], shared, retain_graph=True, create_graph=True)
        g_norms.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
    g = torch.stack(g_norms)
    ratio = stacked.detach() / torch.tensor([2.0, 9.0])
    target = (g.mean() * (ratio / ratio.mean()) ** 0.7).detach()
    (ref_grad,) = torch.autograd.grad((g - target).abs().sum(), w)

    before = gn.loss_weights.detach().clone()
    # This step of lr 1 takes "b" below the floor: reported and warned about.
    assert float((before - ref_grad)[1]) <= gn.min_weight
    with pytest.warns(UserWarning, match=r"'b'.*floor"):
        gn(losses)
    assert gn.at_floor() == ["b"]
    # One SGD step with lr 1 then renormalisation to sum 2.
    stepped = (before - ref_grad).clamp_min(gn.min_weight)
    torch.testing.assert_close(gn.loss_weights.detach(), stepped * 2 / stepped.sum())
    torch.testing.assert_close(
        gn.last_grad_norms,
        g.detach() / before,
        rtol=1e-5,
        atol=1e-7,  # type: ignore[arg-type]
    )


def test_total_uses_pre_update_weights_and_eval_does_not_update() -> None:
    torch.manual_seed(0)
    model = TwoHeads()
    x, y = _data()
    gn = GradNormWeighting(["a", "b"], model.shared.parameters())
    losses = model.losses(x, y)
    out = gn(losses)
    assert float(out.total.detach()) == pytest.approx(float(sum(losses.values()).detach()))
    assert not torch.equal(gn.loss_weights.detach(), torch.ones(2))
    gn.eval()
    before = gn.loss_weights.detach().clone()
    gn(model.losses(x, y))
    with torch.no_grad():
        gn.train()
        gn(model.losses(x, y))
    assert torch.equal(gn.loss_weights.detach(), before)


def test_unused_shared_parameter_and_zero_initial_loss_are_finite() -> None:
    lin = nn.Linear(3, 3)
    unused = nn.Parameter(torch.ones(2))
    gn = GradNormWeighting(["a", "b"], [*lin.parameters(), unused])
    h = lin(torch.randn(4, 3))
    out = gn({"a": h.pow(2).mean(), "b": (h * 0).sum()})
    assert torch.isfinite(out.total) and bool(torch.isfinite(gn.loss_weights).all())
    assert float(gn.loss_weights.detach().sum()) == pytest.approx(2.0)


def test_state_dict_round_trip_mid_way_continues_identically() -> None:
    x, y = _data()
    torch.manual_seed(2)
    model_a = TwoHeads()
    gn_a = GradNormWeighting(["a", "b"], model_a.shared.parameters())
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.01)

    def step(model: TwoHeads, gn: GradNormWeighting, opt: torch.optim.Optimizer) -> float:
        out = gn(model.losses(x, y))
        opt.zero_grad()
        out.total.backward()
        opt.step()
        return float(out.total.detach())

    for _ in range(5):
        step(model_a, gn_a, opt_a)
    buf = io.BytesIO()
    torch.save(gn_a.state_dict(), buf)
    buf.seek(0)
    model_b = copy.deepcopy(model_a)
    gn_b = GradNormWeighting(["a", "b"], model_b.shared.parameters())
    gn_b.load_state_dict(torch.load(buf, weights_only=True))
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.01)
    opt_b.load_state_dict(opt_a.state_dict())
    ra = [step(model_a, gn_a, opt_a) for _ in range(5)]
    rb = [step(model_b, gn_b, opt_b) for _ in range(5)]
    assert ra == rb
    assert torch.equal(gn_a.loss_weights, gn_b.loss_weights)


def test_bad_input_names_the_argument() -> None:
    lin = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="shared_parameters"):
        GradNormWeighting(["a", "b"], [])
    with pytest.raises(ValueError, match="alpha"):
        GradNormWeighting(["a", "b"], lin.parameters(), alpha=-1.0)
    with pytest.raises(ValueError, match="lr"):
        GradNormWeighting(["a", "b"], lin.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="optimizer"):
        GradNormWeighting(["a", "b"], lin.parameters(), optimizer="lbfgs")  # type: ignore[arg-type]


def test_non_finite_losses_leave_the_weights_alone() -> None:
    lin = nn.Linear(3, 3)
    gn = GradNormWeighting(["a", "b"], lin.parameters())
    h = lin(torch.randn(4, 3))
    gn({"a": h.pow(2).mean(), "b": h.abs().mean()})
    before = gn.loss_weights.detach().clone()
    h = lin(torch.randn(4, 3))
    gn({"a": h.pow(2).mean() * float("nan"), "b": h.abs().mean()})
    assert torch.equal(gn.loss_weights.detach(), before)


def _floor_setup() -> tuple[GradNormWeighting, nn.Parameter]:
    # One shared scalar; objective "b" has a 100x larger gradient norm, so one plain SGD
    # step with a large lr (alpha = 0: equal target norms) drives its weight below 0.
    p = nn.Parameter(torch.ones(1))
    gn = GradNormWeighting(["a", "b"], [p], alpha=0.0, lr=10.0, optimizer="sgd")
    return gn, p


def _unequal(p: nn.Parameter) -> dict[str, torch.Tensor]:
    return {"a": p.sum(), "b": 100.0 * p.sum()}


def _reset_weights(gn: GradNormWeighting) -> None:
    with torch.no_grad():
        gn.loss_weights.fill_(1.0)


def test_weight_at_floor_warns_once_per_entry_and_is_reported() -> None:
    gn, p = _floor_setup()
    assert gn.at_floor() == []
    with pytest.warns(UserWarning, match=r"'b'.*min_weight=0\.001"):
        gn(_unequal(p))
    assert gn.at_floor() == ["b"]
    assert float(gn.loss_weights.detach()[1]) < 1e-3 * 1.01
    # Still at the floor on the next updates: reported, but no new warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            _reset_weights(gn)
            gn(_unequal(p))
            assert gn.at_floor() == ["b"]
        # Equal gradient norms: the weights stay where they are, off the floor.
        _reset_weights(gn)
        gn({"a": p.sum(), "b": p.sum()})
        assert gn.at_floor() == []
        # eval / no_grad passes do not update and keep the report as it was.
        gn.eval()
        gn(_unequal(p))
        gn.train()
        assert gn.at_floor() == []
    # Entering the floor again warns again.
    _reset_weights(gn)
    with pytest.warns(UserWarning, match="'b'") as record:
        gn(_unequal(p))
    assert len([w for w in record if "floor" in str(w.message)]) == 1
    assert gn.at_floor() == ["b"]


def test_floor_report_survives_a_state_dict_round_trip() -> None:
    gn, p = _floor_setup()
    with pytest.warns(UserWarning):
        gn(_unequal(p))
    buf = io.BytesIO()
    torch.save(gn.state_dict(), buf)
    buf.seek(0)
    gn2, p2 = _floor_setup()
    gn2.load_state_dict(torch.load(buf, weights_only=True))
    assert gn2.at_floor() == ["b"]
    _reset_weights(gn2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gn2(_unequal(p2))  # still at the floor: no new warning after a restart
    assert gn2.at_floor() == ["b"]


def test_trainable_parameters_are_empty_it_has_its_own_optimiser() -> None:
    gn, _ = _floor_setup()
    assert gn.trainable_parameters() == []
    assert FixedWeighting({"a": 1.0}).trainable_parameters() == []
