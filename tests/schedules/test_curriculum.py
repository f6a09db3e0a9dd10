"""Curriculum: the original default curriculum, the linear preset, samples, plateaus, state."""

from __future__ import annotations

import pytest
import torch

from contrastkit.schedules.curriculum import CurriculumScheduler
from contrastkit.schedules.stage import CurriculumStage, default_stages, linear_stages


def test_default_curriculum_temperature_05_then_03_after_10_epochs() -> None:
    cur = CurriculumScheduler.default()
    assert cur.temperature == 0.5
    for _ in range(10):
        cur.step()
    assert cur.temperature == 0.3
    assert cur.stage.name == "Medium" and cur.num_negatives == 10


def test_default_curriculum_matches_original_numbers() -> None:
    easy, medium, hard = default_stages()
    assert (easy.duration, easy.temperature, easy.num_negatives, easy.difficulty_threshold) == (
        10,
        0.5,
        5,
        0.3,
    )
    assert easy.loss_weights == {
        "infonce": 1.0,
        "local": 0.5,
        "spectral": 0.1,
        "feature_reconstruction": 0.5,
    }
    assert (medium.duration, medium.temperature, medium.num_negatives) == (20, 0.3, 10)
    assert medium.loss_weights == {
        "infonce": 1.0,
        "local": 0.3,
        "spectral": 0.05,
        "feature_reconstruction": 0.3,
    }
    assert medium.difficulty_threshold == 0.5
    assert (hard.duration, hard.temperature, hard.num_negatives, hard.difficulty_threshold) == (
        30,
        0.1,
        20,
        0.7,
    )
    assert hard.loss_weights == {
        "infonce": 1.0,
        "local": 0.1,
        "spectral": 0.01,
        "feature_reconstruction": 0.1,
    }


def test_epoch_walk_matches_pure_value_at_and_stays_in_last_stage() -> None:
    cur = CurriculumScheduler.default()
    names = [cur.stage.name]
    for t in range(1, 80):
        cur.step()
        names.append(cur.stage.name)
        assert cur.stage == cur.value_at(t)
    assert names[:10] == ["Easy"] * 10 and names[10:30] == ["Medium"] * 20
    assert names[30:] == ["Hard"] * 50
    assert cur.is_last_stage and cur.loss_weights["local"] == 0.1


def test_linear_preset_by_samples_with_carry_over() -> None:
    cur = CurriculumScheduler.linear(3, 1000, 5, 20, 1.0, 0.1)
    assert cur.unit == "samples"
    assert [s.num_negatives for s in cur.stages] == [5, 12, 20]
    assert [s.temperature for s in cur.stages] == pytest.approx([1.0, 0.55, 0.1])
    assert [s.difficulty_threshold for s in cur.stages] == pytest.approx([1 / 3, 2 / 3, 1.0])
    for _ in range(3):
        cur.step(300)  # 900 samples
    assert cur.stage_index == 0
    cur.step(300)  # 1200: 200 into stage 1
    assert cur.stage_index == 1 and cur.progress_in_stage == 200
    cur.step(2500)  # way past the end
    assert cur.stage_index == 2 and cur.temperature == pytest.approx(0.1)
    single = CurriculumScheduler.linear(1, 10, 7, 9, 0.2, 0.1)
    assert single.num_negatives == 7 and single.temperature == 0.2


def test_plateau_advances_early_and_fails_without_it() -> None:
    metrics = [1.0, 0.8, 0.79, 0.795, 0.80, 0.81, 0.5, 0.5, 0.5]
    watched = CurriculumScheduler.default(patience=2, min_delta=0.02)
    plain = CurriculumScheduler.default()
    for m in metrics[:5]:
        watched.step(metric=m)
        plain.step()
    # 0.8 then two non-improvements (0.79 and 0.795 are within min_delta) -> Medium at epoch 4;
    # epoch 5 is the first of the new stage.
    assert watched.stage.name == "Medium"
    assert plain.stage.name == "Easy"
    assert watched.progress_in_stage == 1
    watched_max = CurriculumScheduler.default(patience=1, mode="max")
    watched_max.step(metric=0.1)
    watched_max.step(metric=0.2)
    assert watched_max.stage_index == 0
    assert watched_max.observe(0.15) is True
    assert watched_max.stage_index == 1


def test_should_include_and_sampling_follow_the_stage(gen: torch.Generator) -> None:
    cur = CurriculumScheduler.default()
    assert cur.should_include(0.3) is True and cur.should_include(0.31) is False
    d = torch.tensor([0.1, 0.4, 0.6, 0.9])
    assert cur.should_include(d).tolist() == [True, False, False, False]
    assert set(cur.sample(d, 50, generator=gen).tolist()) == {0}
    cur.step(30)
    assert cur.stage.name == "Hard"
    assert set(cur.sample(d, 200, generator=gen).tolist()) == {0, 1, 2}
    w = cur.sampling_weights(d, softness=0.1)
    assert bool((w[:-1] > w[1:]).all())


def test_state_dict_round_trip_mid_way_continues_identically() -> None:
    metrics = [1.0, 0.9, 0.91, 0.92, 0.7, 0.71, 0.72, 0.73] * 4
    a = CurriculumScheduler.linear(4, 100, 2, 8, 0.5, 0.05, patience=2)
    for m in metrics[:11]:
        a.step(37, metric=m)
    state = a.state_dict()
    b = CurriculumScheduler.linear(4, 100, 2, 8, 0.5, 0.05, patience=2)
    b.load_state_dict(state)
    assert (b.stage_index, b.progress_in_stage, b.position) == (
        a.stage_index,
        a.progress_in_stage,
        a.position,
    )
    ra = [(a.step(37, metric=m).name, a.progress_in_stage) for m in metrics[11:]]
    rb = [(b.step(37, metric=m).name, b.progress_in_stage) for m in metrics[11:]]
    assert ra == rb
    a.reset()
    assert a.stage_index == 0 and a.position == 0


def test_state_from_other_curriculum_is_rejected() -> None:
    cur = CurriculumScheduler.default()
    other = CurriculumScheduler.linear(5, 10, 1, 5, 1.0, 0.1)
    other.step(45)
    with pytest.raises(ValueError, match="stage"):
        cur.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="state_dict"):
        cur.load_state_dict({"position": 3})


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: CurriculumScheduler([]), "stages"),
        (lambda: CurriculumScheduler(default_stages(), unit="batches"), "unit"),
        (lambda: CurriculumScheduler(default_stages(), patience=0), "patience"),
        (lambda: CurriculumScheduler(default_stages(), mode="up"), "mode"),
        (lambda: CurriculumScheduler(default_stages(), min_delta=-1.0), "min_delta"),
        (lambda: CurriculumStage("x", 0, 0.5, 5), "duration"),
        (lambda: CurriculumStage("x", 5, 0.0, 5), "temperature"),
        (lambda: CurriculumStage("x", 5, 0.5, 0), "num_negatives"),
        (lambda: CurriculumStage("x", 5, 0.5, 5, {"infonce": -1.0}), "loss_weights"),
        (lambda: CurriculumStage("x", 5, 0.5, 5, {}, float("nan")), "difficulty_threshold"),
        (lambda: linear_stages(0, 10, 1, 2, 1.0, 0.1), "num_stages"),
        (lambda: linear_stages(2, 0, 1, 2, 1.0, 0.1), "samples_per_stage"),
        (lambda: linear_stages(2, 10, 0, 2, 1.0, 0.1), "k_start"),
        (lambda: linear_stages(2, 10, 1, 2, 1.0, -0.1), "temp_end"),
    ],
)
def test_bad_input_names_the_argument(make, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=name):
        make()


def test_bad_step_and_metric_usage() -> None:
    cur = CurriculumScheduler.default()
    with pytest.raises(ValueError, match="n"):
        cur.step(0)
    with pytest.raises(ValueError, match="patience"):
        cur.step(metric=0.5)
    watched = CurriculumScheduler.default(patience=1)
    with pytest.raises(ValueError, match="metric"):
        watched.observe(float("nan"))
    with pytest.raises(TypeError, match="stages"):
        CurriculumScheduler([default_stages()[0], "Hard"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "module",
    ["base", "functions", "temperature", "loss_weights", "difficulty", "curriculum", "stage"],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"contrastkit.schedules.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
