"""Mini-batch loader over seed nodes: PyG ``NeighborLoader``'s role, without pyg-lib.

Each epoch shuffles the seed nodes (seeded by ``(seed, epoch)``), cuts them into
batches and samples a subgraph around each batch with
:func:`~contrastkit.graph.sampling.neighbor_sample` or
:func:`~contrastkit.graph.layerwise.layerwise_sample`. Iterating twice from the
same state gives the same batches; ``state_dict`` carries the epoch counter so a
restarted run continues with the next epoch's shuffle.

Example:
    >>> ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    >>> loader = NeighborLoader(ei, 4, fanouts=[2, 2], batch_size=2, seed=0)
    >>> [b.batch_size for b in loader]
    [2, 2]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_edge_index,
    check_index_range,
    check_length,
    check_positive_int,
    check_tensor,
)
from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.rng import epoch_state
from contrastkit.graph.sampling import check_fanouts, neighbor_sample, sampling_csr
from contrastkit.graph.subgraph import SampledSubgraph

SamplerKind = Literal["neighbor", "layerwise"]
_EPOCH_STRIDE = 1_000_003  # a prime: (seed, epoch) pairs map to distinct generator seeds


class NeighborLoader:
    """Iterate over sampled mini-batch subgraphs.

    Args:
        edge_index: ``[2, E]`` graph in PyG layout (source -> target).
        num_nodes: ``N``.
        fanouts: per-layer fan-outs (``sampler="neighbor"``) or node budgets
            (``sampler="layerwise"``).
        seeds: ``[S]`` nodes to cover each epoch (default all nodes).
        batch_size: seeds per batch (default 128).
        shuffle: reshuffle the seeds every epoch (default True).
        drop_last: drop a final short batch (default False).
        x, y: optional full-graph features ``[N, F]`` / labels ``[N]`` sliced per batch.
        sampler: ``"neighbor"`` (default) or ``"layerwise"``.
        seed: int seed of all randomness (default 0).
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        fanouts: Sequence[int],
        *,
        seeds: Tensor | None = None,
        batch_size: int = 128,
        shuffle: bool = True,
        drop_last: bool = False,
        x: Tensor | None = None,
        y: Tensor | None = None,
        sampler: SamplerKind = "neighbor",
        seed: int = 0,
    ) -> None:
        check_positive_int("num_nodes", num_nodes)
        check_edge_index("edge_index", edge_index, num_nodes)
        check_positive_int("batch_size", batch_size)
        check_positive_int("seed", seed, allow_zero=True)
        self.sampler: SamplerKind = check_choice("sampler", sampler, ("neighbor", "layerwise"))
        if self.sampler == "neighbor":
            fanouts = check_fanouts(fanouts)
        else:  # layer-wise node budgets: >= 1 each
            if isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence):
                raise TypeError(f"fanouts must be a sequence of ints, got {type(fanouts).__name__}")
            if len(fanouts) == 0:
                raise ValueError("fanouts must name at least one layer")
            for i, f in enumerate(fanouts):
                check_positive_int(f"fanouts[{i}]", f)
        if seeds is None:
            seeds = torch.arange(num_nodes)
        check_tensor("seeds", seeds, ndim=1)
        check_index_range("seeds", seeds, num_nodes)
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seeds must be distinct node ids")
        for name, t in (("x", x), ("y", y)):
            if t is not None:
                check_length(name, t, num_nodes)
        self.csr = sampling_csr(edge_index, num_nodes)
        self.fanouts = list(fanouts)
        self.seeds = seeds.to(torch.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.x, self.y = x, y
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        n = self.seeds.numel()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[SampledSubgraph]:
        gen = torch.Generator().manual_seed(self.seed * _EPOCH_STRIDE + self.epoch)
        self.epoch += 1
        order = self.seeds
        if self.shuffle:
            order = order[torch.randperm(order.numel(), generator=gen)]
        for i in range(len(self)):
            batch = order[i * self.batch_size : (i + 1) * self.batch_size]
            if self.sampler == "neighbor":
                sub = neighbor_sample(self.csr, batch, self.fanouts, generator=gen)
            else:
                sub = layerwise_sample(self.csr, batch, self.fanouts, generator=gen)
            if self.x is not None or self.y is not None:
                sub = sub.with_features(self.x, self.y)
            yield sub

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch": int, "seed": int}``: enough to replay the next epoch exactly."""
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.seed = epoch_state(state, "NeighborLoader")
