r"""False-negative filters: drop candidates that score too close to the positive.

With :math:`s_p` the anchor-positive score and :math:`s` a candidate's score
(larger = closer), a candidate survives when

.. math::
    s < s_p - m_{abs}, \qquad
    s < s_p - m_{rel}\,|s_p|, \qquad
    s \le s_{max},

and, after these, the rank window skips the ``skip_top`` best survivors.
The relative margin is *sign-aware*: sentence-transformers' ``(1 - m) s_p``
moves the threshold *above* :math:`s_p` when :math:`s_p < 0` (always the case
for distance-based scores), letting in exactly the candidates it should drop.
Defaults follow sentence-transformers' ``mine_hard_negatives`` (all off).

Each filter is a per-row :class:`~contrastkit.mining.topk.Bound` applied inside
the scoring tiles, so each reports the candidates it removed.

Example:
    >>> f = FalseNegativeFilters(absolute_margin=0.1, max_score=0.9)
    >>> [b.name for b in f.bounds(torch.tensor([0.5, -0.2]), 2)]
    ['absolute_margin', 'max_score']
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import check_non_negative, check_positive_int
from contrastkit.mining.tiles import Bound
from contrastkit.mining.topk import TopK


@dataclass(frozen=True)
class FalseNegativeFilters:
    """Filter settings (``None`` / ``0`` = off).

    Attributes:
        absolute_margin: keep ``s < s_p - m``.
        relative_margin: keep ``s < s_p - m |s_p|`` (sign-aware).
        max_score: keep ``s <= max_score`` (for distances, ``-`` the minimum distance).
        skip_top: rank window: drop the ``r`` best candidates that survive the rest.
    """

    absolute_margin: float | None = None
    relative_margin: float | None = None
    max_score: float | None = None
    skip_top: int = 0

    def __post_init__(self) -> None:
        if self.absolute_margin is not None:
            check_non_negative("absolute_margin", self.absolute_margin)
        if self.relative_margin is not None:
            check_non_negative("relative_margin", self.relative_margin)
        if self.max_score is not None and not isinstance(self.max_score, (int, float)):
            raise TypeError(f"max_score must be a number, got {type(self.max_score).__name__}")
        check_positive_int("skip_top", self.skip_top, allow_zero=True)

    @property
    def needs_positive(self) -> bool:
        return self.absolute_margin is not None or self.relative_margin is not None

    def bounds(self, positive_scores: Tensor | None, num_queries: int) -> list[Bound]:
        """The per-row score bounds ``[B]`` of the active filters.

        Raises ValueError when a margin is set but ``positive_scores`` is missing.
        """
        if self.needs_positive and positive_scores is None:
            raise ValueError(
                "positive_scores (or positives) is required by absolute_margin/relative_margin"
            )
        out: list[Bound] = []
        if positive_scores is not None:
            sp = positive_scores
            if self.absolute_margin is not None:
                out.append(Bound("absolute_margin", sp - self.absolute_margin))
            if self.relative_margin is not None:
                out.append(Bound("relative_margin", sp - self.relative_margin * sp.abs()))
        if self.max_score is not None:
            dtype = positive_scores.dtype if positive_scores is not None else torch.float32
            t = torch.full((num_queries,), float(self.max_score), dtype=dtype)
            if positive_scores is not None:
                t = t.to(positive_scores.device)
            out.append(Bound("max_score", t, strict=False))
        return out


def drop_members(top: TopK, banned: Tensor, k: int) -> TopK:
    """Remove from each row of ``top`` (``[B, K1]``) the indices listed in ``banned``
    (``[B, R]``, ``-1`` ignored) and keep the first ``k`` survivors in order.

    Used for the rank window and to keep a random head disjoint from a hard head;
    with Gumbel keys, the first ``k`` survivors are an exact sample of the
    complement (the Gumbel order restricted to a subset is that subset's order).
    """
    valid = top.keys > float("-inf")
    hit = (top.indices.unsqueeze(2) == banned.unsqueeze(1)) & (banned.unsqueeze(1) >= 0)
    keep = valid & ~hit.any(2)
    # Stable sort on "not kept" moves survivors to the front in their original order.
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices[:, :k]
    gone = ~keep.gather(1, order)
    out = TopK(
        top.keys.gather(1, order).masked_fill(gone, float("-inf")),
        top.scores.gather(1, order).masked_fill(gone, 0.0),
        top.indices.gather(1, order).masked_fill(gone, -1),
    )
    if out.keys.shape[1] < k:  # fewer candidates than slots: pad empty
        pad = k - out.keys.shape[1]
        out = TopK(
            torch.nn.functional.pad(out.keys, (0, pad), value=float("-inf")),
            torch.nn.functional.pad(out.scores, (0, pad)),
            torch.nn.functional.pad(out.indices, (0, pad), value=-1),
        )
    return out


def skip_top(top: TopK, r: int, k: int) -> tuple[TopK, Tensor]:
    """Rank window on a score-ranked head of ``k + r`` slots: drop the first ``r``.

    Returns the ``[B, k]`` head and, per row ``[B]``, how many real candidates
    were skipped."""
    skipped = (top.keys[:, :r] > float("-inf")).sum(1)
    sl = slice(r, r + k)
    return TopK(top.keys[:, sl], top.scores[:, sl], top.indices[:, sl]), skipped
