"""Arrays the report draws from, written under ``run_dir/snapshots``.

* ``similarities_{start,end}.npz`` — scores (larger = closer) of up to 20,000
  training relations (``pos``) and of uniform negatives for the same anchors (``neg``);
* ``difficulty.npy`` — a uniform reservoir sample (Vitter's algorithm R, vectorised)
  of the difficulty :math:`s(u,n) - s(u,v) + 1` of every negative used in training;
* ``embedding_end.npz`` — the final embedding ``z`` with labels and the manifold.

Writes are atomic (temporary name, then rename).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from contrastkit.train.checkpoint import atomic_write_bytes

if TYPE_CHECKING:
    from contrastkit.train.trainer import Trainer

RESERVOIR = 50_000
MAX_PAIRS = 20_000


def _save_npz(path: Path, **arrays: Any) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


class SnapshotRecorder:
    def __init__(self, directory: Path, reservoir: int = RESERVOIR) -> None:
        self.directory = directory
        self.capacity = reservoir
        self.reservoir = torch.empty(0)
        self.seen = 0
        self.generator = torch.Generator().manual_seed(0)

    def observe_difficulty(self, values: Tensor) -> None:
        """Add ``values`` to the reservoir sample (each item kept with probability cap/seen)."""
        values = values.detach().float().flatten()
        n = values.numel()
        if n == 0:
            return
        room = max(self.capacity - self.reservoir.numel(), 0)
        if room:
            self.reservoir = torch.cat([self.reservoir, values[:room]])
        rest = values[room:]
        if rest.numel():
            # item t (1-based count over the stream) replaces a random slot with prob cap / t
            t = self.seen + room + torch.arange(1, rest.numel() + 1, dtype=torch.float64)
            slot = (
                torch.rand(rest.numel(), generator=self.generator, dtype=torch.float64) * t
            ).long()
            keep = slot < self.capacity
            # later items win collisions, as in the sequential algorithm
            self.reservoir[slot[keep]] = rest[keep]
        self.seen += n

    @torch.no_grad()
    def similarities(self, tag: str, trainer: Trainer) -> None:
        edges = trainer.task.train_edges
        gen = torch.Generator().manual_seed(1)
        take = torch.randperm(edges.shape[1], generator=gen)[:MAX_PAIRS]
        u, v = edges[0, take], edges[1, take]
        neg = torch.randint(0, trainer.task.num_nodes, u.shape, generator=gen)
        trainer.encoder.eval()
        zu, zv, zn = trainer.encoder(u), trainer.encoder(v), trainer.encoder(neg)
        pos = trainer.distance.score_paired(zu, zv)
        negs = trainer.distance.score_paired(zu, zn)
        _save_npz(self.directory / f"similarities_{tag}.npz", pos=pos.numpy(), neg=negs.numpy())

    @torch.no_grad()
    def embedding(self, trainer: Trainer) -> None:
        trainer.encoder.eval()
        z = trainer.encoder.embed_all().float().numpy()
        graph = trainer.task.graph
        extra: dict[str, Any] = {"manifold": np.array(trainer.config.encoder.manifold)}
        if graph.y is not None:
            extra["labels"] = graph.y.numpy()
        if graph.label_names is not None:
            extra["label_names"] = np.array(graph.label_names)
        _save_npz(self.directory / "embedding_end.npz", z=z, **extra)
        buffer = io.BytesIO()
        np.save(buffer, self.reservoir.numpy())
        atomic_write_bytes(self.directory / "difficulty.npy", buffer.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {
            "reservoir": self.reservoir,
            "seen": self.seen,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reservoir = state["reservoir"]
        self.seen = int(state["seen"])
        self.generator.set_state(state["generator"])
