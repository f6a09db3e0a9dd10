"""Replay memory (DER / ER): only earlier tasks replayed, the configured mixing ratio,
targets equal to a brute-force recomputation, DER's term zero where its task ended,
the rows a replay step moves, state round trip, the validation split."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastkit.continual.learner import ContinualLearner
from contrastkit.continual.replay import ReplayMemory
from contrastkit.continual.stream import sbm_stream, validation_stream
from contrastkit.train.config import load_config
from contrastkit.typed_config import ConfigError
from tests.continual.test_learner import _weight, config


def _memory_with_two_tasks() -> tuple[ReplayMemory, torch.Generator]:
    gen = torch.Generator().manual_seed(0)
    mem = ReplayMemory(10, num_candidates=3)
    mem.add(torch.tensor([[0, 1], [2, 3], [4, 5]]), 0, gen)
    mem.add(torch.tensor([[6, 7], [8, 9]]), 1, gen)
    return mem, gen


def test_sample_draws_only_relations_of_earlier_tasks() -> None:
    mem, gen = _memory_with_two_tasks()
    assert mem.sample(5, before_task=0, generator=gen).numel() == 0
    slots = mem.sample(200, before_task=1, generator=gen)
    assert slots.shape == (200,) and set(mem.tasks[slots].tolist()) == {0}
    assert set(slots.tolist()) == {0, 1, 2}  # every task-0 relation, with replacement
    both = mem.sample(200, before_task=2, generator=gen)
    assert set(mem.tasks[both].tolist()) == {0, 1}
    assert mem.sample(0, before_task=2, generator=gen).numel() == 0


def test_record_gives_targets_to_its_task_only_and_equal_brute_force() -> None:
    mem, gen = _memory_with_two_tasks()
    z = torch.randn(10, 4, generator=gen)
    tau = 0.2

    def logits(rows: torch.Tensor) -> torch.Tensor:
        block = z[rows]
        return F.cosine_similarity(block[:, :1], block[:, 1:], dim=-1) / tau

    slots = mem.record(1, 10, logits, gen)
    assert slots.tolist() == [3, 4]
    assert (mem.targets[:3] == 0).all() and (mem.draws[:3] == 0).all()
    cand = mem.candidates(slots)
    assert cand.shape == (2, 3) and bool(((cand >= 0) & (cand < 10)).all())
    for i, s in enumerate(slots.tolist()):  # brute force, one relation and candidate at a time
        a, p = mem.buffer.items[s, :2].tolist()
        others = [p, *cand[i].tolist()]
        want = [float(F.cosine_similarity(z[a], z[c], dim=0)) / tau for c in others]
        assert mem.targets[s].tolist() == pytest.approx(want, abs=1e-6)
    # DER's term is zero where the targets were recorded, positive once rows move
    assert float(mem.score_loss(slots, logits)) == pytest.approx(0.0, abs=1e-12)
    z[mem.candidates(slots[:1])[0]] += 1.0
    assert float(mem.score_loss(slots, logits)) > 1e-3


def test_state_round_trip_and_bad_input() -> None:
    mem, gen = _memory_with_two_tasks()
    recorded = mem.record(0, 10, lambda rows: rows[:, 1:].float(), gen)
    other = ReplayMemory(10, num_candidates=3)
    other.load_state_dict(mem.state_dict())
    assert torch.equal(other.buffer.items, mem.buffer.items) and other.seen == 5
    assert torch.equal(other.targets, mem.targets)
    assert torch.equal(other.draws, mem.draws)
    assert torch.equal(other.candidates(recorded), mem.candidates(recorded))
    with pytest.raises(ValueError, match="3 candidates per relation, this memory 4"):
        ReplayMemory(10, num_candidates=4).load_state_dict(mem.state_dict())
    old = {k: v for k, v in mem.state_dict().items() if k != "draws"}
    old["candidates"] = torch.zeros(10, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match="start the run afresh"):
        other.load_state_dict(old)
    with pytest.raises(ValueError, match=r"edges must have shape \[B, 2\]"):
        mem.add(torch.zeros(2, 3, dtype=torch.int64), 0, gen)


@pytest.mark.parametrize(("ratio", "per_step"), [(0.25, 5), (0.5, 16), (0.75, 48)])
def test_mixing_ratio_and_no_replay_of_the_current_task(ratio: float, per_step: int) -> None:
    learner = ContinualLearner(
        config(
            "continual.num_tasks=3",
            "continual.passes=1",
            "continual.replay.buffer_size=30",
            f"continual.replay.ratio={ratio}",
        )
    )
    assert learner.buffer is not None
    memory = learner.buffer
    drawn: list[tuple[int, int, torch.Tensor]] = []
    sample, step = memory.sample, learner.train_step
    batch = [0]

    def spy(k: int, before_task: int, generator: torch.Generator) -> torch.Tensor:
        slots = sample(k, before_task, generator)
        drawn.append((learner.task, batch[0], memory.tasks[slots].clone()))
        return slots

    def step_spy(new: torch.Tensor) -> dict[str, float]:
        batch[0] = new.shape[0]
        return step(new)

    memory.sample = spy  # type: ignore[method-assign]
    learner.train_step = step_spy  # type: ignore[method-assign]
    learner.fit()
    # round(b * ratio / (1 - ratio)) replayed relations for b new ones (loop.batch_size
    # 16; a pass's last batch may be smaller)
    full = 0
    for task, b, tasks in drawn:
        if task == 0:
            assert tasks.numel() == 0  # nothing earlier to replay
        else:
            assert tasks.numel() == round(b * ratio / (1 - ratio))
            assert bool((tasks < task).all())
            full += b == 16 and tasks.numel() == per_step
    assert full > 10


def test_der_step_moves_the_replayed_rows_and_their_candidates_only() -> None:
    learner = ContinualLearner(
        config(
            "continual.num_tasks=2",
            "continual.replay.buffer_size=3",
            "continual.num_negatives=4",
            "optim.name=sgd",
            "optim.lr=1.0",
        )
    )
    assert learner.buffer is not None
    memory = learner.buffer
    learner._arrive(1)
    memory.add(torch.tensor([[3, 4], [5, 6], [7, 8]]), 0, learner.generator)
    # targets of 0 (the scores are not: a non-zero loss); candidates among rows 9..16
    # only, so that they are told apart from every other row
    memory.record(0, 8, lambda rows: torch.zeros(rows.shape[0], 5), learner.generator)
    drawn = memory.candidates
    memory.candidates = lambda slots: drawn(slots) + 9  # type: ignore[method-assign]
    learner.task = 1
    learner.blocks = lambda edges, gen: torch.tensor([[0, 1, 2, 2]])  # type: ignore[method-assign,assignment]
    picked: list[torch.Tensor] = []
    sample = memory.sample

    def spy(k: int, before_task: int, generator: torch.Generator) -> torch.Tensor:
        picked.append(sample(k, before_task, generator))
        return picked[-1]

    memory.sample = spy  # type: ignore[method-assign]
    before = _weight(learner).detach().clone()
    record = learner.train_step(torch.tensor([[0, 1]]))
    assert "loss/der" in record and "loss/er" not in record
    moved = (_weight(learner).detach() != before).any(1)
    claimed = torch.zeros_like(moved)
    claimed[[0, 1, 2]] = True  # the new relation's block
    claimed[memory.blocks(picked[0]).flatten()] = True  # replayed anchors, positives, candidates
    assert torch.equal(moved, claimed)


def test_replay_settings_refused() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        config("continual.replay.buffer_size=4", "continual.replay.alpha=0")
    with pytest.raises(ConfigError, match="beta"):
        config("continual.replay.beta=-1")


@pytest.mark.parametrize("undirected", [False, True])
def test_validation_stream_holds_out_training_relations_only(undirected: bool) -> None:
    stream = sbm_stream(3, 2, 8, p_in=0.7, seed=0)
    if not undirected:
        stream = type(stream)(
            [
                type(t)(t.name, t.nodes, t.train_edges[:, t.train_edges[0] < t.train_edges[1]],
                        t.test_edges)
                for t in stream.tasks
            ],
            stream.num_nodes,
            undirected=False,
        )  # fmt: skip
    val = validation_stream(stream, 0.25, seed=3)
    for old, new in zip(stream.tasks, val.tasks, strict=True):
        pairs = {tuple(e) for e in old.train_edges.T.tolist()}
        train = {tuple(e) for e in new.train_edges.T.tolist()}
        held = {tuple(e) for e in new.test_edges.T.tolist()}
        assert held and train | held <= pairs and not train & held
        assert not held & {tuple(e) for e in old.test_edges.T.tolist()}
        if undirected:  # neither direction of a held-out relation is trained
            assert not {(b, a) for a, b in held} & train
            assert len(train) + 2 * len(held) == len(pairs)
        else:
            assert len(train) + len(held) == len(pairs)


def test_der_with_a_5_percent_buffer_halves_forgetting_on_the_sbm_stream() -> None:
    # the SBM stream's defaults (5 tasks of 6 blocks of 10 nodes), trained longer
    e2e = [
        "continual.enabled=true",
        "continual.passes=10",
        "encoder.dim=8",
        "objective.temperature=0.2",
        "optim.name=adam",
        "optim.lr=0.05",
        "loop.batch_size=32",
        "loop.progress=false",
    ]
    small = ["continual.replay.buffer_fraction=0.05"]
    naive = ContinualLearner(load_config(None, e2e)).fit()
    der = ContinualLearner(load_config(None, [*e2e, *small, "continual.replay.alpha=30"])).fit()
    er = ContinualLearner(
        load_config(None, [*e2e, *small, "continual.replay.alpha=0", "continual.replay.beta=1"])
    ).fit()
    assert naive["forgetting"] > 0.05  # there is forgetting to cut
    assert der["forgetting"] < 0.5 * naive["forgetting"], (der, naive)
    assert der["forgetting"] < er["forgetting"] and der["acc"] > naive["acc"], (der, er)


def test_recorded_candidates_are_uniform_fixed_and_small_to_store() -> None:
    """The regenerated candidates: uniform over the rows arrived at record time
    (chi-square), the same on every read, independent across relations, and the memory
    far smaller than storing them."""
    gen = torch.Generator().manual_seed(0)
    mem = ReplayMemory(4000, num_candidates=51)
    mem.add(torch.randint(0, 37, (4000, 2), generator=gen), 0, gen)
    slots = mem.record(0, 37, lambda rows: torch.zeros(rows.shape[0], 52), gen)
    cand = mem.candidates(slots)
    assert torch.equal(cand, mem.candidates(slots))
    counts = torch.bincount(cand.flatten(), minlength=37).double()
    expected = cand.numel() / 37
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 67.0  # 36 degrees of freedom: p ~ 0.0013
    # a relation's draws do not repeat another's (distinct keys, distinct rows)
    assert torch.unique(cand, dim=0).shape[0] == cand.shape[0]
    stored = 4000 * (3 * 8 + 51 * 8 + 52 * 4)
    assert mem.nbytes() == 4000 * (3 * 8 + 2 * 8 + 52 * 4) < 0.4 * stored
