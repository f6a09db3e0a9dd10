"""Loss-weight schedules: warm-up interpolation, per-objective curves, the staged preset."""

from __future__ import annotations

import math

import pytest

from contrastkit.schedules.functions import ExponentialDecay, Plateau, RampUp
from contrastkit.schedules.loss_weights import LossWeightScheduler


def test_linear_warmup_interpolates_then_holds_targets() -> None:
    initial = {"infonce": 1.0, "local": 0.1, "spectral": 0.01, "reconstruction": 0.1, "ewc": 0.0}
    target = {"infonce": 1.0, "local": 0.5, "spectral": 0.1, "reconstruction": 0.0, "ewc": 2.0}
    s = LossWeightScheduler.linear_warmup(initial, target, warmup_steps=4)
    assert s.value == initial
    for t in range(8):
        p = min(t / 4, 1.0)
        want = {k: initial[k] + (target[k] - initial[k]) * p for k in initial}
        assert s.value_at(t) == pytest.approx(want)
    assert s.step(4) == pytest.approx(target)
    assert s.step() == pytest.approx(target)


def test_staged_preset_matches_original_design() -> None:
    s = LossWeightScheduler.staged()

    # The original design's three closures, written out as a reference.
    def reference(name: str, epoch: int) -> float:
        if name == "reconstruction":
            return math.exp(-epoch / 50.0)
        if name == "contrastive":
            return 0.1 + 0.9 * (epoch / 10.0) if epoch < 10 else 1.0
        if name == "task":
            return 0.1 if epoch < 50 else 0.1 + 0.9 * min((epoch - 50) / 50.0, 1.0)
        return 1.0

    for epoch in range(0, 130, 3):
        w = s.value_at(epoch)
        for name in ("reconstruction", "contrastive", "task"):
            assert w[name] == pytest.approx(reference(name, epoch)), (name, epoch)
        assert s.weight("spectral", epoch) == 1.0
    # Shape of the curriculum: reconstruction falls, contrastive rises early, task late.
    assert s.value_at(0)["reconstruction"] > s.value_at(60)["reconstruction"]
    assert s.value_at(10)["contrastive"] == 1.0 and s.value_at(10)["task"] == 0.1
    assert s.value_at(100)["task"] == pytest.approx(1.0)


def test_curves_and_constants_mix() -> None:
    s = LossWeightScheduler(
        {
            "a": 0.5,
            "b": Plateau(value=2.0, begin=3),
            "c": RampUp(start=1.0, end=0.0, begin=2, duration=4),
            "d": ExponentialDecay(initial=2.0, decay_steps=1.0, final=1.0, begin=1),
            "e": lambda t: 0.25 * t,
        },
        default=None,
    )
    w = s.value_at(4)
    assert w["a"] == 0.5 and w["b"] == 2.0 and w["c"] == pytest.approx(0.5)
    assert w["d"] == pytest.approx(1.0 + math.exp(-3.0)) and w["e"] == 1.0
    assert s.value_at(2)["b"] == 0.0 and s.value_at(0)["d"] == 2.0
    with pytest.raises(ValueError, match="name"):
        s.weight("missing")
    assert s.names == ("a", "b", "c", "d", "e")


def test_state_dict_round_trip_mid_way_continues_identically() -> None:
    a = LossWeightScheduler.staged()
    for _ in range(37):
        a.step()
    b = LossWeightScheduler.staged()
    b.load_state_dict(a.state_dict())
    assert b.position == 37
    assert [a.step() for _ in range(30)] == [b.step() for _ in range(30)]


def test_state_with_other_objectives_is_rejected() -> None:
    a = LossWeightScheduler({"x": 1.0})
    with pytest.raises(ValueError, match="names"):
        a.load_state_dict(LossWeightScheduler({"y": 1.0}).state_dict())


def test_negative_weight_from_callable_raises_naming_objective() -> None:
    s = LossWeightScheduler({"bad": lambda t: -1.0})
    with pytest.raises(ValueError, match="bad"):
        s.value_at(0)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: LossWeightScheduler({}), "schedules"),
        (lambda: LossWeightScheduler({"a": -0.1}), "schedules"),
        (lambda: LossWeightScheduler({"a": 1.0}, default=-1.0), "default"),
        (lambda: LossWeightScheduler.linear_warmup({"a": -1.0}, {"a": 1.0}, 3), "initial"),
        (lambda: LossWeightScheduler.linear_warmup({"a": 1.0}, {"a": -1.0}, 3), "target"),
        (lambda: LossWeightScheduler.linear_warmup({"a": 1.0}, {"b": 1.0}, 3), "target"),
        (lambda: LossWeightScheduler.linear_warmup({}, {}, 3), "initial"),
        (lambda: LossWeightScheduler.linear_warmup({"a": 1.0}, {"a": 1.0}, 0), "warmup_steps"),
        (lambda: RampUp(duration=0), "duration"),
        (lambda: RampUp(start=-1.0), "start"),
        (lambda: RampUp(begin=-2), "begin"),
        (lambda: ExponentialDecay(decay_steps=0.0), "decay_steps"),
        (lambda: ExponentialDecay(initial=-1.0), "initial"),
        (lambda: Plateau(value=-0.5), "value"),
    ],
)
def test_bad_input_names_the_argument(make, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=name):
        make()
