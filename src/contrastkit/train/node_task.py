"""The ``nodes`` task: a featured graph under a GNN, full-graph or in sampled mini-batches.

The examples an epoch permutes are the training edges ``(u, v)`` of
:func:`~contrastkit.train.task.build_task` (with ``data.test_fraction > 0`` the
held-out edges are never seen: neither as examples nor as message-passing edges).
A batch of ``B`` of them gets ``K`` uniform non-neighbours per edge
(:class:`~contrastkit.mining.relation_sampler.RelationNegativeSampler` over the
training relations, the run's generator; ``K = nodes.num_negatives``, or the
curriculum stage's count) and is laid out by ``nodes.sampler``:

* ``full`` — ``items = arange(N)``: the encoder runs over the whole training graph
  (``encoder_input=None``), ``edges`` is the whole training graph ``[2, E]``;
* ``neighbor`` / ``layerwise`` — the batch's distinct nodes ``u``, ``v`` and negatives
  are the seeds of a subgraph sampled around them
  (:func:`~contrastkit.graph.neighbor_sample` with ``nodes.fanouts``,
  :func:`~contrastkit.graph.layerwise_sample` with ``nodes.layer_sizes``, both
  vectorised, drawn from the run's generator): ``items`` its nodes ``[U]`` (seeds
  first), ``encoder_input`` and ``edges`` its edges in local ids ``[2, E_s]`` (for
  layer-wise sampling the union of the layers' edges); a GNN of ``encoder.layers``
  layers then computes the seeds' rows from their sampled neighbourhoods;
* ``cluster`` — Cluster-GCN (Chiang et al., 2019): the training graph is partitioned
  once into ``nodes.num_parts`` clusters (:func:`~contrastkit.graph.partitioning.partition`,
  ``nodes.partition``, seeded by ``loop.seed``) and an example is a cluster: a batch of
  ``B = loop.batch_size`` clusters is every node of them (``items [U]``) with every
  message-passing edge between them (``encoder_input`` and ``edges``, local ids; edges
  between two clusters of the batch kept), and every training edge ``(u, v)`` between
  them a positive, with ``K`` uniform negatives among the batch's nodes (masked where
  related to ``u`` or ``u`` itself). The encoder never reads a node outside the batch.

Every batch also carries ``features = x[items]`` (what ``feature_reconstruction``
decodes to) and, on a labelled graph, ``labels`` (``-1`` outside a fixed random
``nodes.label_fraction`` of the nodes) with ``label_mask`` (what a
``node_classification`` head trains on). ``nodes.features`` chooses ``x``: the
dataset's, one-hot identity, or noisy one-hot labels (an SBM has no features of its
own: :class:`~contrastkit.train.nodes_config.NodesConfig`).

The evaluation (:meth:`NodeTask.evaluate`) embeds every node over the training graph:

* ``test/auc``, ``test/ap`` — link prediction of the held-out edges against the
  split's non-edges (with a split);
* ``test/probe_accuracy``, ``test/probe_macro_f1`` — a logistic-regression probe of the
  labels on a stratified held-out split of the nodes outside ``label_mask``;
* ``search/hnsw_recall@k`` — search quality: the share of every node's exact ``k``
  nearest neighbours that a FAISS HNSW index (``IndexHNSWFlat``, M 16, efSearch 64,
  FAISS' fixed level seed, built on one thread) returns (absent without ``faiss`` or
  for a distance FAISS has no metric for).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import Tensor

from contrastkit.eval.link_prediction import link_prediction_metrics
from contrastkit.eval.neighbors import exact_knn, knn_recall
from contrastkit.eval.probe import logistic_probe
from contrastkit.functional.distances import Distance
from contrastkit.graph.cluster_loader import ClusterData
from contrastkit.graph.csr import CSR, has_edge, to_csr
from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.partitioning import metis_available, partition
from contrastkit.graph.sampling import neighbor_sample, sampling_csr
from contrastkit.mining.pool_scan import FAISS_DISTANCES
from contrastkit.mining.relation_sampler import RelationNegativeSampler
from contrastkit.objectives.batch import Batch
from contrastkit.train.config import TrainConfig
from contrastkit.train.encoders import EncoderInputs, NodeEncoder
from contrastkit.train.graph_backed import GraphBackedTask
from contrastkit.train.negative_count import warn_repeated_negatives
from contrastkit.train.task import GraphTask, build_task
from contrastkit.train.task_base import SampleContext
from contrastkit.typed_config import config_fail

MAX_VALIDATION_EDGES = 4096
HNSW_M = 16
HNSW_EF_SEARCH = 64
MAX_SEARCH_QUERIES = 10_000
# seed offsets of the task's own fixed draws (never the run's generator)
_FEATURE_SEED, _LABEL_SEED, _VALIDATION_SEED, _SEARCH_SEED = 7, 11, 1, 13


class NodeTask(GraphBackedTask):
    """Training edges of a featured graph as examples, encoded by a (sampled) GNN.

    Args:
        config: the run's config (``data``, ``nodes``, ``encoder``, ``loop.seed``).
        generator: the run's generator: negatives and subgraph sampling draw from it.
        graph: an already built :class:`~contrastkit.train.task.GraphTask` (default:
            ``build_task(config.data, seed=config.loop.seed, hierarchy=config.hierarchy)``).

    Attributes:
        x: ``[N, F]`` float node features (``nodes.features``).
        edge_index: ``[2, E]`` the message-passing graph: the training edges in both
            directions, duplicates merged.
        label_mask: ``[N]`` bool, the nodes whose labels batches carry (``None``
            without labels); ``batch_labels`` ``[N]`` their labels, ``-1`` elsewhere.

    Raises:
        ConfigError: naming the keys of an inconsistent setting (``nodes.fanouts`` or
            ``nodes.layer_sizes`` against ``encoder.layers``, ``nodes.sampler`` against
            ``encoder.kind``, ``nodes.features``, ``nodes.label_fraction``,
            ``miner_stages``).
    """

    kind = "nodes"

    def __init__(
        self, config: TrainConfig, generator: torch.Generator, graph: GraphTask | None = None
    ) -> None:
        self.config = config
        self.settings = config.nodes
        self.generator = generator
        self.graph = (
            graph
            if graph is not None
            else build_task(config.data, seed=config.loop.seed, hierarchy=config.hierarchy)
        )
        n = self.graph.num_nodes
        y = self.graph.graph.y
        self._check(config, y)
        warn_repeated_negatives("nodes.num_negatives", self.settings.num_negatives, n)
        seed = config.loop.seed
        # message passing over the training edges only, both directions, merged
        self.edge_index = self.message_edges(self.graph.train_edges, n)  # [2, E]
        self.message_csr: CSR = to_csr(self.edge_index, n)  # already symmetric and merged
        self.sampling = sampling_csr(self.edge_index, n)  # in-neighbours (symmetric here)
        self.x = self._features(seed)  # [N, F]
        self.label_mask: Tensor | None = None  # [N] bool
        self.batch_labels: Tensor | None = None  # [N] long, -1 outside label_mask
        if y is not None:
            gen = torch.Generator().manual_seed(seed + _LABEL_SEED)
            count = round(self.settings.label_fraction * n)
            mask = torch.zeros(n, dtype=torch.bool)
            mask[torch.randperm(n, generator=gen)[:count]] = True
            self.label_mask = mask
            self.batch_labels = torch.where(mask, y.long(), -1)
        self.sampler = RelationNegativeSampler(self.graph.related, generator=generator)
        # Cluster-GCN: the clusters of the message graph and of the training edges
        self.clusters: ClusterData | None = None
        self.train_clusters: ClusterData | None = None
        if self.settings.sampler == "cluster":
            self._partition(seed)

    def _partition(self, seed: int) -> None:
        """Partition the message graph once into ``nodes.num_parts`` clusters and group
        the message edges and the training edges by them; one line on stderr says how
        many message edges stay inside a cluster (what one-cluster batches keep)."""
        s, n = self.settings, self.graph.num_nodes
        method = s.partition
        if method == "auto":
            method = "metis" if metis_available() else "spectral"
        parts = partition(self.edge_index, n, s.num_parts, method=method, seed=seed)
        self.clusters = ClusterData(self.edge_index, n, s.num_parts, parts=parts)
        self.train_clusters = ClusterData(self.graph.train_edges, n, s.num_parts, parts=parts)
        self.lineage = self.graph.lineage()  # pairs a negative must not be, both directions
        print(
            f"contrastkit: nodes.sampler 'cluster': {s.num_parts} clusters ({method}), "
            f"{100 * self.clusters.intra_share:.1f} % of the message edges inside a cluster",
            file=sys.stderr,
        )

    # ---- checks and features --------------------------------------------------------
    def _check(self, config: TrainConfig, y: Tensor | None) -> None:
        s, enc = config.nodes, config.encoder
        if s.sampler != "full" and enc.kind != "gnn":
            config_fail(
                "nodes.sampler",
                f"{s.sampler!r} samples message-passing subgraphs for encoder.kind 'gnn', "
                f"got encoder.kind {enc.kind!r} (use nodes.sampler 'full')",
            )
        if s.sampler == "neighbor" and len(s.fanouts) != enc.layers:
            config_fail(
                "nodes.fanouts",
                f"must give one fan-out per GNN layer: {s.fanouts} has {len(s.fanouts)} "
                f"entries but encoder.layers is {enc.layers}",
            )
        if s.sampler == "layerwise" and len(s.layer_sizes) != enc.layers:
            config_fail(
                "nodes.layer_sizes",
                f"must give one node budget per GNN layer: {s.layer_sizes} has "
                f"{len(s.layer_sizes)} entries but encoder.layers is {enc.layers}",
            )
        if s.sampler == "cluster":
            if s.num_parts > self.graph.num_nodes:
                config_fail(
                    "nodes.num_parts",
                    f"must be <= the graph's {self.graph.num_nodes} nodes, got {s.num_parts}",
                )
            if config.loop.batch_size > s.num_parts:
                config_fail(
                    "loop.batch_size",
                    f"counts clusters per batch under nodes.sampler 'cluster' and must be "
                    f"<= nodes.num_parts {s.num_parts}, got {config.loop.batch_size}",
                )
            if s.partition == "metis" and not metis_available():
                config_fail(
                    "nodes.partition",
                    "'metis' needs the PyPI package pymetis (pip install pymetis, or the "
                    "'partition' extra); use 'spectral' or 'auto'",
                )
        if config.miner_stages:
            config_fail(
                "miner_stages",
                "do not apply to task.kind 'nodes' (it draws nodes.num_negatives uniform "
                "negatives); remove them",
            )
        if s.features == "noisy_labels" and y is None:
            config_fail(
                "nodes.features",
                f"'noisy_labels' needs a graph with node labels; data.name "
                f"{config.data.name!r} has none",
            )
        if "node_classification" in config.objective_weights():
            if y is None:
                config_fail(
                    "objectives.node_classification",
                    f"needs node labels; data.name {config.data.name!r} has none",
                )
            if round(s.label_fraction * self.graph.num_nodes) == 0:
                config_fail(
                    "nodes.label_fraction",
                    f"labels no node ({s.label_fraction} of {self.graph.num_nodes}); "
                    "objectives.node_classification needs some",
                )

    def _features(self, seed: int) -> Tensor:
        """The node features ``x [N, F]`` of ``nodes.features`` (float32)."""
        s, n = self.settings, self.graph.num_nodes
        graph = self.graph.graph
        if s.features == "graph" and graph.x is not None:
            return graph.x.float()
        if s.features != "noisy_labels":
            return torch.eye(n)
        y = graph.y
        if y is None:  # _check refused it already; keeps mypy honest
            config_fail("nodes.features", "'noisy_labels' needs a graph with node labels")
        classes = int(y.max()) + 1
        gen = torch.Generator().manual_seed(seed + _FEATURE_SEED)
        signal = torch.zeros(n, classes + s.feature_noise_dims)
        signal[torch.arange(n), y.long()] = s.feature_signal
        return signal + torch.randn(signal.shape, generator=gen)

    # ---- the Task interface -------------------------------------------------------
    def num_examples(self) -> int:
        """Training edges, or clusters under ``nodes.sampler`` ``cluster``."""
        if self.clusters is not None:
            return self.clusters.num_parts
        return int(self.graph.train_edges.shape[1])

    def encoder_inputs(self) -> EncoderInputs:
        """``N``, ``x [N, F]`` and the symmetric training graph ``[2, E]``."""
        return EncoderInputs(self.num_items, self.x, self.edge_index)

    def batch(self, idx: Tensor, ctx: SampleContext) -> Batch:
        """Training edges ``idx [B]`` with ``K`` uniform negatives each, over the whole
        graph (``full``) or a subgraph sampled around their nodes; under ``cluster``
        ``idx`` are clusters (module docstring)."""
        k = ctx.num_negatives if ctx.num_negatives is not None else self.settings.num_negatives
        if self.clusters is not None:
            return self._annotate(self.cluster_batch(idx, k, ctx.temperature))
        u, v = self.graph.train_edges[0, idx], self.graph.train_edges[1, idx]
        negatives, mask = self.sampler.sample(u, k, "uniform")  # [B, K] global ids
        b = u.numel()
        if self.settings.sampler == "full":
            batch = Batch(
                items=torch.arange(self.num_items),
                anchor=u,
                positive=v,
                negatives=negatives,
                mask=mask,
                temperature=ctx.temperature,
                edges=self.edge_index,
            )
            return self._annotate(batch)
        seeds, inverse = torch.unique(torch.cat([u, v, negatives.reshape(-1)]), return_inverse=True)
        nodes, edges = self.sample_subgraph(seeds)
        batch = Batch(
            items=nodes,
            anchor=inverse[:b],  # the seeds are the subgraph's first rows
            positive=inverse[b : 2 * b],
            negatives=inverse[2 * b :].view(b, k),
            mask=mask,
            temperature=ctx.temperature,
            edges=edges,
            encoder_input=edges,
        )
        return self._annotate(batch)

    def cluster_batch(self, clusters: Tensor, k: int, temperature: float) -> Batch:
        """The Cluster-GCN batch of ``clusters [C]``: their nodes ``[U]``, the message
        edges between them, their training edges ``[P, 2]`` as positives and ``K``
        uniform negatives among the ``U`` nodes per positive (run's generator)."""
        if self.clusters is None or self.train_clusters is None:
            raise RuntimeError("cluster_batch needs nodes.sampler 'cluster'")
        sub = self.clusters.batch(clusters)
        pos = self.train_clusters.batch(clusters).edge_index  # same node order: [2, P]
        anchor, positive = pos[0], pos[1]
        negatives = torch.randint(
            sub.num_nodes, (anchor.numel(), k), generator=self.generator
        )  # [P, K] local
        u, w = sub.n_id[anchor].unsqueeze(1), sub.n_id[negatives]
        lineage = self.lineage
        related = has_edge(lineage, u.expand_as(w), w) | has_edge(lineage, w, u.expand_as(w))
        mask = (negatives != anchor.unsqueeze(1)) & ~related
        return Batch(
            items=sub.n_id,
            anchor=anchor,
            positive=positive,
            negatives=negatives,
            mask=mask,
            temperature=temperature,
            edges=sub.edge_index,
            encoder_input=sub.edge_index,
        )

    def sample_subgraph(self, seeds: Tensor) -> tuple[Tensor, Tensor]:
        """The ``nodes.sampler`` subgraph around ``seeds [S]`` (distinct ids):
        ``(nodes [U], edge_index [2, E_s])``, ``nodes[:S] = seeds``, edges in local ids
        (row 0 the message source), drawn from the run's generator."""
        s = self.settings
        if s.sampler == "layerwise":
            sub = layerwise_sample(self.sampling, seeds, s.layer_sizes, generator=self.generator)
        else:
            sub = neighbor_sample(self.sampling, seeds, s.fanouts, generator=self.generator)
        return sub.n_id, sub.edge_index

    def _annotate(self, batch: Batch) -> Batch:
        """``features = x[items]`` and the visible labels of the items onto ``batch``."""
        items = batch.items
        whole = batch.encoder_input is None and items.numel() == self.num_items
        batch.features = self.x if whole else self.x[items]
        if batch.edges is not None:
            src, dst = items[batch.edges[0]], items[batch.edges[1]]
            batch.edge_weight = self.graph.edge_weights(src, dst)
        if self.batch_labels is not None and self.label_mask is not None:
            batch.labels = self.batch_labels if whole else self.batch_labels[items]
            batch.label_mask = self.label_mask if whole else self.label_mask[items]
        return batch

    def validation_batch(self, temperature: float) -> Batch | None:
        """Up to 4,096 held-out edges with ``nodes.num_negatives`` uniform non-edges each,
        drawn once from their own seed; encoded over the whole training graph. ``None``
        without a split."""
        split = self.graph.split
        if split is None:
            return None
        take = split.test_pos[:, :MAX_VALIDATION_EDGES]
        gen = torch.Generator().manual_seed(self.config.loop.seed + _VALIDATION_SEED)
        sampler = RelationNegativeSampler(self.graph.known, generator=gen)
        neg, mask = sampler.sample(take[0], self.settings.num_negatives, "uniform")
        return self._annotate(Batch.from_ids(take[0], take[1], neg, mask, temperature))

    @torch.no_grad()
    def evaluate(self, encoder: NodeEncoder, distance: Distance) -> dict[str, float]:
        """``test/auc``, ``test/ap`` (with a split), ``test/probe_accuracy`` and
        ``test/probe_macro_f1`` (with labels), ``search/hnsw_recall@k`` (with faiss)."""
        encoder.eval()
        z = encoder.embed_all().detach().float()  # [N, d] over the training graph
        metrics: dict[str, float] = {}
        split = self.graph.split
        if split is not None:
            link = link_prediction_metrics(z.double(), split.test_pos, split.test_neg, distance)
            metrics["test/auc"] = link["roc_auc"]
            metrics["test/ap"] = link["average_precision"]
        metrics.update(self._probe(z))
        k = self.settings.hnsw_k
        recall = hnsw_recall(z, distance, k, seed=self.config.loop.seed + _SEARCH_SEED)
        if recall is not None:
            metrics[f"search/hnsw_recall@{k}"] = recall
        return metrics

    def _probe(self, z: Tensor) -> dict[str, float]:
        """Logistic probe of the labels on the nodes whose labels no batch carried
        (all nodes when every one is labelled); ``{}`` with fewer than two classes."""
        y, mask = self.graph.graph.y, self.label_mask
        if y is None or mask is None:
            return {}
        keep = ~mask if bool((~mask).any()) else torch.ones_like(mask)
        zs, ys = z[keep], y[keep].long()
        if int((torch.bincount(ys) >= 2).sum()) < 2:
            return {}  # fewer than two classes with a train and a test member
        probe = logistic_probe(zs, ys, seed=self.config.loop.seed)
        return {
            "test/probe_accuracy": float(probe["accuracy"]),
            "test/probe_macro_f1": float(probe["macro_f1"]),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "sampler" in state:
            self.sampler.load_state_dict(state["sampler"])


def hnsw_recall(z: Tensor, distance: Distance, k: int, *, seed: int = 0) -> float | None:
    """Recall@``k`` of a FAISS HNSW index over ``z [N, d]`` against exact search.

    Up to :data:`MAX_SEARCH_QUERIES` nodes (a fixed random subset from ``seed``) ask an
    ``IndexHNSWFlat`` (M :data:`HNSW_M`, efSearch :data:`HNSW_EF_SEARCH`, FAISS' fixed
    level seed, built on one thread, so deterministic) for their ``k`` nearest other
    nodes; the result is the mean share of the exact ``k`` nearest
    (:func:`~contrastkit.eval.neighbors.exact_knn`) it returns. ``None`` when faiss is
    missing, the distance has no FAISS metric, or ``N < 2``.
    """
    try:
        import faiss
    except ImportError:
        return None
    from contrastkit.mining.faiss_backend import FaissIndex

    n = int(z.shape[0])
    k = min(k, n - 1)
    if k < 1 or distance.name not in FAISS_DISTANCES:
        return None
    queries = torch.arange(n)
    if n > MAX_SEARCH_QUERIES:
        gen = torch.Generator().manual_seed(seed)
        queries = torch.randperm(n, generator=gen)[:MAX_SEARCH_QUERIES].sort().values
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # multi-threaded HNSW construction is not deterministic
    try:
        index = FaissIndex(
            z, distance=distance, index="hnsw", hnsw_m=HNSW_M, ef_search=HNSW_EF_SEARCH
        )
        _, approx = index.search(z[queries], k + 1)  # [Q, k + 1]
    finally:
        faiss.omp_set_num_threads(threads)
    # drop each query itself, keeping the others in rank order: [Q, k]
    own = (approx == queries.unsqueeze(1)).to(torch.int8)
    approx = approx.gather(1, torch.sort(own, dim=1, stable=True).indices)[:, :k]
    _, exact = exact_knn(z[queries], z, k, distance=distance, exclude=queries)
    return knn_recall(approx, exact)
