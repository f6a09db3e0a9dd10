"""Uncertainty weighting (Kendall, Gal & Cipolla 2018): formula, gradients, learning."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from contrastkit.losses.combine import FixedWeighting
from contrastkit.losses.uncertainty import MAX_LOG_VAR, UncertaintyWeighting
from contrastkit.losses.weighting import LossWeighting


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny models: thread hand-off costs more than it saves on a shared 2-core machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_formula_matches_reference(dtype: torch.dtype) -> None:
    uw = UncertaintyWeighting(["r", "c"], kinds={"c": "classification"}).to(dtype)
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.4, -0.3]))
    uw.set_priorities({"r": 2.0})
    losses = {"r": torch.tensor(1.5, dtype=dtype), "c": torch.tensor(0.7, dtype=dtype)}
    out = uw(losses)
    s_r, s_c = 0.4, -0.3
    want = 2.0 * 1.5 / (2 * math.exp(s_r)) + 0.7 / math.exp(s_c) + 0.5 * (s_r + s_c)
    assert float(out.total.detach()) == pytest.approx(want, rel=1e-6)
    assert out.components["r"].weight == pytest.approx(2.0 * 0.5 * math.exp(-s_r), rel=1e-6)
    torch.testing.assert_close(uw.sigmas, torch.exp(0.5 * uw.log_vars.detach()))


def test_gradcheck_wrt_losses_and_log_vars() -> None:
    uw = UncertaintyWeighting(["a", "b", "c"], kinds="regression").double()

    def f(losses: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            uw.log_vars.copy_(s)
        w = 0.5 * torch.exp(-s)
        # The module's total, with log_vars substituted by the differentiable input s.
        return (w * losses).sum() + 0.5 * s.sum()

    losses = torch.rand(3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (losses, s))
    out = uw({"a": losses[0], "b": losses[1], "c": losses[2]})
    out.total.backward()
    # d/ds_i [0.5 e^{-s_i} L_i + 0.5 s_i] = 0.5 - 0.5 e^{-s_i} L_i
    want = 0.5 - 0.5 * torch.exp(-s.detach()) * losses.detach()
    torch.testing.assert_close(uw.log_vars.grad, want)


def _two_task_regression(combiner: LossWeighting, steps: int = 300) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    n, d = 256, 8
    x = torch.randn(n, d, generator=g)
    a, b = torch.randn(d, 1, generator=g), torch.randn(d, 1, generator=g)
    y_clean = x @ a + 0.1 * torch.randn(n, 1, generator=g)
    y_noisy = x @ b + 2.0 * torch.randn(n, 1, generator=g)
    torch.manual_seed(1)
    trunk = nn.Sequential(nn.Linear(d, 16), nn.Tanh())
    h1, h2 = nn.Linear(16, 1), nn.Linear(16, 1)
    params = [*trunk.parameters(), *h1.parameters(), *h2.parameters(), *combiner.parameters()]
    opt = torch.optim.Adam(params, lr=2e-2)
    for _ in range(steps):
        z = trunk(x)
        out = combiner(
            {"clean": (h1(z) - y_clean).pow(2).mean(), "noisy": (h2(z) - y_noisy).pow(2).mean()}
        )
        opt.zero_grad()
        out.total.backward()
        opt.step()
    c = out.components
    return {
        "w_clean": c["clean"].weight,
        "w_noisy": c["noisy"].weight,
        "clean": c["clean"].loss,
        "noisy": c["noisy"].loss,
    }


def test_learns_to_down_weight_the_noisier_objective() -> None:
    uw = UncertaintyWeighting(["clean", "noisy"])
    learned = _two_task_regression(uw)
    fixed = _two_task_regression(FixedWeighting({"clean": 1.0, "noisy": 1.0}))
    # The noisy task (noise std 2.0 vs 0.1) ends with a much smaller weight ...
    assert learned["w_clean"] / learned["w_noisy"] > 10.0
    assert fixed["w_clean"] / fixed["w_noisy"] == 1.0  # the fixed run does not
    # ... its learned variance tracks its residual loss (optimum: sigma^2 = L) ...
    sigma2 = uw.sigmas.pow(2).tolist()
    assert sigma2[1] == pytest.approx(learned["noisy"], rel=0.3)
    # ... and the clean task is fitted better than with equal fixed weights.
    assert learned["clean"] < 0.5 * fixed["clean"]


def test_trainable_parameters_are_the_log_variances() -> None:
    from contrastkit.losses.combine import MagnitudeWeighting

    uw = UncertaintyWeighting(["a", "b"])
    params = uw.trainable_parameters()
    assert len(params) == 1 and params[0] is uw.log_vars
    assert {id(q) for q in params} == {id(q) for q in uw.parameters()}
    assert FixedWeighting({"a": 1.0}).trainable_parameters() == []
    assert MagnitudeWeighting(["a", "b"]).trainable_parameters() == []
    # Training through the hook moves the log-variances.
    opt = torch.optim.SGD(params, lr=0.1)
    out = uw({"a": torch.tensor(4.0), "b": torch.tensor(0.1)})
    out.total.backward()
    opt.step()
    s = uw.log_vars.detach()
    assert float(s[0]) > 0.0 > float(s[1])


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="kinds"):
        UncertaintyWeighting(["a"], kinds="ordinal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kinds"):
        UncertaintyWeighting(["a"], kinds={"b": "regression"})
    with pytest.raises(ValueError, match="names"):
        UncertaintyWeighting([])
    with pytest.raises(TypeError, match="init_log_var"):
        UncertaintyWeighting(["a"], init_log_var="0")  # type: ignore[arg-type]


def test_a_loss_at_zero_cannot_drive_its_weight_to_infinity() -> None:
    # d/ds [0.5 e^{-s} L + 0.5 s] = 0.5 when L = 0: unbounded, s falls by lr/2 a step
    # (here 50 steps of SGD at lr 1 would take it to -25, its weight to e^25 / 2)
    uw = UncertaintyWeighting(["met", "other"])
    opt = torch.optim.SGD(uw.trainable_parameters(), lr=1.0)
    for _ in range(50):
        out = uw({"met": torch.tensor(0.0), "other": torch.tensor(1.0)})
        opt.zero_grad()
        out.total.backward()
        opt.step()
    out = uw({"met": torch.tensor(0.0), "other": torch.tensor(1.0)})
    s = uw.log_vars.detach()
    assert float(s[0]) == -MAX_LOG_VAR  # projected onto the bound, not -25
    assert out.components["met"].weight == pytest.approx(0.5 * math.exp(MAX_LOG_VAR), rel=1e-5)
    assert math.isfinite(float(out.total.detach()))
    # at the bound the gradient is still the formula's: a loss that grows pulls it back in
    for _ in range(5):
        out = uw({"met": torch.tensor(1.0), "other": torch.tensor(1.0)})
        opt.zero_grad()
        out.total.backward()
        opt.step()
    assert float(uw.log_vars.detach()[0]) > -MAX_LOG_VAR + 1.0


def test_the_bound_is_a_setting_and_an_initial_value_outside_it_is_projected() -> None:
    uw = UncertaintyWeighting(["a"], init_log_var=30.0, max_log_var=3.0)
    out = uw({"a": torch.tensor(2.0)})
    assert float(uw.log_vars.detach()[0]) == 3.0
    assert out.components["a"].weight == pytest.approx(0.5 * math.exp(-3.0), rel=1e-6)
    with pytest.raises(ValueError, match=r"max_log_var must be finite and > 0, got 0"):
        UncertaintyWeighting(["a"], max_log_var=0)
    with pytest.raises(ValueError, match="max_log_var"):
        UncertaintyWeighting(["a"], max_log_var=math.inf)
    with pytest.raises(TypeError, match="max_log_var"):
        UncertaintyWeighting(["a"], max_log_var="10")  # type: ignore[arg-type]
