"""The negatives of the trainer's relation batches follow the miner's rule.

For every miner strategy a :class:`~contrastkit.train.trainer.Trainer` is built from a
config (``miner.strategy=<name>``, no burn-in) on the karate club and on the shipped
mammal closure, and its task draws one batch of random relations. Hypothesis varies
the seed, the batch, the negative count and the strategy's settings; every valid
slot of ``batch.relations.negatives`` must then be:

* never the anchor, never related to it (``trainer.task.graph.related``);
* ``category``: of another label than the anchor;
* ``khop``: at hop distance ``khop_min..khop_max`` in the symmetrised relations
  (an anchor with no such node: all its slots counted fallbacks);
* ``hardest`` / ``weighted`` (and ``mixed``'s hard share): in the anchor's pool
  ``sampler.pool[u]``, or one of the counted fallbacks;
* ``semi_hard``: in the pool and scored below the positive, or a fallback;
* ``cluster``: spread evenly over the k-means clusters, or a fallback's row.

Then the pool backends: ``memmap`` and ``faiss`` give the pool ``exact`` gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import shortest_path
from torch import Tensor

from contrastkit.graph.csr import has_edge
from contrastkit.mining.relation_sampler import STRATEGIES, RelationNegativeSampler
from contrastkit.train.config import load_config
from contrastkit.train.trainer import Trainer

BASE = [
    "task.kind=relations",
    "encoder.kind=mlp",
    "encoder.manifold=euclidean",
    "encoder.dim=8",
    "encoder.hidden=16",
    "objective.distance=cosine",
    "objective.temperature=0.5",
    "optim.name=adam",
    "optim.lr=0.01",
    "loop.burn_in_epochs=0",
    "loop.batch_size=16",
    "output.report=false",
    "loop.progress=false",
    "objectives={infonce: 1.0}",
]
DATASETS = ("karate", "mammals")
POOL_KINDS = ("hardest", "semi_hard", "weighted", "mixed")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trainer_negatives")


def _trainer(run_dir: Path, data: str, *extra: str) -> Trainer:
    config = load_config(
        None, [*BASE, f"data.name={data}", f"output.run_dir={run_dir / 'run'}", *extra]
    )
    return Trainer(config)


def _hops(related_edges: Tensor, num_nodes: int, anchors: Tensor) -> np.ndarray:
    """Hop distances ``[B, N]`` from ``anchors`` in the symmetrised relation graph."""
    e = related_edges.numpy()
    adj = sp.coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(num_nodes, num_nodes))
    return shortest_path(adj.tocsr(), directed=False, unweighted=True, indices=anchors.numpy())


def _pool_membership(pool: Tensor, u: Tensor, neg: Tensor) -> Tensor:
    """``[B, K]``: the negative is one of the anchor's pool entries (``-1``: empty slot)."""
    rows = pool[u]  # [B, P]
    return ((neg[:, :, None] == rows[:, None, :]) & (rows[:, None, :] >= 0)).any(-1)


def _repeats(neg: Tensor, mask: Tensor) -> Tensor:
    """``[B, K]``: a valid slot whose id an earlier valid slot of its row holds."""
    same = (neg[:, :, None] == neg[:, None, :]) & mask[:, :, None] & mask[:, None, :]
    earlier = torch.ones(neg.shape[1], neg.shape[1], dtype=torch.bool).tril(-1)
    return (same & earlier).any(-1)


def _settings(strategy: str, draw: Any) -> list[str]:
    extra = []
    if strategy in POOL_KINDS:
        extra.append(f"miner.pool_size={draw(st.integers(2, 60))}")
    if strategy == "weighted":
        extra.append(f"miner.weighted_alpha={draw(st.sampled_from([0.0, 1.0, 10.0]))}")
    if strategy == "mixed":
        extra.append(f"miner.hard_ratio={draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))}")
    if strategy == "cluster":
        extra.append(f"miner.num_clusters={draw(st.integers(1, 8))}")
    if strategy == "khop":
        low = draw(st.integers(2, 3))
        extra += [f"miner.khop_min={low}", f"miner.khop_max={low + draw(st.integers(0, 2))}"]
    return extra


@pytest.mark.parametrize("data", DATASETS)
@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**16),
    size=st.integers(1, 24),
    k=st.integers(1, 8),
    data_draw=st.data(),
)
def test_trainer_negatives_follow_the_miner(
    run_dir: Path,
    data: str,
    strategy: str,
    seed: int,
    size: int,
    k: int,
    data_draw: st.DataObject,
) -> None:
    extra = _settings(strategy, data_draw.draw)
    trainer = _trainer(
        run_dir,
        data,
        f"miner.strategy={strategy}",
        f"miner.num_negatives={k}",
        f"loop.seed={seed}",
        *extra,
    )
    task: Any = trainer.task
    miner = task.negatives.miner
    sampler: RelationNegativeSampler = task.negatives.sampler
    assert miner.strategy == strategy and sampler.fallbacks == 0
    graph = task.graph
    n = graph.num_nodes
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(task.num_examples(), generator=gen)[:size]
    batch = task.batch(idx, trainer.sample_context())
    fallbacks = sampler.fallbacks

    rel = batch.relations
    assert rel is not None
    u, v = rel.u, rel.v
    neg, mask = rel.negatives.per_anchor(), rel.negatives.mask
    b = u.numel()
    assert neg.shape == mask.shape == (b, k) and mask.dtype == torch.bool
    assert torch.equal(u, graph.train_edges[0, idx]) and torch.equal(v, graph.train_edges[1, idx])
    # the batch's rows are these ids
    assert torch.equal(batch.items[batch.anchor], u)
    assert torch.equal(batch.items[batch.positive], v)
    assert torch.equal(batch.mask, mask)
    assert torch.equal(batch.items[batch.negatives][mask], neg[mask])

    anchors = u[:, None].expand_as(neg)
    valid = neg[mask]
    assert bool(((valid >= 0) & (valid < n)).all())
    assert bool((valid != anchors[mask]).all()), "a negative is its anchor"
    related = has_edge(graph.related, anchors[mask], valid)
    assert not bool(related.any()), "a negative is related to its anchor"

    if strategy == "category":
        y = graph.graph.y
        assert bool((y[valid] != y[anchors[mask]]).all()), "a negative shares its anchor's label"
    elif strategy == "khop":
        dist = _hops(graph.related.to_edge_index(), n, u)  # [B, N]
        hop = torch.as_tensor(dist[np.arange(b)[:, None], neg.numpy()])  # [B, K]
        in_ring = (hop >= miner.khop_min) & (hop <= miner.khop_max)
        ring_size = torch.as_tensor(((dist >= miner.khop_min) & (dist <= miner.khop_max)).sum(1))
        empty = ring_size == 0
        assert bool(in_ring[~empty].all()), "a k-hop negative outside its ring"
        assert fallbacks == k * int(empty.sum())
    elif strategy in POOL_KINDS:
        pool = sampler.pool
        assert pool is not None and sampler.last_refresh == 0
        n_hard = k if strategy != "mixed" else round(miner.hard_ratio * k)
        hard, hard_mask = neg[:, :n_hard], mask[:, :n_hard]
        off_rule = hard_mask & ~_pool_membership(pool, u, hard)
        if strategy == "semi_hard":
            encoder, distance = trainer.encoder, trainer.distance
            encoder.eval()
            with torch.no_grad():
                z = encoder.embed_all()
            encoder.train()
            positive = distance.score_paired(z[u], z[v])  # [B]
            scores = distance.score_paired(z[u][:, None, :].expand(-1, n_hard, -1), z[hard])
            off_rule |= hard_mask & (scores >= positive[:, None] + 1e-5)
        # mined slots are distinct pool entries that keep the rule: a slot that breaks it
        # or repeats its row is a fallback (refilled uniformly), each one counted once
        suspicious = int((off_rule | _repeats(hard, hard_mask)).sum())
        assert suspicious <= fallbacks, (suspicious, fallbacks)
    elif strategy == "cluster":
        clusters = sampler.clusters
        assert clusters is not None
        groups = torch.unique(clusters).numel()
        assert groups <= miner.num_clusters
        unbalanced = 0
        for row, m in zip(neg, mask, strict=True):
            counts = torch.bincount(
                torch.unique(clusters, return_inverse=True)[1][row[m]], minlength=groups
            )
            unbalanced += int(counts.max() - counts.min() > 1)
        assert unbalanced <= fallbacks


def test_semi_hard_negatives_come_from_the_pool_below_the_positive(run_dir: Path) -> None:
    # the property above is not vacuous: here most slots are mined, few fall back
    trainer = _trainer(
        run_dir, "karate", "miner.strategy=semi_hard", "miner.num_negatives=3", "miner.pool_size=33"
    )
    task: Any = trainer.task
    batch = task.batch(torch.arange(32), trainer.sample_context())
    sampler = task.negatives.sampler
    total = int(batch.mask.numel())
    assert sampler.fallbacks < total // 2
    rel = batch.relations
    in_pool = _pool_membership(sampler.pool, rel.u, rel.negatives.per_anchor())
    assert int(in_pool.sum()) >= total - sampler.fallbacks


def _assert_same_pool(
    trainer: Trainer, ids: Tensor, scores: Tensor, exact_ids: Tensor, exact_scores: Tensor
) -> None:
    """``ids``/``scores`` are the exact pool up to the order of tied scores."""
    torch.testing.assert_close(scores, exact_scores, rtol=1e-5, atol=1e-5)
    encoder = trainer.encoder
    encoder.eval()
    with torch.no_grad():
        z = encoder.embed_all()  # what the refresh scanned: nothing has trained since
    encoder.train()
    anchors = torch.arange(ids.shape[0])[:, None].expand_as(ids)
    # every id holds the score the exact pool has at its rank
    rescored = trainer.distance.score_paired(z[anchors], z[ids])
    torch.testing.assert_close(rescored, exact_scores, rtol=1e-5, atol=1e-5)
    # and where the exact pool's neighbours are apart, it is the same id
    apart = exact_scores.diff(dim=1).abs() > 1e-5
    separated = torch.zeros_like(ids, dtype=torch.bool)
    separated[:, 1:-1] = apart[:, :-1] & apart[:, 1:]
    separated[:, 0] = apart[:, 0]
    assert torch.equal(ids[separated], exact_ids[separated])


@pytest.mark.parametrize(
    ("data", "distance", "budget"),
    [("karate", "cosine", 0), ("karate", "dot", 2048), ("mammals", "cosine", 65536)],
)
@pytest.mark.parametrize("backend", ["memmap", "faiss"])
def test_pool_backends_mine_the_exact_pool(
    run_dir: Path, data: str, distance: str, budget: int, backend: str
) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    pools: dict[str, tuple[Tensor, Tensor, Any]] = {}
    trainers: dict[str, Trainer] = {}
    for name in ("exact", backend):
        extra = [f"miner.memory_budget={budget}"] if budget else []
        trainer = _trainer(
            run_dir,
            data,
            "miner.strategy=hardest",
            "miner.num_negatives=4",
            "miner.pool_size=12",
            f"objective.distance={distance}",
            f"miner.pool_backend={name}",
            "loop.seed=3",
            *extra,
        )
        task: Any = trainer.task
        assert task.negatives.miner.pool_backend == name
        sampler = task.negatives.sampler
        assert sampler.pool is None
        batch = task.batch(torch.arange(16), trainer.sample_context())
        assert sampler.pool is not None and sampler.pool_scores is not None
        trainers[name] = trainer
        pools[name] = (sampler.pool.clone(), sampler.pool_scores.clone(), batch)
    ids, scores, batch = pools[backend]
    exact_ids, exact_scores, exact_batch = pools["exact"]
    assert ids.shape == exact_ids.shape == (trainers["exact"].task.num_items, 12)
    _assert_same_pool(trainers["exact"], ids, scores, exact_ids, exact_scores)
    if data == "karate":  # no tied scores: the very same pool, so the same negatives
        assert torch.equal(ids, exact_ids)
        negatives = batch.relations.negatives.per_anchor()
        assert torch.equal(negatives, exact_batch.relations.negatives.per_anchor())
