"""Mining under data parallelism: the hard-negative pool built once, on rank 0.

Every rank mines its own anchors' negatives, but from one pool of candidates over
all nodes (each node's ``pool_size`` closest others, or the k-means clusters), so the
candidates are the same whichever rank an anchor lands on, self and excluded pairs
being removed by global node id as in one process. The pool is the expensive part (an
exact or FAISS scan over every node, or k-means): rank 0 computes it and broadcasts
it; the other ranks neither embed the nodes nor scan. (The pairs task's pool of
training-item embeddings is broadcast the same way:
:func:`~contrastkit.dist.collectives.build_on_rank_zero`.)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from contrastkit.dist.collectives import broadcast_tensors
from contrastkit.dist.env import is_distributed, rank
from contrastkit.functional.distances import Distance
from contrastkit.mining.relation_sampler import RelationNegativeSampler

#: what a refresh computes (the rest of the sampler's state is each rank's own)
POOL_ENTRIES = ("pool", "pool_scores", "clusters")


def refresh_pool(
    sampler: RelationNegativeSampler,
    embed: Callable[[], Tensor],
    distance: Distance,
    step: int,
    strategy: str,
) -> None:
    """``sampler.refresh(embed(), ...)`` on rank 0, its pool (or clusters) broadcast to
    every rank; in one process, the refresh itself."""
    if not is_distributed():
        sampler.refresh(embed(), distance, step, strategy=strategy)
        return
    if rank() == 0:
        sampler.refresh(embed(), distance, step, strategy=strategy)
    state = sampler.state_dict()
    shared = broadcast_tensors({k: state[k] for k in POOL_ENTRIES})
    sampler.load_state_dict({**state, **shared, "last_refresh": step})
