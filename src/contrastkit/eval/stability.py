r"""Training stability: how noisy the loss is, and how far the embedding moves.

- :func:`loss_stability` over the last ``window`` losses :math:`\ell_1..\ell_W`:
  the coefficient of variation :math:`\mathrm{cv} = \sigma / |\mu|`, the relative
  least-squares slope per step :math:`\beta / |\mu|` (negative while the loss still
  falls) and the number of non-finite values (skipped by the statistics).
- :func:`embedding_drift` between two checkpoints ``before``/``after`` ``[N, d]``:
  the mean displacement :math:`\frac1N\sum_i\|a_i - b_i\|`, the same relative to
  the mean norm of ``before``, and the mean overlap of the ``k``-nearest-neighbour
  sets :math:`\frac{1}{Q}\sum_q |N_k^{b}(q) \cap N_k^{a}(q)| / k` on up to
  ``max_queries`` sampled rows — 1 when the neighbourhood structure is unchanged,
  whatever rotation or scaling the embedding went through.

Example:
    >>> loss_stability(torch.tensor([1.0, 1.0, 1.0]))["cv"]
    0.0
    >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    >>> embedding_drift(x, 2 * x, k=5)["knn_overlap"]
    1.0

Reference: the "neighbourhood preservation" view of embedding stability, e.g.
Antoniak & Mimno, "Evaluating the Stability of Embedding-based Word
Similarities", TACL 2018.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_positive_int, check_same_shape
from contrastkit.eval.neighbors import exact_knn
from contrastkit.functional.distances import Distance


def loss_stability(losses: Tensor, window: int = 100) -> dict[str, float]:
    """Noise and trend of the last ``window`` values of a loss curve ``[T]``.

    Returns:
        ``{"cv", "relative_slope", "mean", "num_nonfinite"}``; ``cv`` and the slope
        are 0 for fewer than 2 finite values.
    """
    v = check_float_tensor("losses", losses, ndim=1).detach().to(torch.float64)
    check_positive_int("window", window)
    v = v[-window:]
    finite = torch.isfinite(v)
    steps = torch.arange(v.numel(), dtype=torch.float64)[finite]
    v = v[finite]
    out = {"num_nonfinite": float((~finite).sum()), "mean": 0.0, "cv": 0.0, "relative_slope": 0.0}
    if v.numel() == 0:
        return out
    mean = v.mean()
    out["mean"] = float(mean)
    if v.numel() < 2:
        return out
    scale = mean.abs().clamp_min(torch.finfo(torch.float64).tiny)
    out["cv"] = float(v.std(unbiased=False) / scale)
    s = steps - steps.mean()
    out["relative_slope"] = float((s * (v - mean)).sum() / (s * s).sum() / scale)
    return out


def embedding_drift(
    before: Tensor,
    after: Tensor,
    *,
    k: int = 10,
    distance: str | Distance = "euclidean",
    max_queries: int = 2048,
    seed: int = 0,
) -> dict[str, float]:
    """Displacement and neighbourhood overlap between two embeddings of the same rows.

    Args:
        before, after: ``[N, d]`` embeddings of the same ``N >= k + 1`` items.
        k: neighbourhood size; default 10.
        distance: name or :class:`Distance` of the neighbour search; default ``"euclidean"``.
        max_queries: rows whose neighbourhoods are compared (a seeded sample); default 2048.
        seed: seed of that sample.

    Returns:
        ``{"mean_displacement", "relative_displacement", "knn_overlap"}``.
    """
    b = check_float_tensor("before", before, ndim=2).detach()
    a = check_float_tensor("after", after, ndim=2).detach()
    check_same_shape("before", b, "after", a)
    check_positive_int("k", k)
    check_positive_int("max_queries", max_queries)
    n = b.shape[0]
    if n < k + 1:
        raise ValueError(f"before needs at least k + 1 = {k + 1} rows, got {n}")
    disp = (a - b).to(torch.float64).norm(dim=1).mean()
    scale = b.to(torch.float64).norm(dim=1).mean().clamp_min(torch.finfo(torch.float64).tiny)
    if n > max_queries:
        q = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_queries]
    else:
        q = torch.arange(n)
    _, nb = exact_knn(b[q], b, k, distance=distance, exclude=q)
    _, na = exact_knn(a[q], a, k, distance=distance, exclude=q)
    nb_sorted = nb.sort(1).values
    pos = torch.searchsorted(nb_sorted, na).clamp_max(k - 1)
    overlap = (nb_sorted.gather(1, pos) == na).to(torch.float64).mean()
    return {
        "mean_displacement": float(disp),
        "relative_displacement": float(disp / scale),
        "knn_overlap": float(overlap),
    }
