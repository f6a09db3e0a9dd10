r"""Vectorised k-means over a pool (Lloyd's algorithm), for cluster-based mining.

Each iteration assigns every pool row to its closest centroid under the chosen
distance and moves each centroid to the mean of its rows:

.. math::
    c_i = \arg\max_j s(x_i, \mu_j), \qquad
    \mu_j \leftarrow \frac{1}{|\{i : c_i = j\}|} \sum_{i : c_i = j} x_i

(for cosine the means are re-normalised: spherical k-means, Dhillon & Modha 2001).
Assignment runs in pool tiles through one GEMM per tile and updates use
``index_add_`` — no loop over rows or clusters. Initial centroids come from
k-means++ seeding on a random sample of the pool (drawn with the given
generator); an empty cluster keeps its centroid.
For Poincaré the Euclidean mean is used as a cheap stand-in for the Fréchet mean.

Example:
    >>> x = torch.cat([torch.randn(50, 2) - 5, torch.randn(50, 2) + 5])
    >>> labels, _ = kmeans(x, 2, distance="sqeuclidean", generator=torch.Generator().manual_seed(0))
    >>> bool((labels[:50] == labels[0]).all() and (labels[50:] != labels[0]).all())
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import check_finite, check_positive_int
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.mining.pool import (
    DEFAULT_MEMORY_BUDGET,
    PoolLike,
    check_pool,
    pool_rows,
    pool_tile,
    tile_sizes,
)


def assign_clusters(
    pool: PoolLike,
    centroids: Tensor,
    distance: str | Distance = "cosine",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Tensor:
    """Index ``[M]`` of the closest centroid (``centroids [C, d]``) of each pool row."""
    dist = get_distance(distance)
    m, d = check_pool(pool, centroids.shape[1])
    _, bm = tile_sizes(centroids.shape[0], m, d, centroids.dtype, memory_budget)
    out = torch.empty(m, dtype=torch.int64, device=centroids.device)
    for m0 in range(0, m, bm):
        tile = pool_tile(pool, m0, min(m, m0 + bm), centroids.dtype, centroids.device)
        out[m0 : m0 + tile.shape[0]] = dist.score_pairwise(
            tile, centroids, names=("pool", "centroids")
        ).argmax(1)
    return out


def _kmeans_pp(
    pool: PoolLike,
    c: int,
    dist: Distance,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | None,
) -> Tensor:
    # k-means++ seeding (Arthur & Vassilvitskii 2007) on a random sample of the pool:
    # each new centre is drawn with probability proportional to the squared
    # Euclidean distance to the nearest centre chosen so far. The loop is over the
    # C centres only.
    m = int(pool.shape[0])
    pick = torch.randperm(m, generator=generator)[: min(m, max(1024, 64 * c))].sort().values
    x = pool_rows(pool, pick, dtype, device)
    check_finite("pool", x)  # the seeding reads a sample; the Lloyd steps check every tile
    if dist.name == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    chosen = [first]
    d2 = ((x - x[first]) ** 2).sum(1)
    for _ in range(1, c):
        w = d2.to(torch.float64).cpu()
        nxt = int(torch.multinomial(w, 1, generator=generator)) if float(w.sum()) > 0 else 0
        chosen.append(nxt)
        d2 = torch.minimum(d2, ((x - x[nxt]) ** 2).sum(1))
    return x[torch.tensor(chosen, device=x.device)]


def kmeans(
    pool: PoolLike,
    num_clusters: int,
    *,
    distance: str | Distance = "cosine",
    num_iters: int = 20,
    generator: torch.Generator | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """Cluster the pool.

    Args:
        pool: ``[M, d]`` tensor or numpy array / memmap.
        num_clusters: ``C``, clipped to ``M``.
        distance: assignment measure (default ``"cosine"`` -> spherical k-means).
        num_iters: Lloyd iterations (default 20; stops early when stable).
        generator: draws the k-means++ seeding.

    Returns:
        ``(labels [M] int64, centroids [C, d])``.
    """
    check_positive_int("num_clusters", num_clusters)
    check_positive_int("num_iters", num_iters)
    dist = get_distance(distance)
    m, d = check_pool(pool)
    if m == 0:
        raise ValueError("pool must not be empty for k-means")
    c = min(num_clusters, m)
    if isinstance(pool, Tensor):
        dtype, device = (pool.dtype, pool.device)
    else:
        dtype, device = torch.float32, torch.device("cpu")
    centroids = _kmeans_pp(pool, c, dist, dtype, device, generator)
    labels = torch.full((m,), -1, dtype=torch.int64, device=device)
    _, bm = tile_sizes(c, m, d, dtype, memory_budget)
    for _ in range(num_iters):
        new = assign_clusters(pool, centroids, dist, memory_budget)
        if torch.equal(new, labels):
            break
        labels = new
        sums = torch.zeros(c, d, dtype=dtype, device=device)
        for m0 in range(0, m, bm):
            tile = pool_tile(pool, m0, min(m, m0 + bm), dtype, device)
            sums.index_add_(0, labels[m0 : m0 + tile.shape[0]], tile)
        counts = torch.bincount(labels, minlength=c).to(dtype).unsqueeze(1)
        means = sums / counts.clamp_min(1.0)
        if dist.name == "cosine":
            means = torch.nn.functional.normalize(means, dim=1)
        centroids = torch.where(counts > 0, means, centroids)
    return labels, centroids
