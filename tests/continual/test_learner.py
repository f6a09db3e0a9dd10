"""The continual learner on the fast SBM stream: kill and resume bit-identical
mid-stream, replay and EWC reduce forgetting, every strategy setting has its effect."""

from __future__ import annotations

import io
import re
import warnings

import pytest
import torch

from contrastkit.continual.growable import GrowableTable
from contrastkit.continual.learner import ContinualLearner
from contrastkit.train.config import TrainConfig, load_config
from contrastkit.typed_config import ConfigError

FAST = [
    "continual.enabled=true",
    "continual.num_tasks=4",
    "continual.passes=6",
    "encoder.dim=8",
    "objective.temperature=0.2",
    "optim.name=adam",
    "optim.lr=0.05",
    "loop.batch_size=16",
    "loop.progress=false",
]


# the SBM stream's own settings: set only for it, since another stream ignores them
# (and the suite makes an ignored setting an error)
FAST_SBM = ["continual.blocks_per_task=4", "continual.block_size=8", "continual.p_in=0.6"]


def config(*extra: str) -> TrainConfig:
    """The fast stream config with ``extra`` overrides (on the SBM stream, its small
    blocks unless ``extra`` names another ``continual.stream``)."""
    streams = [e.partition("=")[2] for e in extra if e.startswith("continual.stream=")]
    sbm = FAST_SBM if streams[-1:] in ([], ["sbm"]) else []
    return load_config(None, [*FAST, *sbm, *extra])


class Killed(Exception):
    pass


@pytest.mark.parametrize(
    "extra",
    [
        ["continual.replay.buffer_fraction=0.2", "continual.ewc.lambda_=10"],
        ["encoder.kind=mlp", "encoder.hidden=16", "continual.ewc.lambda_=10"],
    ],
    ids=["table-replay-ewc", "mlp-ewc"],
)
def test_kill_and_resume_bit_identical_mid_stream(extra: list[str]) -> None:
    cfg = config(*extra, "output.checkpoint_every=7")
    whole = ContinualLearner(cfg)
    whole.fit()
    saved: list[bytes] = []

    def checkpoint(learner: ContinualLearner) -> None:
        buf = io.BytesIO()
        torch.save(learner.state_dict(), buf)
        saved.append(buf.getvalue())
        if learner.task == 2 and learner.batch > 0:  # killed inside the third task
            raise Killed

    with pytest.raises(Killed):
        ContinualLearner(cfg).fit(checkpoint=checkpoint)
    resumed = ContinualLearner(cfg)
    resumed.load_state_dict(torch.load(io.BytesIO(saved[-1]), weights_only=True))
    assert resumed.task == 2 and 0 < resumed.batch  # mid-stream, mid-task
    resumed.fit()
    for (name, a), b in zip(
        whole.encoder.state_dict().items(), resumed.encoder.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert torch.equal(whole.r, resumed.r)
    assert whole.final_metrics == resumed.final_metrics


# the SBM stream's defaults (5 tasks of 6 blocks of 10 nodes), trained longer
E2E = [
    "continual.enabled=true",
    "continual.passes=10",
    "encoder.dim=8",
    "objective.temperature=0.2",
    "optim.name=adam",
    "optim.lr=0.05",
    "loop.batch_size=32",
    "loop.progress=false",
]


def test_replay_and_ewc_reduce_forgetting() -> None:
    naive = ContinualLearner(load_config(None, E2E))
    m_naive = naive.fit()
    assert m_naive["forgetting"] > 0.05  # later tasks' negatives really push earlier rows
    m_replay = ContinualLearner(
        load_config(None, [*E2E, "continual.replay.buffer_fraction=0.5"])
    ).fit()
    m_ewc = ContinualLearner(load_config(None, [*E2E, "continual.ewc.lambda_=100"])).fit()
    for m in (m_replay, m_ewc):
        assert m["forgetting"] < 0.5 * m_naive["forgetting"], (m, m_naive)
        assert m["bwt"] > m_naive["bwt"]
    # the first task was learnt: well above its untrained baseline
    assert float(naive.r[0, 0]) > float(naive.baseline[0]) + 0.2


def test_settings_have_their_effect() -> None:
    joint = ContinualLearner(config("continual.joint=true"))
    assert joint.examples(2).shape[0] == sum(
        int(t.train_edges.shape[1]) for t in joint.stream.tasks[:3]
    )
    naive = ContinualLearner(config())
    assert naive.examples(2).shape[0] == int(naive.stream.tasks[2].train_edges.shape[1])
    assert naive.buffer is None and naive.ewc is None
    replay = ContinualLearner(config("continual.replay.buffer_size=33"))
    assert replay.buffer is not None and replay.buffer.capacity == 33
    total = sum(int(t.train_edges.shape[1]) for t in replay.stream.tasks)
    frac = ContinualLearner(config("continual.replay.buffer_fraction=0.05"))
    assert frac.buffer is not None and frac.buffer.capacity == round(0.05 * total)
    # local steps: each arriving batch takes that many optimiser steps
    one = ContinualLearner(config("continual.num_tasks=1", "continual.passes=1"))
    three = ContinualLearner(
        config("continual.num_tasks=1", "continual.passes=1", "continual.local_steps=3")
    )
    for learner in (one, three):
        learner.fit()
    steps = [learner.optimizer.state[_weight(learner)]["step"] for learner in (one, three)]
    assert float(steps[1]) == 3 * float(steps[0])


def _weight(learner: ContinualLearner) -> torch.Tensor:
    assert isinstance(learner.encoder, GrowableTable)
    return learner.encoder.weight


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("continual.joint=true", "joint"),
        ("objective.distance=poincare", "distance"),
    ],
)
def test_bad_settings_refused(override: str, match: str) -> None:
    extra = [override]
    if "joint" in override:
        extra.append("continual.replay.buffer_fraction=0.1")
    with pytest.raises(ConfigError, match=match):
        if "poincare" in override:
            ContinualLearner(config(*extra, "encoder.manifold=euclidean"))
        else:
            config(*extra)


@pytest.mark.parametrize("push", [False, True])
def test_er_replayed_relations_push_their_negatives_only_if_asked(push: bool) -> None:
    learner = ContinualLearner(
        config(
            "continual.replay.buffer_size=4",
            "continual.replay.alpha=0",
            "continual.replay.beta=1",
            f"continual.replay.push_negatives={str(push).lower()}",
            "optim.name=sgd",
            "optim.lr=1.0",
        )
    )
    learner._arrive(1)
    learner.task = 1  # replay draws relations of earlier tasks
    assert learner.buffer is not None
    learner.buffer.add(torch.tensor([[3, 4]]), 0, learner.generator)
    # a new relation (0, 1) with negatives 2, 2 and the replayed (3, 4) with 5, 5
    blocks = iter([torch.tensor([[0, 1, 2, 2]]), torch.tensor([[3, 4, 5, 5]])])
    learner.blocks = lambda edges, gen: next(blocks)  # type: ignore[method-assign,assignment]
    before = _weight(learner).detach().clone()
    learner.train_step(torch.tensor([[0, 1]]))
    moved = (_weight(learner).detach() != before).any(1)
    assert moved[[0, 1, 2, 3, 4]].all()  # anchors, positives and the new relation's negative
    assert bool(moved[5]) == push
    assert not moved[6:].any()


def test_more_negatives_than_the_first_tasks_other_nodes_warns_with_both_numbers() -> None:
    # sbm: the first task's 4 blocks of 8 nodes arrive first, so 31 distinct negatives
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the boundary
        learner = ContinualLearner(config("continual.num_negatives=31"))
    assert int(learner.stream.tasks[0].nodes.unique().numel()) == 32
    message = (
        "continual.num_negatives is 32, more than the 31 negatives an anchor of the "
        "first task's 32 nodes can have"
    )
    with pytest.warns(UserWarning, match=re.escape(message)):
        ContinualLearner(config("continual.num_negatives=32"))
