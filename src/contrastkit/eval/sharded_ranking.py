"""The filtered ranking (:func:`~contrastkit.eval.reconstruction.filtered_ranking`)
split over the ranks of a data-parallel run.

Every rank holds the same embedding; rank ``i`` of ``W`` ranks the anchors
``anchors[i::W]`` of the degree-sorted anchor list
(:func:`~contrastkit.eval.reconstruction.ranking_parts`), so each does about ``1/W``
of the ``N x N`` scoring. One all-gather brings every rank's per-anchor APs, with its
rank sum riding as the last entry; the APs go back to the single-process order
before the mean, and the rank sums (multiples of 1/2) add exactly. The mean rank is
then the single-process one exactly; an anchor's AP may differ in its last bits (its
sum runs over the padded width of the tile it fell in), so MAP agrees to ~1e-16.
One process: :func:`filtered_ranking` itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from contrastkit.dist.collectives import all_gather_rows
from contrastkit.dist.env import is_distributed, rank, world_size
from contrastkit.eval.reconstruction import RankingResult, filtered_ranking, ranking_parts


def sharded_filtered_ranking(
    embeddings: Tensor,
    edge_index: Tensor,
    filter_edge_index: Tensor | None = None,
    **options: Any,
) -> RankingResult:
    """:func:`~contrastkit.eval.reconstruction.filtered_ranking` (same arguments but
    ``return_ranks``) with the anchors split over the ranks; every rank returns the
    whole result. A collective: every rank must call it with equal arguments."""
    if options.get("return_ranks"):
        raise ValueError("sharded_filtered_ranking does not return per-relation ranks")
    if not is_distributed():
        return filtered_ranking(embeddings, edge_index, filter_edge_index, **options)
    w = world_size()
    parts = ranking_parts(embeddings, edge_index, filter_edge_index, shard=(rank(), w), **options)
    own = torch.cat(
        [parts.average_precision, torch.tensor([parts.rank_sum]).to(parts.average_precision)]
    )
    gathered, sizes = all_gather_rows(own)  # [sum_r (A_r + 1)], in rank order
    ends = torch.cumsum(sizes, 0).tolist()
    ap = torch.empty(parts.anchors.numel(), dtype=torch.float64, device=gathered.device)
    rank_sum = 0.0
    for r, end in enumerate(ends):  # W shards (not a loop over anchors)
        ap[r::w] = gathered[end - int(sizes[r]) : end - 1]
        rank_sum += float(gathered[end - 1])
    return parts.result(ap, rank_sum)
