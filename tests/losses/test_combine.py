"""Combiner entry point: fixed weights, magnitude balancing, report, priorities, state."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import torch

from contrastkit.losses.combine import (
    CombinerConfig,
    FixedWeighting,
    MagnitudeWeighting,
    build_combiner,
    combine_losses,
)
from contrastkit.losses.gradnorm import GradNormWeighting
from contrastkit.losses.uncertainty import UncertaintyWeighting
from contrastkit.schedules.curriculum import CurriculumScheduler
from contrastkit.schedules.loss_weights import LossWeightScheduler
from tests.conftest import tol


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny tensors: thread hand-off costs more than it saves on a shared 2-core machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _losses(dtype: torch.dtype, **values: float) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in values.items()}


def test_fixed_weights_total_report_and_gradient(dtype: torch.dtype) -> None:
    losses = _losses(dtype, infonce=2.0, local=3.0, spectral=0.5, reconstruction=4.0)
    weights = {"infonce": 1.0, "local": 0.1, "spectral": 0.01, "reconstruction": 0.1}
    out = combine_losses(losses, weights)
    want = sum(weights[k] * float(v.detach()) for k, v in losses.items())
    torch.testing.assert_close(out.total, torch.tensor(want, dtype=dtype), **tol(dtype))
    for k, c in out.components.items():
        assert c.loss == pytest.approx(float(losses[k].detach()))
        assert c.weight == pytest.approx(weights[k])
        assert c.weighted == pytest.approx(weights[k] * float(losses[k].detach()), rel=1e-6)
    out.total.backward()
    for k, v in losses.items():
        assert float(v.grad) == pytest.approx(weights[k])
    assert out.total.dtype == dtype


def test_fixed_weights_follow_a_schedule_and_a_curriculum() -> None:
    comb = FixedWeighting({"contrastive": 1.0, "reconstruction": 1.0, "task": 1.0})
    sched = LossWeightScheduler.staged()
    comb.set_weights(sched.step(5))
    out = comb(_losses(torch.float64, contrastive=1.0, reconstruction=1.0, task=1.0))
    assert out.components["contrastive"].weight == pytest.approx(0.55)
    cur = CurriculumScheduler.default()
    comb4 = FixedWeighting(cur.loss_weights)
    cur.step(10)
    comb4.set_weights(cur.loss_weights)
    assert comb4.priorities["local"] == 0.3


def test_mixed_dtypes_are_promoted_and_order_does_not_matter() -> None:
    comb = FixedWeighting({"a": 2.0, "b": 1.0})
    out = comb({"b": torch.tensor(1.0, dtype=torch.float64), "a": torch.tensor([3.0])})
    assert out.total.dtype == torch.float64 and float(out.total) == 7.0
    assert list(out.components) == ["a", "b"]


def test_magnitude_balancing_equalises_contributions() -> None:
    comb = MagnitudeWeighting(["infonce", "spectral", "recon"], momentum=0.0)
    out = comb(_losses(torch.float64, infonce=5.0, spectral=0.001, recon=50.0))
    contrib = [c.weighted for c in out.components.values()]
    assert contrib == pytest.approx([contrib[0]] * 3)
    # Without balancing the same losses differ by 5 orders of magnitude.
    raw = combine_losses(_losses(torch.float64, a=5.0, b=0.001, c=50.0), {"a": 1, "b": 1, "c": 1})
    spread = max(c.weighted for c in raw.components.values()) / min(
        c.weighted for c in raw.components.values()
    )
    assert spread > 1e4


def test_magnitude_keeps_priorities_and_is_safe_at_zero() -> None:
    comb = MagnitudeWeighting(["a", "b"], momentum=0.5, eps=1e-3)
    comb.set_priorities({"a": 2.0})
    out = comb(_losses(torch.float32, a=1.0, b=100.0))
    assert out.components["a"].weighted == pytest.approx(2 * out.components["b"].weighted)
    zero = comb(_losses(torch.float32, a=0.0, b=0.0))
    assert torch.isfinite(zero.total) and float(zero.total.detach()) == 0.0
    fresh = MagnitudeWeighting(["a", "b"], eps=1e-3)
    zero = fresh(_losses(torch.float32, a=0.0, b=3.0))
    assert all(torch.isfinite(torch.tensor(c.weight)) for c in zero.components.values())
    assert zero.components["a"].weight == pytest.approx(1.5 / (1e-3 * 1.5))


def test_magnitude_ignores_non_finite_losses_in_its_average() -> None:
    comb = MagnitudeWeighting(["a", "b"], momentum=0.5)
    comb(_losses(torch.float64, a=1.0, b=2.0))
    comb(_losses(torch.float64, a=float("inf"), b=4.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([1.0, 3.0], dtype=torch.float64))


def test_magnitude_ema_and_eval_mode() -> None:
    comb = MagnitudeWeighting(["a", "b"], momentum=0.5)
    comb(_losses(torch.float64, a=1.0, b=1.0))
    comb(_losses(torch.float64, a=3.0, b=1.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([2.0, 1.0], dtype=torch.float64))
    comb.eval()
    comb(_losses(torch.float64, a=100.0, b=1.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([2.0, 1.0], dtype=torch.float64))


def test_magnitude_ema_is_not_updated_under_no_grad() -> None:
    # The trainer's validation pass runs under torch.no_grad() with the combiner in
    # training mode: it must not move the running magnitudes.
    comb = MagnitudeWeighting(["a", "b"], momentum=0.5)
    comb(_losses(torch.float64, a=1.0, b=1.0))
    assert comb.training
    with torch.no_grad():
        val = comb(_losses(torch.float64, a=100.0, b=1.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([1.0, 1.0], dtype=torch.float64))
    # ... but it is still weighted with the current averages.
    assert val.components["a"].weight == pytest.approx(1.0)
    with torch.inference_mode():
        comb(_losses(torch.float64, a=100.0, b=1.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([1.0, 1.0], dtype=torch.float64))
    comb(_losses(torch.float64, a=3.0, b=1.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([2.0, 1.0], dtype=torch.float64))


def test_magnitude_first_call_under_no_grad_does_not_seed_the_average() -> None:
    comb = MagnitudeWeighting(["a", "b"], momentum=0.5)
    with torch.no_grad():
        out = comb(_losses(torch.float64, a=4.0, b=1.0))
    assert not bool(comb.has_magnitudes)
    assert out.components["a"].weighted == pytest.approx(out.components["b"].weighted)
    comb(_losses(torch.float64, a=1.0, b=1.0))
    torch.testing.assert_close(comb.magnitudes, torch.tensor([1.0, 1.0], dtype=torch.float64))


def _run(comb: torch.nn.Module, steps: range, seed: int = 0) -> list[float]:
    out = []
    g = torch.Generator().manual_seed(seed)
    for _ in steps:
        vals = torch.rand(3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1])
        res = comb({"a": vals[0], "b": vals[1], "c": vals[2]})
        out.append(float(res.total.detach()))
    return out


@pytest.mark.parametrize("method", ["fixed", "magnitude", "uncertainty"])
def test_state_dict_round_trip_mid_way_continues_identically(method: str) -> None:
    cfg = CombinerConfig(method, {"a": 1.0, "b": 0.5, "c": 2.0})  # type: ignore[arg-type]
    a = build_combiner(cfg)
    g = torch.Generator().manual_seed(3)
    for _ in range(4):
        vals = torch.rand(3, generator=g, dtype=torch.float64)
        a({"a": vals[0], "b": vals[1], "c": vals[2]})
    if method == "uncertainty":
        with torch.no_grad():
            a.log_vars.copy_(torch.tensor([0.3, -0.2, 0.1]))
    a.set_priorities({"b": 0.7})
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = build_combiner(cfg)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert b.priorities == a.priorities
    assert _run(a, range(5), seed=9) == _run(b, range(5), seed=9)


def test_state_for_other_objectives_is_rejected() -> None:
    a = FixedWeighting({"a": 1.0})
    with pytest.raises(ValueError, match="state_dict"):
        FixedWeighting({"b": 1.0}).load_state_dict(a.state_dict())


def test_build_combiner_builds_each_method() -> None:
    lin = torch.nn.Linear(2, 2)
    w = {"a": 1.0, "b": 2.0}
    assert isinstance(build_combiner(CombinerConfig("fixed", w)), FixedWeighting)
    assert isinstance(build_combiner(CombinerConfig("magnitude", w)), MagnitudeWeighting)
    unc = build_combiner(CombinerConfig("uncertainty", w))
    assert isinstance(unc, UncertaintyWeighting) and unc.priorities["b"] == 2.0
    gn = build_combiner(CombinerConfig("gradnorm", w), lin.parameters())
    assert isinstance(gn, GradNormWeighting)
    with pytest.raises(ValueError, match="shared_parameters"):
        build_combiner(CombinerConfig("gradnorm", w))


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: FixedWeighting({"a": -1.0}), "weights"),
        (lambda: FixedWeighting({}), "weights"),
        (lambda: CombinerConfig("mystery", {"a": 1.0}), "method"),  # type: ignore[arg-type]
        (lambda: CombinerConfig("fixed", {"a": -0.5}), "weights"),
        (lambda: MagnitudeWeighting(["a"], momentum=1.0), "momentum"),
        (lambda: MagnitudeWeighting(["a"], eps=0.0), "eps"),
        (lambda: MagnitudeWeighting([]), "names"),
        (lambda: MagnitudeWeighting(["a", "a"]), "names"),
        (lambda: FixedWeighting({"a": 1.0}).set_priorities({"a": -2.0}), "priorities"),
        (lambda: FixedWeighting({"a": 1.0}).set_priorities({"z": 2.0}), "priorities"),
    ],
)
def test_bad_configuration_names_the_argument(make, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=name):
        make()


def test_bad_losses_name_the_argument() -> None:
    comb = FixedWeighting({"a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match="losses"):
        comb({})
    with pytest.raises(ValueError, match="losses"):
        comb({"a": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="losses"):
        comb({"a": torch.tensor(1.0), "b": torch.ones(3)})
    with pytest.raises(ValueError, match="losses"):
        comb({"a": torch.tensor(1.0), "b": torch.tensor(1)})


@pytest.mark.parametrize("module", ["weighting", "combine", "uncertainty", "gradnorm", "pcgrad"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"contrastkit.losses.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
