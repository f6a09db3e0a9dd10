"""LR schedules (warm-up + cosine/linear/step, state) and the optimiser/LR config validation."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from contrastkit.train.lr_schedule import LRScheduleConfig, build_lr_scheduler
from contrastkit.train.optim import OptimizerConfig, build_optimizer
from contrastkit.train.typed_config import from_dict


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny tensors: thread hand-off costs more than it saves on a shared 2-core machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _lrs(cfg: LRScheduleConfig, steps: int, base: float = 1.0) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    sched = build_lr_scheduler(opt, cfg)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine_matches_closed_form() -> None:
    w, t, f0, lo = 5, 25, 0.1, 0.01
    got = _lrs(
        LRScheduleConfig(
            "cosine", warmup_steps=w, total_steps=t, warmup_start_factor=f0, min_lr=lo
        ),
        t,
    )
    want = [
        f0 + (1 - f0) * s / w
        if s < w
        else lo + 0.5 * (1 - lo) * (1 + math.cos(math.pi * (s - w) / (t - w)))
        for s in range(t)
    ]
    assert got == pytest.approx(want, abs=1e-9)
    assert all(a >= b for a, b in zip(got[w:], got[w + 1 :], strict=False))


def test_linear_step_and_constant() -> None:
    lin = _lrs(LRScheduleConfig("linear", total_steps=10, end_factor=0.2), 11, base=0.5)
    assert lin == pytest.approx([0.5 * (1 - 0.8 * min(s, 10) / 10) for s in range(11)])
    step = _lrs(
        LRScheduleConfig("step", step_size=3, gamma=0.5, warmup_steps=2, warmup_start_factor=0.5), 9
    )
    assert step == pytest.approx([0.5, 0.75, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25])
    assert _lrs(LRScheduleConfig(), 5, base=0.3) == pytest.approx([0.3] * 5)
    warm = _lrs(LRScheduleConfig("constant", warmup_steps=4, warmup_start_factor=0.2), 6)
    assert warm == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])


def test_schedules_every_group_of_a_composite_optimizer() -> None:
    net = nn.Sequential(nn.Embedding(10, 4, sparse=True), nn.Linear(4, 1))
    opt = build_optimizer(OptimizerConfig("adamw", lr=0.1, weight_decay=0.01), net)
    sched = build_lr_scheduler(opt, LRScheduleConfig("cosine", warmup_steps=2, total_steps=10))
    for _ in range(6):
        net(torch.tensor([1, 2])).sum().backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    lrs = {g["lr"] for o in opt.optimizers for g in o.param_groups}  # type: ignore[attr-defined]
    assert len(lrs) == 1 and 0 < lrs.pop() < 0.1


@pytest.mark.parametrize(
    "cfg",
    [
        LRScheduleConfig("cosine", warmup_steps=3, total_steps=20, min_lr=1e-3),
        LRScheduleConfig("linear", total_steps=12),
        LRScheduleConfig("step", warmup_steps=2, step_size=4, gamma=0.3),
    ],
)
def test_state_dict_round_trip_mid_way_continues_identically(cfg: LRScheduleConfig) -> None:
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_lr_scheduler(opt, cfg)
    for _ in range(7):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    q = nn.Parameter(torch.zeros(1))
    opt2 = torch.optim.SGD([q], lr=1.0)
    sched2 = build_lr_scheduler(opt2, cfg)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    a, b = [], []
    for _ in range(8):
        a.append(opt.param_groups[0]["lr"])
        b.append(opt2.param_groups[0]["lr"])
        opt.step(), sched.step(), opt2.step(), sched2.step()
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"name": "polynomial"}, "name"),
        ({"name": "cosine"}, "total_steps"),
        ({"name": "linear", "total_steps": 0}, "total_steps"),
        ({"name": "cosine", "warmup_steps": 5, "total_steps": 5}, "total_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"warmup_start_factor": 0.0}, "warmup_start_factor"),
        ({"warmup_start_factor": 1.5}, "warmup_start_factor"),
        ({"min_lr": -1.0}, "min_lr"),
        ({"end_factor": 1.5}, "end_factor"),
        ({"step_size": 0}, "step_size"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 2.0}, "gamma"),
    ],
)
def test_bad_schedule_config_names_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        LRScheduleConfig(**kwargs)


def test_bad_arguments() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(TypeError, match="config"):
        build_lr_scheduler(opt, {"name": "cosine"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimizer"):
        build_lr_scheduler(object(), LRScheduleConfig())  # type: ignore[arg-type]


@pytest.mark.parametrize("module", ["optim", "lr_schedule"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"contrastkit.train.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_optimizer_config_loads_from_a_plain_dict() -> None:
    cfg = from_dict(
        OptimizerConfig,
        {
            "name": "sgd",
            "lr": 0.1,
            "momentum": 0.9,
            "betas": [0.8, 0.9],
            "exclude_from_decay": ["bias"],
        },
    )
    assert cfg.betas == (0.8, 0.9) and cfg.exclude_from_decay == ("bias",)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"name": "lamb"}, "name"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"momentum": 1.0}, "momentum"),
        ({"dampening": -0.1}, "dampening"),
        ({"name": "sgd", "nesterov": True}, "nesterov"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"eps": 0.0}, "eps"),
        ({"exclude_from_decay": ("bias", "gain")}, "exclude_from_decay"),
        ({"sparse_optimizer": "lazy_adam"}, "sparse_optimizer"),
        ({"stabilize": 0}, "stabilize"),
        ({"clip_grad_norm": -1.0}, "clip_grad_norm"),
        ({"clip_grad_value": 0.0}, "clip_grad_value"),
    ],
)
def test_bad_optimizer_config_names_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        OptimizerConfig(**kwargs)


def test_bad_optimizer_params() -> None:
    with pytest.raises(ValueError, match="params"):
        build_optimizer(OptimizerConfig(), [])
    with pytest.raises(TypeError, match="config"):
        build_optimizer({"name": "adam"}, [nn.Parameter(torch.ones(1))])  # type: ignore[arg-type]
