r"""Mined text triplets as a record: ids, scores, difficulty and rank per row, with
their Parquet file (written to a temporary name and renamed; the strategy in the
file's metadata). :mod:`contrastkit.mining.text_triplets` mines them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor


@dataclass
class Triplets:
    """Mined triplets, one row each (``R`` rows).

    Attributes:
        anchor_id, positive_id, negative_id: ``[R]`` int64 text ids.
        positive_score: ``[R]`` float32 :math:`s(a, p)`.
        negative_score: ``[R]`` float32 :math:`s(a, n)`.
        difficulty: ``[R]`` float32 :math:`s(a, n) - s(a, p)`.
        rank: ``[R]`` int64 slot of the negative among its anchor's (0 = first).
        strategy: the strategy's name.
        texts: optional ``(anchor, positive, negative)`` strings per row.
    """

    anchor_id: Tensor
    positive_id: Tensor
    negative_id: Tensor
    positive_score: Tensor
    negative_score: Tensor
    difficulty: Tensor
    rank: Tensor
    strategy: str
    texts: tuple[list[str], list[str], list[str]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.anchor_id.numel())

    def with_texts(self, texts: Sequence[str]) -> Triplets:
        """A copy carrying the strings of its ids (``texts`` indexed by text id)."""

        def pick(ids: Tensor) -> list[str]:
            return [texts[i] for i in ids.tolist()]

        out = (pick(self.anchor_id), pick(self.positive_id), pick(self.negative_id))
        return dataclasses.replace(self, texts=out)

    def to_parquet(self, path: str | os.PathLike[str], texts: Sequence[str] | None = None) -> Path:
        """Write the triplets to ``path`` (written to a temporary name, then renamed).

        Columns: ``anchor``, ``positive``, ``negative`` (strings, when ``texts`` is given
        or the triplets carry them), ``anchor_id``, ``positive_id``, ``negative_id``,
        ``positive_score``, ``negative_score``, ``difficulty``, ``rank``; the
        strategy is stored in the file's metadata (``contrastkit.strategy``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from contrastkit.train.checkpoint import atomic_write_bytes

        tri = self.with_texts(texts) if texts is not None else self
        columns: dict[str, object] = {}
        if tri.texts is not None:
            columns.update(anchor=tri.texts[0], positive=tri.texts[1], negative=tri.texts[2])
        for name in ("anchor_id", "positive_id", "negative_id", "rank"):
            columns[name] = pa.array(getattr(tri, name).numpy(), type=pa.int64())
        for name in ("positive_score", "negative_score", "difficulty"):
            columns[name] = pa.array(getattr(tri, name).float().numpy(), type=pa.float32())
        meta = {b"contrastkit.strategy": tri.strategy.encode()}
        table = pa.table(columns).replace_schema_metadata(meta)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        out = Path(path)
        atomic_write_bytes(out, sink.getvalue().to_pybytes())
        return out

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str]) -> Triplets:
        """Read a file written by :meth:`to_parquet`."""
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        cols = set(table.column_names)
        need = {"anchor_id", "positive_id", "negative_id", "positive_score", "negative_score"}
        if not need <= cols:
            raise ValueError(f"{path}: not a triplet file (missing {sorted(need - cols)})")

        def col(name: str, dtype: torch.dtype) -> Tensor:
            return torch.tensor(table.column(name).to_numpy(), dtype=dtype)

        meta = table.schema.metadata or {}
        texts = None
        if {"anchor", "positive", "negative"} <= cols:
            anchor, positive, negative = (
                [str(x) for x in table.column(c).to_pylist()]
                for c in ("anchor", "positive", "negative")
            )
            texts = (anchor, positive, negative)
        return cls(
            col("anchor_id", torch.int64),
            col("positive_id", torch.int64),
            col("negative_id", torch.int64),
            col("positive_score", torch.float32),
            col("negative_score", torch.float32),
            col("difficulty", torch.float32),
            col("rank", torch.int64),
            meta.get(b"contrastkit.strategy", b"unknown").decode(),
            texts,
        )

    def summary(self) -> dict[str, float]:
        """Count, mean/median difficulty and the share of violated triplets (difficulty > 0)."""
        d = self.difficulty.to(torch.float64)
        if d.numel() == 0:
            return {"triplets": 0.0}
        return {
            "triplets": float(d.numel()),
            "difficulty_mean": float(d.mean()),
            "difficulty_median": float(d.median()),
            "violated_share": float((d > 0).to(torch.float64).mean()),
        }
