"""The per-tile kernel of :func:`contrastkit.eval.reconstruction.filtered_ranking`.

For a tile of ``c`` anchors: one ``[c, N]`` block of order-preserving values, the
positives of each anchor sorted (padded to the tile's largest degree ``K``), known
relations and the anchor masked to ``+inf``, and every remaining negative placed
among the sorted positives by binary search; a histogram over (row, slot) and a
prefix sum give, for the ``k``-th positive, the number of negatives before it.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from contrastkit.eval._tiling import RankScorer, padded_rows
from contrastkit.graph.csr import CSR, gather_neighbors

Ties = Literal["optimistic", "pessimistic", "average"]


def _counts_below(values: Tensor, sorted_pos: Tensor, threshold: Tensor, right: bool) -> Tensor:
    """``out[i, k]`` = number of entries of ``values[i]`` that precede the ``k``-th
    sorted positive: ``values[i, w] < sorted_pos[i, k]`` (``right=True``) or ``<=``
    (``right=False``). Non-negatives must already be ``+inf`` in ``values``.

    Only entries up to the row's largest positive (``threshold [c, 1]``) can count;
    when few do (a good embedding), they are placed with a binary search each instead
    of searching every entry of the ``[c, N]`` tile.
    """
    c, k = sorted_pos.shape
    # Estimate the candidate share on every 16th column before paying for a full mask.
    sample = values[:, ::16]
    share = float((sample < threshold if right else sample <= threshold).sum()) / sample.numel()
    hist = torch.zeros(c, k + 1, dtype=torch.int64, device=values.device)
    if share * k <= 0.5:
        cand = values < threshold if right else values <= threshold
        r, w = cand.nonzero(as_tuple=True)
        slot = torch.searchsorted(sorted_pos[r], values[r, w].unsqueeze(1), right=right)
        hist.index_put_((r, slot.squeeze(1)), torch.ones_like(r), accumulate=True)
    else:
        slot = torch.searchsorted(sorted_pos, values, right=right)
        hist.scatter_add_(
            1, slot, torch.ones(1, 1, dtype=torch.int64, device=slot.device).expand_as(slot)
        )
    return hist.cumsum(1)[:, :-1].to(torch.float64)


def rank_tile(
    scorer: RankScorer,
    x: Tensor,
    a: Tensor,
    pos: CSR,
    known: CSR,
    ties: Ties,
    include_self: bool,
    ranks_out: Tensor | None,
) -> tuple[Tensor, float]:
    """AP per anchor ``[c]`` and the rank sum of one tile of anchors ``a``."""
    c = a.numel()
    rows = torch.arange(c, device=a.device)
    width = int((pos.rowptr[a + 1] - pos.rowptr[a]).max())
    col, valid, epos = padded_rows(pos, a, width)
    with torch.no_grad():
        values = scorer.values(x[a])
    pos_vals = values.gather(1, col).masked_fill_(~valid, float("inf"))
    sorted_vals, perm = pos_vals.sort(dim=1)
    valid_sorted = valid.gather(1, perm)
    deg = valid.sum(1, keepdim=True)
    threshold = sorted_vals.gather(1, deg - 1)

    # Known relations (positives included) and the anchor leave the negatives: +inf
    # is never below a finite positive, so the counts below see negatives only.
    owner, nbr = gather_neighbors(known, a)
    values[owner, nbr] = float("inf")
    if not include_self:
        values[rows, a] = float("inf")
    if ties == "optimistic":
        below = _counts_below(values, sorted_vals, threshold, right=True)
    elif ties == "pessimistic":
        below = _counts_below(values, sorted_vals, threshold, right=False)
    else:
        below = 0.5 * (
            _counts_below(values, sorted_vals, threshold, right=False)
            + _counts_below(values, sorted_vals, threshold, right=True)
        )
    ranks = 1.0 + below
    k = torch.arange(1, width + 1, dtype=torch.float64, device=x.device).unsqueeze(0)
    prec = torch.where(valid_sorted, k / (ranks + k - 1.0), torch.zeros_like(ranks))
    ap = prec.sum(1) / valid_sorted.sum(1).to(torch.float64)
    if ranks_out is not None:
        ranks_out[epos.gather(1, perm)[valid_sorted]] = ranks[valid_sorted]
    return ap, float(ranks[valid_sorted].sum())
