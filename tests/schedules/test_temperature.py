"""Temperature annealing: the original design's expectations, all kinds, warm-up, state."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from contrastkit.schedules.functions import anneal
from contrastkit.schedules.temperature import TemperatureScheduler


def test_linear_reads_055_after_5_of_11_steps() -> None:
    s = TemperatureScheduler("linear", start=1.0, end=0.1, steps=11)
    assert s.value == 1.0
    for _ in range(5):
        s.step()
    assert abs(s.value - 0.55) < 0.01
    assert s.value == pytest.approx(0.55, abs=1e-12)


def test_linear_10_steps_read_start_to_end_inclusive() -> None:
    s = TemperatureScheduler("linear", start=1.0, end=0.1, steps=10)
    assert [s.value_at(t) for t in range(10)] == pytest.approx(
        [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    )


@pytest.mark.parametrize("kind", ["linear", "exponential", "cosine"])
@pytest.mark.parametrize("epochs", [2, 5, 10])
def test_per_epoch_use_first_epoch_reads_start_last_reads_end(kind: str, epochs: int) -> None:
    # The trainer's use: steps = epochs, .value read during each epoch, .step() after it.
    s = TemperatureScheduler(kind, start=1.0, end=0.1, steps=epochs)  # type: ignore[arg-type]
    used = []
    for _ in range(epochs):
        used.append(s.value)
        s.step()
    assert used[0] == 1.0
    assert used[-1] == pytest.approx(0.1, abs=1e-12)
    assert all(b < a for a, b in itertools.pairwise(used))
    for i, v in enumerate(used):
        p = i / (epochs - 1)
        assert v == pytest.approx(anneal(kind, i, start=1.0, end=0.1, steps=epochs - 1))  # type: ignore[arg-type]
        if kind == "linear":
            assert v == pytest.approx(1.0 + (0.1 - 1.0) * p)


def test_single_step_reads_start_then_end() -> None:
    s = TemperatureScheduler("cosine", start=1.0, end=0.1, steps=1)
    assert s.value == 1.0
    assert s.step() == 0.1
    assert s.total_steps == 1


def test_cosine_is_non_increasing_and_hits_both_ends() -> None:
    s = TemperatureScheduler("cosine", start=1.0, end=1e-3, steps=101)
    assert s.value == pytest.approx(1.0)
    prev = s.value
    for _ in range(100):
        cur = s.step()
        assert cur <= prev
        prev = cur
    assert prev == pytest.approx(1e-3)
    assert s.value_at(50) == pytest.approx((1.0 + 1e-3) / 2)


def test_exponential_is_geometric() -> None:
    s = TemperatureScheduler("exponential", start=1.0, end=0.01, steps=11)
    vals = [s.value_at(t) for t in range(11)]
    ratios = [b / a for a, b in itertools.pairwise(vals)]
    assert ratios == pytest.approx([0.01 ** (1 / 10)] * 10)
    assert vals[5] == pytest.approx(0.1)


def test_step_schedule_holds_each_value_for_step_size() -> None:
    s = TemperatureScheduler("step", values=[0.5, 0.3, 0.1], step_size=10)
    assert [s.value_at(t) for t in (0, 9, 10, 19, 20, 1000)] == [0.5, 0.5, 0.3, 0.3, 0.1, 0.1]
    assert s.total_steps == 20


def test_values_clamp_after_steps() -> None:
    for kind in ("linear", "exponential", "cosine"):
        s = TemperatureScheduler(kind, start=0.9, end=0.2, steps=7)  # type: ignore[arg-type]
        assert s.value_at(5) > 0.2
        assert s.value_at(6) == pytest.approx(0.2, abs=1e-12)
        assert s.value_at(7) == pytest.approx(0.2)
        assert s.value_at(70) == pytest.approx(0.2)


def test_reference_loop_agrees_with_brute_force_formulas() -> None:
    start, end, steps = 0.8, 0.05, 13
    for t in range(20):
        p = min(t / steps, 1.0)
        assert anneal("linear", t, start=start, end=end, steps=steps) == pytest.approx(
            start - (start - end) * p
        )
        assert anneal("exponential", t, start=start, end=end, steps=steps) == pytest.approx(
            math.exp(math.log(start) + p * (math.log(end) - math.log(start)))
        )
        assert anneal("cosine", t, start=start, end=end, steps=steps) == pytest.approx(
            end + 0.5 * (start - end) * (1 + math.cos(math.pi * p))
        )


def test_warmup_holds_or_ramps_then_anneals() -> None:
    hold = TemperatureScheduler("linear", start=1.0, end=0.1, steps=10, warmup_steps=5)
    assert [hold.value_at(t) for t in range(6)] == [1.0] * 6
    assert hold.value_at(10) == pytest.approx(0.5)
    assert hold.value_at(14) == pytest.approx(0.1)
    ramp = TemperatureScheduler(
        "cosine", start=0.5, end=0.1, steps=10, warmup_steps=4, warmup_start=1.0
    )
    assert [ramp.value_at(t) for t in range(5)] == pytest.approx([1.0, 0.875, 0.75, 0.625, 0.5])
    assert ramp.value_at(13) == pytest.approx(0.1)
    assert ramp.value_at(12) > 0.1
    assert ramp.total_steps == 13


def test_state_dict_round_trip_mid_way_continues_identically() -> None:
    a = TemperatureScheduler("cosine", start=1.0, end=0.1, steps=20, warmup_steps=3)
    for _ in range(7):
        a.step()
    state = a.state_dict()
    buf = __import__("io").BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    b = TemperatureScheduler("cosine", start=1.0, end=0.1, steps=20, warmup_steps=3)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert b.value == a.value
    assert [a.step() for _ in range(15)] == [b.step() for _ in range(15)]


def test_state_from_other_schedule_is_rejected() -> None:
    a = TemperatureScheduler("linear")
    b = TemperatureScheduler("cosine")
    with pytest.raises(ValueError, match="state_dict"):
        b.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="state_dict"):
        b.load_state_dict({"schedule": "cosine"})


def test_reset_and_multi_step() -> None:
    s = TemperatureScheduler("linear", start=1.0, end=0.1, steps=11)
    assert s.step(5) == pytest.approx(0.55)
    assert s.position == 5
    s.reset()
    assert s.position == 0 and s.value == 1.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"schedule": "sigmoid"}, "schedule"),
        ({"schedule": "linear", "steps": 0}, "steps"),
        ({"schedule": "linear", "steps": -3}, "steps"),
        ({"schedule": "exponential", "start": 0.0}, "start"),
        ({"schedule": "exponential", "end": -1.0}, "end"),
        ({"schedule": "exponential", "end": 0.0}, "end"),
        ({"schedule": "linear", "start": float("nan")}, "start"),
        ({"schedule": "step", "values": []}, "values"),
        ({"schedule": "step"}, "values"),
        ({"schedule": "step", "values": [0.5, -0.1]}, r"values\[1\]"),
        ({"schedule": "step", "values": [0.5], "step_size": 0}, "step_size"),
        ({"schedule": "linear", "values": [0.5]}, "values"),
        ({"schedule": "linear", "warmup_steps": -1}, "warmup_steps"),
        ({"schedule": "linear", "warmup_start": 0.0}, "warmup_start"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, name: str) -> None:
    schedule = kwargs.pop("schedule")
    with pytest.raises(ValueError, match=name):
        TemperatureScheduler(schedule, **kwargs)


def test_bad_step_arguments() -> None:
    s = TemperatureScheduler("linear")
    with pytest.raises(ValueError, match="step"):
        s.value_at(-1)
    with pytest.raises(ValueError, match="n"):
        s.step(0)
    with pytest.raises(TypeError, match="step"):
        s.value_at(1.5)  # type: ignore[arg-type]
