r"""k-means on embeddings (k-means++ seeding, Lloyd iterations, tiled assignment).

Minimises the inertia

.. math::
    \sum_i \min_c \|x_i - \mu_c\|^2

Seeding follows k-means++ (each new centre drawn with probability proportional to
the squared distance to the nearest chosen centre); assignments are computed
tile by tile with one GEMM, centres updated with ``index_add_``. A cluster that
empties is re-seeded at the point farthest from its centre. Poincaré embeddings
are clustered in their ambient Euclidean coordinates.

Example:
    >>> x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> labels, _ = kmeans(x, 2, seed=0)
    >>> bool(labels[0] == labels[1]) and bool(labels[0] != labels[2])
    True

Reference: Arthur & Vassilvitskii, "k-means++: The Advantages of Careful
Seeding", SODA 2007.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_non_negative,
    check_positive_int,
)
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB, chunk_rows


def _assign(x: Tensor, centres: Tensor, step: int) -> tuple[Tensor, Tensor]:
    """Nearest centre ``[N]`` and squared distance ``[N]`` of every row, in tiles."""
    labels = torch.empty(x.shape[0], dtype=torch.int64)
    best = torch.empty(x.shape[0], dtype=x.dtype)
    c_sq = (centres * centres).sum(1)
    for lo in range(0, x.shape[0], step):
        xs = x[lo : lo + step]
        d2 = (xs * xs).sum(1, keepdim=True) - 2.0 * xs @ centres.T + c_sq.unsqueeze(0)
        val, idx = d2.min(1)
        labels[lo : lo + step], best[lo : lo + step] = idx, val.clamp_min(0.0)
    return labels, best


def _update(z: Tensor, labels: Tensor, centres: Tensor, d2: Tensor | None) -> tuple[Tensor, bool]:
    """Cluster means; with ``d2`` given, empty clusters move to the farthest points."""
    k = centres.shape[0]
    counts = torch.bincount(labels, minlength=k)
    sums = torch.zeros_like(centres).index_add_(0, labels, z)
    means = sums / counts.clamp_min(1).unsqueeze(1)
    out = torch.where(counts.unsqueeze(1) > 0, means, centres)
    empty = torch.nonzero(counts == 0).flatten()
    if d2 is None or empty.numel() == 0:
        return out, False
    out[empty] = z[torch.topk(d2, empty.numel()).indices]
    return out, True


def kmeans(
    x: Tensor,
    num_clusters: int,
    *,
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-7,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
) -> tuple[Tensor, Tensor]:
    """Cluster the rows of ``x`` ``[N, d]`` into ``num_clusters <= N`` groups.

    Args:
        x: ``[N, d]`` points (finite).
        num_clusters: ``k``.
        seed: seed of the k-means++ draws; default 0.
        max_iter: Lloyd iterations at most; default 100.
        tol: stop when the inertia improves by less than ``tol`` relative; default 1e-7.

    Returns:
        ``(labels [N] int64, centres [k, d])``.
    """
    z = check_float_tensor("x", x, ndim=2).detach().to(torch.float64).cpu()
    check_finite("x", z)
    check_positive_int("num_clusters", num_clusters)
    check_positive_int("max_iter", max_iter)
    check_non_negative("tol", tol)
    n = z.shape[0]
    if num_clusters > n:
        raise ValueError(f"num_clusters must be <= the number of rows {n}, got {num_clusters}")
    gen = torch.Generator().manual_seed(seed)
    step = chunk_rows(num_clusters, 24, chunk_size, memory_budget_mb)

    # k-means++ seeding: a loop over the k centres, each step vectorised over N.
    centres = z[torch.randint(0, n, (1,), generator=gen)]
    closest = ((z - centres[0]) ** 2).sum(1)
    for _ in range(1, num_clusters):
        total = closest.sum()
        if float(total) > 0:
            pick = torch.multinomial(closest / total, 1, generator=gen)
        else:  # all points coincide with chosen centres: any point will do
            pick = torch.randint(0, n, (1,), generator=gen)
        centres = torch.cat([centres, z[pick]])
        closest = torch.minimum(closest, ((z - z[pick]) ** 2).sum(1))

    prev = float("inf")
    labels, d2 = _assign(z, centres, step)
    for _ in range(max_iter):
        centres, reseeded = _update(z, labels, centres, d2)
        new_labels, d2 = _assign(z, centres, step)
        converged = torch.equal(new_labels, labels) and not reseeded
        labels = new_labels
        inertia = float(d2.sum())
        if converged or (not reseeded and prev - inertia <= tol * max(abs(prev), 1e-300)):
            break
        prev = inertia
    # Returned centres are the means of the returned clusters.
    centres, _ = _update(z, labels, centres, None)
    return labels, centres.to(x.dtype)
