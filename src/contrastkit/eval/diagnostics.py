r"""Embedding diagnostics: distributions, alignment and uniformity, and the
positive–negative separation of a batch.

- :func:`distribution_summary` / :func:`norm_summary` /
  :func:`pairwise_distance_summary`: mean, std, quantiles and a histogram; pairs
  are all pairs when there are at most ``max_pairs`` of them, else a uniform
  sample of ``max_pairs`` distinct-index pairs drawn from ``seed``.
- Alignment and uniformity (Wang & Isola 2020), on L2-normalised features by default:

.. math::
    \mathcal{L}_\text{align} = \mathbb{E}_{(x,y)\sim p_\text{pos}} \|f(x) - f(y)\|_2^\alpha,
    \qquad
    \mathcal{L}_\text{uniform} = \log \mathbb{E}_{i<j}\, e^{-t\|f(x_i) - f(x_j)\|_2^2}

  (``alpha = 2``, ``t = 2``); uniformity is exact over all pairs, accumulated
  with ``logsumexp`` in tiles.
- :func:`similarity_gap`: mean positive score minus mean negative score;
  :func:`margin_violation_rate`: share of (anchor, negative) pairs with
  :math:`s^- + m > s^+` (the triplet hinge is active).

Example:
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> round(alignment(x, x), 6), uniformity(x) < 0
    (0.0, True)

Reference: Wang & Isola, "Understanding Contrastive Representation Learning
through Alignment and Uniformity on the Hypersphere", ICML 2020.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_float_tensor,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_same_shape,
)
from contrastkit.eval._tiling import DEFAULT_BUDGET_MB, chunk_rows
from contrastkit.functional.distances import Distance, get_distance

QUANTILES: tuple[float, ...] = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def distribution_summary(
    values: Tensor, quantiles: Sequence[float] = QUANTILES, bins: int = 20
) -> dict[str, object]:
    """Mean, std, quantiles ``q05``-style keys and a histogram of ``values`` (any shape).

    Returns:
        ``{"count", "mean", "std", "q0", "q5", ..., "q100", "hist_counts": [bins],
        "hist_edges": [bins + 1]}`` with Python numbers and lists.
    """
    v = check_float_tensor("values", values).detach().reshape(-1).to(torch.float64)
    check_positive_int("bins", bins)
    v = v[torch.isfinite(v)]
    if v.numel() == 0:
        raise ValueError("values has no finite entries: the distribution is undefined")
    qs = torch.tensor([float(q) for q in quantiles], dtype=torch.float64)
    if qs.numel() and (bool((qs < 0).any()) or bool((qs > 1).any())):
        raise ValueError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    out: dict[str, object] = {
        "count": int(v.numel()),
        "mean": float(v.mean()),
        "std": float(v.std(unbiased=False)),
    }
    for q, val in zip(quantiles, torch.quantile(v, qs).tolist(), strict=True):
        out[f"q{round(100 * float(q), 3):g}"] = val
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:  # a point mass still gets a histogram of positive width
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(v, bins=bins, min=lo, max=hi)
    out["hist_counts"] = [int(c) for c in counts.tolist()]
    out["hist_edges"] = torch.linspace(lo, hi, bins + 1, dtype=torch.float64).tolist()
    return out


def norm_summary(embeddings: Tensor, bins: int = 20) -> dict[str, object]:
    """:func:`distribution_summary` of the row norms of ``embeddings`` ``[N, d]``."""
    x = check_float_tensor("embeddings", embeddings, ndim=2)
    return distribution_summary(x.detach().norm(dim=1), bins=bins)


def sample_pairs(num_nodes: int, max_pairs: int, *, seed: int = 0) -> Tensor:
    """All pairs ``i < j`` if there are at most ``max_pairs``, else ``max_pairs``
    uniform pairs with ``i != j`` -> ``[2, P]``."""
    check_positive_int("max_pairs", max_pairs)
    if num_nodes < 2:
        raise ValueError(f"need at least 2 rows to form pairs, got {num_nodes}")
    total = num_nodes * (num_nodes - 1) // 2
    if total <= max_pairs:
        return torch.triu_indices(num_nodes, num_nodes, offset=1)
    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(0, num_nodes, (max_pairs,), generator=gen)
    j = torch.randint(0, num_nodes - 1, (max_pairs,), generator=gen)
    return torch.stack([i, j + (j >= i).long()])


def pairwise_distance_summary(
    embeddings: Tensor,
    distance: str | Distance = "euclidean",
    *,
    max_pairs: int = 100_000,
    seed: int = 0,
    bins: int = 20,
) -> dict[str, object]:
    """Summary of the raw distance values (similarities for cosine/dot) between
    distinct rows of ``embeddings`` ``[N, d]``, over at most ``max_pairs`` pairs."""
    x = check_float_tensor("embeddings", embeddings, ndim=2).detach()
    pairs = sample_pairs(x.shape[0], max_pairs, seed=seed)
    values = get_distance(distance).paired(x[pairs[0]], x[pairs[1]])
    return distribution_summary(values, bins=bins)


def alignment(x: Tensor, y: Tensor, alpha: float = 2.0, *, normalize: bool = True) -> float:
    """Alignment :math:`\\mathbb{E}\\|f(x) - f(y)\\|^\\alpha` of positive pairs
    ``x [B, d]``, ``y [B, d]`` (row ``i`` of ``x`` pairs with row ``i`` of ``y``)."""
    a = check_float_tensor("x", x, ndim=2).detach()
    b = check_float_tensor("y", y, ndim=2).detach()
    check_same_shape("x", a, "y", b)
    check_positive("alpha", alpha)
    if a.shape[0] == 0:
        raise ValueError("x is empty: alignment needs at least one positive pair")
    if normalize:
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    return float((a - b).norm(dim=1).pow(alpha).to(torch.float64).mean())


def uniformity(
    x: Tensor,
    t: float = 2.0,
    *,
    normalize: bool = True,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
) -> float:
    """Uniformity :math:`\\log \\mathbb{E}_{i<j} e^{-t\\|f(x_i) - f(x_j)\\|^2}` of
    ``x`` ``[N, d]``, ``N >= 2``, exact over all pairs in tiles of rows."""
    z = check_float_tensor("x", x, ndim=2).detach().to(torch.float64)
    check_positive("t", t)
    n = z.shape[0]
    if n < 2:
        raise ValueError(f"x must have at least 2 rows for uniformity, got {n}")
    if normalize:
        z = F.normalize(z, dim=1)
    sq = (z * z).sum(1)
    step = chunk_rows(n, 24, chunk_size, memory_budget_mb)
    parts: list[Tensor] = []
    for lo in range(0, n, step):
        rows = torch.arange(lo, min(lo + step, n), device=z.device)
        cols = torch.arange(
            lo, n, device=z.device
        )  # pairs i < j only: columns left of the tile never count
        d2 = sq[rows].unsqueeze(1) + sq[lo:].unsqueeze(0) - 2.0 * z[rows] @ z[lo:].T
        d2 = d2.clamp_min(0.0)
        logits = (-t * d2).masked_fill(cols.unsqueeze(0) <= rows.unsqueeze(1), float("-inf"))
        parts.append(torch.logsumexp(logits.reshape(-1), 0))
    total = torch.logsumexp(torch.stack(parts), 0)
    return float(total - math.log(n * (n - 1) / 2))


def _pos_neg(
    pos_scores: Tensor, neg_scores: Tensor, neg_mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    p = check_float_tensor("pos_scores", pos_scores, ndim=1).detach().to(torch.float64)
    n = check_float_tensor("neg_scores", neg_scores, ndim=2).detach().to(torch.float64)
    if n.shape[0] != p.shape[0]:
        raise ValueError(f"neg_scores must have {p.shape[0]} rows, got {n.shape[0]}")
    mask = torch.ones_like(n, dtype=torch.bool) if neg_mask is None else neg_mask
    if mask.shape != n.shape or mask.dtype != torch.bool:
        raise ValueError(f"neg_mask must be a bool tensor of shape {tuple(n.shape)}")
    if p.numel() == 0 or not bool(mask.any()):
        raise ValueError("pos_scores/neg_scores hold no (positive, negative) pair")
    return p, n, mask


def similarity_gap(pos_scores: Tensor, neg_scores: Tensor, neg_mask: Tensor | None = None) -> float:
    """Mean positive score ``[B]`` minus mean valid negative score ``[B, K]``
    (scores: larger = closer; ``neg_mask`` ``[B, K]`` marks valid negatives)."""
    p, n, mask = _pos_neg(pos_scores, neg_scores, neg_mask)
    return float(p.mean() - n[mask].mean())


def margin_violation_rate(
    pos_scores: Tensor, neg_scores: Tensor, margin: float = 0.0, neg_mask: Tensor | None = None
) -> float:
    """Share of valid (anchor, negative) pairs with ``neg + margin > pos``.

    Args:
        pos_scores: ``[B]`` anchor–positive scores (larger = closer).
        neg_scores: ``[B, K]`` anchor–negative scores.
        margin: :math:`m \\ge 0`; default 0 (a negative closer than the positive).
        neg_mask: optional ``[B, K]`` bool mask of valid negatives.
    """
    check_non_negative("margin", margin)
    p, n, mask = _pos_neg(pos_scores, neg_scores, neg_mask)
    violated = (n + margin > p.unsqueeze(1)) & mask
    return float(violated.sum() / mask.sum())


def batch_diagnostics(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor | None = None,
    *,
    distance: str | Distance = "cosine",
    margin: float = 0.0,
) -> dict[str, float]:
    """Separation statistics of one batch, for logging during training.

    Args:
        anchor: ``[B, d]``; positive: ``[B, d]`` (row ``i`` pairs with row ``i``).
        negative: ``[B, K, d]`` explicit negatives, or ``None`` for in-batch negatives
            (every other row of ``positive``; needs ``B >= 2``).
        distance: name or :class:`Distance`; default ``"cosine"``.
        margin: margin of the violation rate; default 0.

    Returns:
        ``{"pos_score", "neg_score", "similarity_gap", "violation_rate",
        "alignment", "uniformity"}`` (uniformity of the anchors; NaN-free).
    """
    a = check_float_tensor("anchor", anchor, ndim=2).detach()
    p = check_float_tensor("positive", positive, ndim=2).detach()
    check_same_shape("anchor", a, "positive", p)
    dist = get_distance(distance)
    pos = dist.score_paired(a, p)
    if negative is None:
        if a.shape[0] < 2:
            raise ValueError("in-batch negatives need at least 2 rows in anchor")
        neg = dist.score_pairwise(a, p)
        mask = ~torch.eye(a.shape[0], dtype=torch.bool, device=a.device)
    else:
        n = check_float_tensor("negative", negative, ndim=3).detach()
        if n.shape[0] != a.shape[0] or n.shape[2] != a.shape[1]:
            raise ValueError(
                f"negative must have shape [{a.shape[0]}, K, {a.shape[1]}], got {tuple(n.shape)}"
            )
        neg = dist.score_paired(a.unsqueeze(1), n)
        mask = torch.ones_like(neg, dtype=torch.bool)
    out = {
        "pos_score": float(pos.to(torch.float64).mean()),
        "neg_score": float(neg[mask].to(torch.float64).mean()),
        "similarity_gap": similarity_gap(pos, neg, mask),
        "violation_rate": margin_violation_rate(pos, neg, margin, mask),
        "alignment": alignment(a, p),
    }
    out["uniformity"] = uniformity(a) if a.shape[0] >= 2 else 0.0
    return out
