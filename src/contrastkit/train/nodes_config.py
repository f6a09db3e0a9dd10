"""Settings of the ``nodes`` task (``task.kind: nodes``): a featured graph under a GNN.

Example (YAML)::

    task: {kind: nodes}
    nodes:
      sampler: neighbor        # full | neighbor | layerwise | cluster
      fanouts: [10, 10]        # one per encoder layer (neighbor)
      num_negatives: 5         # uniform non-edges per training edge
      features: noisy_labels   # graph | identity | noisy_labels
      label_fraction: 0.1      # nodes whose labels a node_classification head sees

Checks that need the rest of the run (``fanouts`` against ``encoder.layers``, a
labelled graph for ``noisy_labels``) are made by
:class:`~contrastkit.train.node_task.NodeTask`, naming both keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from contrastkit.typed_config import config_fail

NodeSampler = Literal["full", "neighbor", "layerwise", "cluster"]
PartitionName = Literal["auto", "metis", "spectral"]
NodeFeatures = Literal["graph", "identity", "noisy_labels"]


@dataclass
class NodesConfig:
    """How the ``nodes`` task batches the graph and evaluates (see :mod:`.node_task`).

    Attributes:
        sampler: ``full`` — every step encodes the whole training graph; ``neighbor`` —
            a GraphSAGE-style subgraph around the batch's nodes, ``fanouts[l]`` sampled
            in-neighbours per node at layer ``l`` (:func:`~contrastkit.graph.neighbor_sample`);
            ``layerwise`` — a LADIES subgraph with ``layer_sizes[l]`` nodes per layer
            (:func:`~contrastkit.graph.layerwise_sample`); ``cluster`` — Cluster-GCN: the
            graph is partitioned once into ``num_parts`` clusters, an example is a
            cluster and ``loop.batch_size`` counts the clusters a batch merges (PyG's
            ``ClusterLoader(batch_size=...)``); the batch is every node of its
            clusters, every training edge between them a positive
            (:class:`~contrastkit.graph.cluster_loader.ClusterData`).
        fanouts: neighbour fan-out per GNN layer (``-1``: all neighbours); as many
            entries as ``encoder.layers``.
        layer_sizes: node budget per GNN layer of the layer-wise sampler; as many
            entries as ``encoder.layers``.
        num_negatives: uniform non-neighbours drawn per training edge (a curriculum's
            stage count replaces it while ``schedule.curriculum`` is on).
        features: the node features ``x [N, F]`` the encoder reads — ``graph``: the
            dataset's own (one-hot identity when it has none, as the encoders do);
            ``identity``: one-hot identity ``[N, N]``; ``noisy_labels``: derived from
            the node labels (an SBM's planted blocks), ``feature_signal`` times the
            one-hot label plus standard normal noise, followed by
            ``feature_noise_dims`` pure-noise columns, ``[N, C + noise_dims]``, drawn
            from ``loop.seed``. A weak ``feature_signal`` leaves the structure to the
            GNN: the raw features alone recover few labels.
        feature_signal: scale of the one-hot label in ``noisy_labels`` features (>= 0).
        feature_noise_dims: extra pure-noise columns of ``noisy_labels`` features (>= 0).
        label_fraction: share of nodes, a fixed random subset drawn from ``loop.seed``,
            whose labels the batches carry (``label_mask``; the others are ``-1``): what
            a ``node_classification`` objective trains on. The probe evaluates on the
            other nodes.
        hnsw_k: neighbours of the search-quality metric ``search/hnsw_recall@k``.
        num_parts: clusters of the ``cluster`` sampler (>= 1, <= the nodes).
        partition: its partitioner, ``auto`` (METIS when ``pymetis`` imports, else
            spectral), ``metis`` or ``spectral``
            (:func:`~contrastkit.graph.partitioning.partition`, seeded by ``loop.seed``).
    """

    sampler: NodeSampler = "full"
    fanouts: list[int] = field(default_factory=lambda: [10, 10])
    layer_sizes: list[int] = field(default_factory=lambda: [256, 256])
    num_negatives: int = 5
    features: NodeFeatures = "graph"
    feature_signal: float = 1.0
    feature_noise_dims: int = 16
    label_fraction: float = 0.1
    hnsw_k: int = 10
    num_parts: int = 32
    partition: PartitionName = "auto"

    def __post_init__(self) -> None:
        if not self.fanouts:
            config_fail("nodes.fanouts", "must name one fan-out per encoder layer, got []")
        bad = [f for f in self.fanouts if f == 0 or f < -1]
        if bad:
            config_fail("nodes.fanouts", f"must be > 0 (or -1: all neighbours), got {self.fanouts}")
        if not self.layer_sizes:
            config_fail("nodes.layer_sizes", "must name one node budget per encoder layer, got []")
        if any(s <= 0 for s in self.layer_sizes):
            config_fail("nodes.layer_sizes", f"must all be > 0, got {self.layer_sizes}")
        if self.num_negatives <= 0:
            config_fail("nodes.num_negatives", f"must be > 0, got {self.num_negatives}")
        if not self.feature_signal >= 0.0 or self.feature_signal == float("inf"):
            config_fail(
                "nodes.feature_signal", f"must be finite and >= 0, got {self.feature_signal}"
            )
        if self.feature_noise_dims < 0:
            config_fail("nodes.feature_noise_dims", f"must be >= 0, got {self.feature_noise_dims}")
        if not 0.0 <= self.label_fraction <= 1.0:
            config_fail("nodes.label_fraction", f"must be in [0, 1], got {self.label_fraction}")
        if self.hnsw_k <= 0:
            config_fail("nodes.hnsw_k", f"must be > 0, got {self.hnsw_k}")
        if self.num_parts <= 0:
            config_fail("nodes.num_parts", f"must be > 0, got {self.num_parts}")
