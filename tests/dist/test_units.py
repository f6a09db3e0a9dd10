"""The parts of data parallelism that need no process group: the environment, the
per-rank seeds, the sampler, the config section, ``python -m contrastkit``."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from contrastkit.dist.env import DistEnv, env_from_variables
from contrastkit.dist.seeding import rank_seed
from contrastkit.train.config import load_config
from contrastkit.train.distributed_sampler import DistributedBatchSampler
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError
from tests.karate_mlp import karate_mlp_config

RENDEZVOUS = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_single_process_without_variables() -> None:
    assert env_from_variables({}) == DistEnv()
    assert env_from_variables({"WORLD_SIZE": "1"}) == DistEnv()


def test_env_read_from_variables() -> None:
    env = env_from_variables({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", **RENDEZVOUS})
    assert (env.rank, env.world_size, env.local_rank) == (3, 4, 1)
    assert env.backend == ("nccl" if torch.cuda.is_available() else "gloo")
    assert env.distributed and not env.is_main


def test_backend_override() -> None:
    environ = {"WORLD_SIZE": "2", "RANK": "1", **RENDEZVOUS}
    env = env_from_variables(environ, backend="gloo")
    assert env.backend == "gloo" and env.device == torch.device("cpu")
    with pytest.raises(ValueError, match="backend must be"):
        env_from_variables(environ, backend="mpi")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WORLD_SIZE": "2", **RENDEZVOUS}, "RANK"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR, MASTER_PORT"),
        ({"WORLD_SIZE": "2", "RANK": "2", **RENDEZVOUS}, "RANK=2 must be < WORLD_SIZE=2"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer, got 'two'"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be >= 1"),
        ({"WORLD_SIZE": "2", "RANK": "-1", **RENDEZVOUS}, "RANK must be >= 0"),
    ],
)
def test_bad_environment_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        env_from_variables(environ)


def test_rank_seeds() -> None:
    assert rank_seed(17, 0) == 17  # rank 0 (and one process) keeps the run's seed
    seeds = {rank_seed(s, r) for s in range(50) for r in range(8)}
    assert len(seeds) == 400  # no two (seed, rank) share a stream
    assert rank_seed(3, 5) == rank_seed(3, 5) < 2**63
    with pytest.raises(ValueError, match="rank"):
        rank_seed(3, -1)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    share=st.integers(1, 6),
    world=st.integers(1, 4),
    drop_last=st.booleans(),
    epoch=st.integers(0, 3),
)
def test_sampler_shares_make_the_global_batch(
    n: int, share: int, world: int, drop_last: bool, epoch: int
) -> None:
    batch = share * world
    if drop_last and n < batch:
        with pytest.raises(ConfigError, match="drop_last"):
            DistributedBatchSampler(n, batch, world, 0, seed=1, drop_last=drop_last)
        return
    samplers = [DistributedBatchSampler(n, batch, world, r, 1, drop_last) for r in range(world)]
    for s in samplers:
        s.set_epoch(epoch)
    perm = samplers[0].permutation()
    assert all(torch.equal(s.permutation(), perm) for s in samplers)  # no communication
    seen = []
    for t in range(samplers[0].batches_per_epoch):
        shares = [s.batch(perm, t) for s in samplers]
        assert all(x.numel() == share for x in shares)  # equal shapes on every rank
        assert torch.equal(torch.cat(shares), samplers[0].global_batch(perm, t))
        seen.append(torch.cat(shares))
    ids = torch.cat(seen)
    assert ids.unique().numel() == (n // batch * batch if drop_last else n)
    assert set(ids.tolist()) <= set(range(n))


def test_sampler_epochs_differ_and_repeat() -> None:
    s = DistributedBatchSampler(100, 10, 2, 1, seed=4)
    s.set_epoch(0)
    first = s.permutation()
    s.set_epoch(1)
    assert not torch.equal(s.permutation(), first)
    s.set_epoch(0)
    assert torch.equal(s.permutation(), first)


def test_batch_size_must_split_evenly() -> None:
    with pytest.raises(ConfigError, match="multiple of the number of processes"):
        DistributedBatchSampler(100, 9, 2, 0, seed=0)


def test_distributed_section(tmp_path: Path) -> None:
    config = karate_mlp_config(tmp_path, "distributed.gather=none", "distributed.drop_last=true")
    assert config.distributed.gather == "none" and config.distributed.drop_last
    # padding by default: as many steps per epoch as one process (ceil, not floor)
    assert not karate_mlp_config(tmp_path).distributed.drop_last
    assert DistributedBatchSampler(46, 16, 2, 0, seed=0).batches_per_epoch == 3
    assert DistributedBatchSampler(46, 16, 2, 0, seed=0, drop_last=True).batches_per_epoch == 2
    for bad in ("distributed.gather=everything", "distributed.timeout_s=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config(None, [bad])
    # the key reaches the objectives (and a single process ignores it otherwise)
    trainer = Trainer(karate_mlp_config(tmp_path, "distributed.gather=full"), tmp_path / "r")
    assert trainer.objectives["infonce"].gather == "full"
    assert trainer.parallel is None and trainer.sampler is None and trainer.is_main


def test_python_m_contrastkit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m contrastkit`` (what ``torchrun -m contrastkit`` runs) is the CLI."""
    monkeypatch.setattr(sys, "argv", ["contrastkit", "train", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("contrastkit", run_name="__main__")
    assert exit_info.value.code == 0
    assert "--config" in capsys.readouterr().out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), labelled=st.booleans())
def test_gathered_masks_equal_single_process_masks(seed: int, labelled: bool) -> None:
    """The gathered view's masks (by global ids) equal one process's masks: same
    positive, the anchor's own item among the candidates, same label, and pairs the
    batch's rule forbids (a text task's structural filter)."""
    from contrastkit.dist.in_batch import gather_in_batch
    from contrastkit.objectives.batch import Batch
    from contrastkit.objectives.entries_contrastive import (
        hard_negative_false_negatives,
        in_batch_false_negatives,
    )
    from contrastkit.objectives.gathered_losses import hard_negative_mask, in_batch_mask

    gen = torch.Generator().manual_seed(seed)
    b, k, n = 8, 2, 10  # few items: anchors recur as other rows' positives and negatives
    u, v = torch.randint(n, (b,), generator=gen), torch.randint(n, (b,), generator=gen)
    negatives = torch.randint(n, (b, k), generator=gen)
    mask = torch.rand(b, k, generator=gen) < 0.8

    def rule(a: Tensor, c: Tensor) -> Tensor:
        return (a.unsqueeze(1) + 2 * c.unsqueeze(0)) % 5 == 0

    batch = Batch.from_ids(u, v, negatives, mask, 0.1)
    if labelled:
        batch.labels = torch.randint(-1, 3, (n,), generator=gen)[batch.items]
    batch.false_negatives, batch.forbidden = rule(batch.items, batch.items), rule
    batch = batch.with_z(torch.randn(int(batch.items.numel()), 4, generator=gen))
    view = gather_in_batch(batch, "local", hard_negatives=True)
    off_diagonal = ~torch.eye(b, dtype=torch.bool)
    got = in_batch_mask(view, view.query)
    assert torch.equal(got, in_batch_false_negatives(batch) & off_diagonal)
    assert torch.equal(hard_negative_mask(view, view.query), hard_negative_false_negatives(batch))
