"""Brute-force reference implementations (plain loops) for the eval tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from contrastkit.functional.distances import get_distance


def closeness_matrix(x: Tensor, distance: str) -> np.ndarray:
    """Full ``[N, N]`` matrix where smaller = closer, via the distance's own pairwise."""
    dist = get_distance(distance)
    d = dist.pairwise(x, x)
    if dist.higher_is_closer:
        d = -d
    return d.double().numpy()


def adjacency(edges: Tensor, undirected: bool) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    pairs = edges.T.tolist()
    if undirected:
        pairs = pairs + [[v, u] for u, v in pairs]
    for u, v in pairs:
        if u != v:
            out.setdefault(u, set()).add(v)
    return out


def brute_ranking(
    x: Tensor,
    edges: Tensor,
    distance: str,
    *,
    filt: Tensor | None = None,
    undirected: bool = False,
    include_self: bool = False,
    ties: str = "optimistic",
) -> tuple[float, float, dict[tuple[int, int], float]]:
    """Mean rank, MAP and per-edge ranks by explicit loops over anchors and nodes."""
    n = x.shape[0]
    d = closeness_matrix(x, distance)
    pos = adjacency(edges, undirected)
    known = {u: set(s) for u, s in pos.items()}
    if filt is not None:
        for u, s in adjacency(filt, undirected).items():
            known.setdefault(u, set()).update(s)
    ranks: dict[tuple[int, int], float] = {}
    aps = []
    for u in sorted(pos):
        negs = np.array([w for w in range(n) if w not in known[u] and (include_self or w != u)])
        row = d[u, negs] if negs.size else np.zeros(0)
        rs = []
        for v in pos[u]:
            lt = int((row < d[u, v]).sum())
            le = int((row <= d[u, v]).sum())
            r = 1.0 + {"optimistic": lt, "pessimistic": le, "average": (lt + le) / 2}[ties]
            ranks[(u, v)] = r
            rs.append(r)
        rs.sort()
        aps.append(np.mean([(k + 1) / (r + k) for k, r in enumerate(rs)]))
    return float(np.mean(list(ranks.values()))), float(np.mean(aps)), ranks


def ring(n: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Points on a circle of radius 0.5 and the ring graph i -> i+1 (a good embedding)."""
    t = torch.arange(n, dtype=dtype) * (2 * torch.pi / n)
    x = 0.5 * torch.stack([torch.cos(t), torch.sin(t)], 1)
    ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    return x, ei
