"""Hard-negative mining: exact tiled top-k under a memory budget, a FAISS backend,
strategies, false-negative filters, memory queues, re-mining and graph negatives.
Miners run without gradients and return indices into the pool, never vectors;
:class:`RelationNegativeSampler` draws the trainer's negatives for relation batches
with the same strategy names."""

from contrastkit.mining.edge_sampling import (
    EdgeSample,
    degree_corrected_negatives,
    random_edge_negatives,
)
from contrastkit.mining.exclusions import Exclusions, build_exclusions
from contrastkit.mining.faiss_backend import FaissIndex, faiss_scan
from contrastkit.mining.filters import FalseNegativeFilters
from contrastkit.mining.graph_negatives import edge_hard_triplets, khop_negatives
from contrastkit.mining.groups import group_topk
from contrastkit.mining.kmeans import assign_clusters, kmeans
from contrastkit.mining.memory_queue import MemoryQueue
from contrastkit.mining.miner import mine
from contrastkit.mining.negative_miner import InBatchTriplets, NegativeMiner, mine_in_batch
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET, PoolLike
from contrastkit.mining.refresh import PeriodicRefresh
from contrastkit.mining.relation_negatives import RelationNegatives
from contrastkit.mining.relation_sampler import RelationNegativeSampler
from contrastkit.mining.relation_strategies import (
    STRATEGIES,
    STRATEGY_ALIASES,
    canonical_strategy,
)
from contrastkit.mining.result import MiningReport, MiningResult
from contrastkit.mining.strategies import (
    STRATEGY_NAMES,
    CategorySpread,
    ClusterSpread,
    Hardest,
    Mixed,
    RandomNegatives,
    SemiHard,
    Weighted,
    as_strategy,
)
from contrastkit.mining.tiles import Bound, score_tiles
from contrastkit.mining.topk import Head, TopK, exact_topk, scan_topk

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "STRATEGIES",
    "STRATEGY_ALIASES",
    "STRATEGY_NAMES",
    "Bound",
    "CategorySpread",
    "ClusterSpread",
    "EdgeSample",
    "Exclusions",
    "FaissIndex",
    "FalseNegativeFilters",
    "Hardest",
    "Head",
    "InBatchTriplets",
    "MemoryQueue",
    "MiningReport",
    "MiningResult",
    "Mixed",
    "NegativeMiner",
    "PeriodicRefresh",
    "PoolLike",
    "RandomNegatives",
    "RelationNegativeSampler",
    "RelationNegatives",
    "SemiHard",
    "TopK",
    "Weighted",
    "as_strategy",
    "assign_clusters",
    "build_exclusions",
    "canonical_strategy",
    "degree_corrected_negatives",
    "edge_hard_triplets",
    "exact_topk",
    "faiss_scan",
    "group_topk",
    "khop_negatives",
    "kmeans",
    "mine",
    "mine_in_batch",
    "random_edge_negatives",
    "scan_topk",
    "score_tiles",
]
