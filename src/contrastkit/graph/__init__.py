"""Graph utilities: CSR adjacency, batched k-hop rings, neighbour and layer-wise
sampling, PyG-shaped subgraphs and a seeded mini-batch loader (all vectorised)."""

from contrastkit.graph.csr import CSR, degrees, gather_neighbors, has_edge, to_csr
from contrastkit.graph.khop import KHopRings, k_hop_rings
from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.loader import NeighborLoader
from contrastkit.graph.rng import GeneratorLike, as_generator
from contrastkit.graph.sampling import neighbor_sample, sample_neighbors, sampling_csr
from contrastkit.graph.subgraph import NodeMap, SampledSubgraph, induced_subgraph

__all__ = [
    "CSR",
    "GeneratorLike",
    "KHopRings",
    "NeighborLoader",
    "NodeMap",
    "SampledSubgraph",
    "as_generator",
    "degrees",
    "gather_neighbors",
    "has_edge",
    "induced_subgraph",
    "k_hop_rings",
    "layerwise_sample",
    "neighbor_sample",
    "sample_neighbors",
    "sampling_csr",
    "to_csr",
]
