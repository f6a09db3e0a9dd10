"""The ``nodes`` task under ``nodes.sampler: cluster`` (Cluster-GCN): a batch is its
clusters' nodes with every message edge between them, the positives its training edges;
it trains (held-out link AUC and the block probe far above the untrained encoder); the
settings have their effect and inconsistent ones are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.graph.csr import has_edge
from contrastkit.graph.partitioning import metis_available, partition
from contrastkit.train.config import DEFAULT_RECIPE, TrainConfig, load_config, resume_config
from contrastkit.train.node_task import NodeTask
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from contrastkit.typed_config import ConfigError

# a featured SBM of 400 nodes in 4 blocks: 8 clusters, 4 merged per batch
SMALL = [
    "task.kind=nodes",
    "data.name=sbm",
    "data.sbm_nodes=400",
    "data.sbm_blocks=4",
    "data.sbm_p_in=0.1",
    "data.sbm_p_out=0.005",
    "data.test_fraction=0.1",
    "nodes.sampler=cluster",
    "nodes.num_parts=8",
    "nodes.partition=spectral",
    "nodes.features=noisy_labels",
    "nodes.num_negatives=4",
    "encoder.kind=gnn",
    "encoder.manifold=euclidean",
    "encoder.dim=16",
    "encoder.hidden=32",
    "objective.distance=cosine",
    "objective.temperature=0.5",
    "objectives={infonce: 1.0}",
    "optim.name=adam",
    "optim.lr=0.01",
    "optim.lr_schedule=constant",
    "loop.burn_in_epochs=0",
    "loop.batch_size=4",
    "loop.log_every=1",
    "loop.progress=false",
    "output.report=false",
]


def _config(tmp_path: Path, *overrides: str) -> TrainConfig:
    return load_config(DEFAULT_RECIPE, [*SMALL, f"output.run_dir={tmp_path}", *overrides])


def test_cluster_batches_are_whole_clusters_with_every_edge_between_them(tmp_path: Path):
    trainer = Trainer(_config(tmp_path, "loop.epochs=1"))
    task = trainer.task
    assert isinstance(task, NodeTask) and task.clusters is not None
    assert task.num_examples() == 8  # an example is a cluster
    clusters = torch.tensor([5, 2, 7])
    batch = task.batch(clusters, trainer.sample_context())
    parts = task.clusters.parts
    inside = torch.isin(parts, clusters)
    items = batch.items
    assert sorted(items.tolist()) == torch.nonzero(inside).flatten().tolist()
    # message edges: exactly those of the training graph with both ends in the batch
    ei = task.edge_index
    want = sorted(map(tuple, ei[:, inside[ei[0]] & inside[ei[1]]].t().tolist()))
    assert batch.encoder_input is batch.edges and batch.edges is not None
    assert sorted(map(tuple, items[batch.edges].t().tolist())) == want
    # positives: exactly the training edges between the batch's nodes
    tr = task.graph.train_edges
    want_pos = sorted(map(tuple, tr[:, inside[tr[0]] & inside[tr[1]]].t().tolist()))
    got_pos = torch.stack([items[batch.anchor], items[batch.positive]])
    assert sorted(map(tuple, got_pos.t().tolist())) == want_pos
    # negatives: nodes of the batch, real ones neither the anchor nor related to it
    assert batch.negatives.shape == (batch.anchor.numel(), 4)
    neg = items[batch.negatives][batch.mask]
    anchors = items[batch.anchor].unsqueeze(1).expand_as(batch.negatives)[batch.mask]
    assert not bool((neg == anchors).any())
    assert not bool(has_edge(task.message_csr, anchors, neg).any())
    assert float(batch.mask.float().mean()) > 0.5
    assert batch.features is not None and torch.equal(batch.features, task.x[items])


def test_cluster_training_learns_links_and_blocks(tmp_path: Path):
    """An end-to-end run an untrained encoder fails: held-out link AUC and the block
    probe. (The neighbour sampler on this graph reaches AUC ~0.80, probe 1.0.)"""
    config = _config(tmp_path, "loop.epochs=20", "eval.every_epochs=20")
    untrained = Trainer(config)
    before = untrained.task.evaluate(untrained.encoder, untrained.distance)
    after = train(config).final_metrics
    assert before["test/auc"] < 0.65 and before["test/probe_accuracy"] < 0.7, before
    assert after["test/auc"] >= 0.75, after
    assert after["test/probe_accuracy"] >= 0.9, after


def test_a_resumed_cluster_run_continues_bit_identically(tmp_path: Path):
    """The clusters are the same after a restart (seeded partition) and the in-batch
    negatives come from the run's checkpointed generator."""
    train(_config(tmp_path / "a", "loop.epochs=2", "eval.every_epochs=2"))
    resumed = train(resume_config(tmp_path / "a", ["loop.epochs=3"]), resume=True)
    straight = train(_config(tmp_path / "b", "loop.epochs=3", "eval.every_epochs=2"))
    assert resumed.final_metrics == straight.final_metrics
    for key, value in straight.encoder.state_dict().items():
        assert torch.equal(resumed.encoder.state_dict()[key], value), key


def test_the_partition_settings_take_effect(tmp_path: Path):
    trainer = Trainer(_config(tmp_path, "nodes.num_parts=10", "loop.epochs=1"))
    task = trainer.task
    assert isinstance(task, NodeTask) and task.clusters is not None
    assert task.num_examples() == 10 and task.clusters.num_parts == 10
    assert trainer.batches_per_epoch == 3  # loop.batch_size 4 clusters: 4 + 4 + 2
    expected = partition(task.edge_index, task.num_items, 10, method="spectral", seed=0)
    assert torch.equal(task.clusters.parts, expected)
    if metis_available():
        metis = Trainer(_config(tmp_path / "m", "nodes.partition=metis")).task
        assert isinstance(metis, NodeTask) and metis.clusters is not None
        want = partition(task.edge_index, task.num_items, 8, method="metis", seed=0)
        assert torch.equal(metis.clusters.parts, want)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["loop.batch_size=9"], "loop.batch_size"),
        (["nodes.num_parts=401", "loop.batch_size=4"], "nodes.num_parts"),
        (["nodes.num_parts=0"], "nodes.num_parts"),
        (["nodes.partition=kmeans"], "nodes.partition"),
        (["encoder.kind=mlp"], "nodes.sampler"),
    ],
)
def test_inconsistent_settings_are_refused_by_name(tmp_path: Path, overrides, key):
    with pytest.raises(ConfigError, match=key):
        Trainer(_config(tmp_path, *overrides))


def test_metis_without_pymetis_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("contrastkit.train.node_task.metis_available", lambda: False)
    with pytest.raises(ConfigError, match=r"nodes.partition.*pip install pymetis"):
        Trainer(_config(tmp_path, "nodes.partition=metis"))
