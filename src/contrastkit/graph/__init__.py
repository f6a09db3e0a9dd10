"""Graph utilities: CSR adjacency, batched k-hop rings, neighbour and layer-wise
sampling, PyG-shaped subgraphs and a seeded mini-batch loader, partitions (METIS or
spectral) and Cluster-GCN batches (all vectorised)."""

from contrastkit.graph.cluster_loader import (
    ClusterBatch,
    ClusterData,
    ClusterLoader,
    rank_clusters,
)
from contrastkit.graph.csr import CSR, degrees, gather_neighbors, has_edge, to_csr
from contrastkit.graph.khop import KHopRings, k_hop_rings
from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.loader import NeighborLoader
from contrastkit.graph.partitioning import (
    edge_cut,
    imbalance,
    metis_available,
    part_sizes,
    partition,
)
from contrastkit.graph.rng import GeneratorLike, as_generator
from contrastkit.graph.sampling import neighbor_sample, sample_neighbors, sampling_csr
from contrastkit.graph.subgraph import NodeMap, SampledSubgraph, induced_subgraph

__all__ = [
    "CSR",
    "ClusterBatch",
    "ClusterData",
    "ClusterLoader",
    "GeneratorLike",
    "KHopRings",
    "NeighborLoader",
    "NodeMap",
    "SampledSubgraph",
    "as_generator",
    "degrees",
    "edge_cut",
    "gather_neighbors",
    "has_edge",
    "imbalance",
    "induced_subgraph",
    "k_hop_rings",
    "layerwise_sample",
    "metis_available",
    "neighbor_sample",
    "part_sizes",
    "partition",
    "rank_clusters",
    "sample_neighbors",
    "sampling_csr",
    "to_csr",
]
