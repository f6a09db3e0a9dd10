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
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastkit.functional.distances import Distance
from contrastkit.train.checkpoint import atomic_write_bytes
from contrastkit.train.encoders import NodeEncoder

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
    def similarities(
        self, tag: str, pairs: tuple[Tensor, Tensor], encoder: NodeEncoder, distance: Distance
    ) -> None:
        """Scores of the positive ``pairs`` and of uniform negatives for the same anchors."""
        u, v = pairs
        gen = torch.Generator().manual_seed(1)
        encoder.eval()
        z = encoder.embed_all()
        neg = torch.randint(0, z.shape[0], u.shape, generator=gen)
        pos = distance.score_paired(z[u], z[v])
        negs = distance.score_paired(z[u], z[neg])
        _save_npz(
            self.directory / f"similarities_{tag}.npz",
            pos=pos.float().numpy(),
            neg=negs.float().numpy(),
        )

    @torch.no_grad()
    def embedding(
        self,
        encoder: NodeEncoder,
        manifold: str,
        labels: Tensor | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        encoder.eval()
        z = encoder.embed_all().float().numpy()
        extra: dict[str, Any] = {"manifold": np.array(manifold)}
        if labels is not None:
            extra["labels"] = labels.numpy()
        if label_names is not None:
            extra["label_names"] = np.array(label_names)
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
