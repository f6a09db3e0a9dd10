r"""What a miner returns: pool indices, a validity mask, scores and a report.

Miners never copy vectors. A :class:`MiningResult` holds, for ``B`` anchors and
``K`` slots, the pool indices of the chosen negatives (``-1`` in masked slots),
their scores (larger = closer; ``0`` in masked slots) and the per-triplet
difficulty of the GATE triplet notebook

.. math::
    \text{difficulty}(a, p, n) = s(a, n) - s(a, p) + 1,

which is ``> 1`` when the negative is closer than the positive (a violated
triplet) and which curricula filter on. The :class:`MiningReport` says what
happened on the way: rows that fell back to another strategy, slots left empty,
and how many candidates each false-negative filter removed.

Example:
    >>> r = MiningResult(torch.tensor([[3, -1]]), torch.tensor([[True, False]]),
    ...                  torch.tensor([[0.9, 0.0]]))
    >>> r.safe_indices().tolist(), r.num_valid
    ([[3, 0]], 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class MiningReport:
    """Book-keeping of one mining call.

    Attributes:
        strategy: the strategy that ran.
        fallback_rows: ``[B]`` bool, rows whose result came from the fallback strategy.
        fallback: name of the fallback strategy (``None`` when there is none).
        masked_slots: number of ``(row, slot)`` pairs left empty.
        removed: per filter name, the number of candidates it removed (summed over
            rows; each filter is counted on its own among candidates that survived
            the exclusions, so overlapping filters may both count a candidate).
    """

    strategy: str
    fallback_rows: Tensor | None = None
    fallback: str | None = None
    masked_slots: int = 0
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def num_fallback(self) -> int:
        """Rows served by the fallback strategy."""
        return 0 if self.fallback_rows is None else int(self.fallback_rows.sum())


@dataclass
class MiningResult:
    """Negatives for ``B`` anchors, ``K`` slots each.

    Attributes:
        indices: ``[B, K]`` int64 pool indices, ``-1`` where ``mask`` is False.
        mask: ``[B, K]`` bool, True for a real negative.
        scores: ``[B, K]`` score ``s(a, n)`` (larger = closer), ``0`` where masked.
        difficulty: ``[B, K]`` ``s(a, n) - s(a, p) + 1`` (``0`` where masked), or
            ``None`` when no positive was given.
        report: :class:`MiningReport`.
    """

    indices: Tensor
    mask: Tensor
    scores: Tensor
    difficulty: Tensor | None = None
    report: MiningReport = field(default_factory=lambda: MiningReport("unknown"))

    @property
    def k(self) -> int:
        return int(self.indices.shape[-1])

    @property
    def num_valid(self) -> int:
        """Number of real negatives."""
        return int(self.mask.sum())

    def safe_indices(self) -> Tensor:
        """Indices with masked slots replaced by ``0`` so that they can gather rows;
        combine with :attr:`mask` to ignore those rows."""
        return self.indices.clamp_min(0)

    def select(self, rows: Tensor) -> MiningResult:
        """The result restricted to some anchors (``rows``: ``[R]`` index or bool)."""
        diff = None if self.difficulty is None else self.difficulty[rows]
        fb = self.report.fallback_rows
        report = MiningReport(
            strategy=self.report.strategy,
            fallback_rows=None if fb is None else fb[rows],
            fallback=self.report.fallback,
            masked_slots=int((~self.mask[rows]).sum()),
            removed=dict(self.report.removed),
        )
        return MiningResult(self.indices[rows], self.mask[rows], self.scores[rows], diff, report)


def finalize(
    keys: Tensor,
    scores: Tensor,
    indices: Tensor,
    positive_scores: Tensor | None,
    report: MiningReport,
) -> MiningResult:
    """Turn raw top-k output (``keys`` = ``-inf`` where nothing qualified) into a
    :class:`MiningResult` with a mask, zeros in empty slots and the difficulty."""
    mask = torch.isfinite(keys) & (indices >= 0)
    indices = torch.where(mask, indices, torch.full_like(indices, -1))
    scores = torch.where(mask, scores, torch.zeros_like(scores))
    difficulty = None
    if positive_scores is not None:
        diff = scores - positive_scores.to(scores.dtype).unsqueeze(-1) + 1.0
        difficulty = torch.where(mask, diff, torch.zeros_like(diff))
    report.masked_slots = int((~mask).sum())
    return MiningResult(indices, mask, scores, difficulty, report)
