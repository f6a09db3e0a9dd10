"""Two-dimensional projections of an embedding for plotting.

Euclidean embeddings: PCA (SVD of the centred matrix), or UMAP when the
``umap-learn`` package is importable. Poincaré-ball embeddings stay in the unit
disk: 2-D ones are drawn as they are; higher-dimensional ones are mapped to the
tangent space at the origin (:math:`\\log_0`), reduced by PCA there and mapped
back (:math:`\\exp_0`), which keeps each point's distance to the origin ordered
the way the hierarchy depth is (Nickel & Kiela 2017).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_float_tensor, check_positive_int
from contrastkit.functional.distances import project_to_ball

ProjectionMethod = Literal["auto", "pca", "umap"]
Manifold = Literal["euclidean", "poincare"]


@dataclass(frozen=True)
class Projection:
    """``coords`` [M, 2] of the rows ``index`` [M] of the input; ``explained`` is PCA's
    explained-variance ratio of the two axes (``None`` otherwise); ``in_disk`` says the
    coordinates lie in the Poincaré unit disk."""

    coords: Tensor
    index: Tensor
    method: str
    explained: tuple[float, float] | None
    in_disk: bool


def umap_available() -> bool:
    """Whether ``import umap`` would succeed (without importing it: that is slow)."""
    return importlib.util.find_spec("umap") is not None


def pca_2d(x: Tensor) -> tuple[Tensor, Tensor]:
    r"""Project ``x`` [N, d] on its two leading principal axes.

    .. math::
        X - \bar X = U S V^\top, \qquad Y = (X - \bar X) V_{:, :2}

    Each axis' sign is fixed so its largest-magnitude loading is positive
    (deterministic output). ``d = 1`` gives a zero second coordinate.
    Returns ``(coords [N, 2], explained-variance ratio [2])``.
    """
    x = check_float_tensor("x", x, ndim=2)
    n = x.shape[0]
    centred = x - x.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    k = min(2, vh.shape[0])
    axes = vh[:k]
    flip = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))
    axes = axes * torch.where(flip == 0, torch.ones_like(flip), flip)
    coords = centred @ axes.T
    var = s.square()
    ratio = var[:k] / var.sum().clamp_min(torch.finfo(x.dtype).tiny)
    if k < 2:
        coords = torch.cat([coords, coords.new_zeros(n, 2 - k)], dim=1)
        ratio = torch.cat([ratio, ratio.new_zeros(2 - k)])
    return coords, ratio


def logmap0(x: Tensor) -> Tensor:
    r"""Logarithmic map at the origin (curvature 1), [N, d] -> [N, d]:
    :math:`\log_0(x) = \operatorname{artanh}(\|x\|)\, x / \|x\|`."""
    norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-15)
    return x * (torch.atanh(norm.clamp_max(1 - 1e-7)) / norm)


def expmap0(v: Tensor) -> Tensor:
    r"""Exponential map at the origin (curvature 1), [N, d] -> [N, d]:
    :math:`\exp_0(v) = \tanh(\|v\|)\, v / \|v\|`."""
    norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-15)
    return v * (torch.tanh(norm) / norm)


def _umap_2d(x: Tensor, seed: int) -> Tensor:
    import umap  # optional dependency, checked by the caller

    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, x.shape[0] - 1), random_state=seed)
    return torch.as_tensor(reducer.fit_transform(x.numpy()), dtype=x.dtype)


def project_embedding(
    z: Tensor,
    method: ProjectionMethod = "auto",
    manifold: Manifold = "euclidean",
    max_points: int = 5000,
    seed: int = 0,
) -> Projection:
    """2-D coordinates of at most ``max_points`` finite rows of ``z`` [N, d].

    ``method="auto"`` uses UMAP for Euclidean embeddings with d > 2 when
    ``umap-learn`` is installed, else PCA; ``"umap"`` requires it. Rows are
    subsampled uniformly (``torch.Generator`` seeded with ``seed``) above
    ``max_points``; ``Projection.index`` holds the rows kept, sorted.

    >>> p = project_embedding(torch.randn(100, 8), method="pca")
    >>> p.coords.shape
    torch.Size([100, 2])
    """
    z = check_float_tensor("z", z, ndim=2)
    method = check_choice("method", method, ("auto", "pca", "umap"))
    manifold = check_choice("manifold", manifold, ("euclidean", "poincare"))
    max_points = check_positive_int("max_points", max_points)
    if method == "umap" and not umap_available():
        raise ValueError("method='umap' needs the umap-learn package (pip install umap-learn)")
    index = torch.nonzero(torch.isfinite(z).all(dim=1)).squeeze(1)
    if index.numel() == 0:
        raise ValueError(f"z has no finite rows (shape {tuple(z.shape)})")
    if index.numel() > max_points:
        gen = torch.Generator().manual_seed(seed)
        keep = torch.randperm(index.numel(), generator=gen)[:max_points]
        index = index[keep.sort().values]
    x = z[index].to(torch.float64)
    d = x.shape[1]
    if manifold == "poincare":
        x = project_to_ball(x)
        if d == 2:
            return Projection(x, index, "Poincaré disk, as trained", None, True)
        coords, ratio = pca_2d(logmap0(x))
        explained = (float(ratio[0]), float(ratio[1]))
        return Projection(expmap0(coords), index, "PCA in the tangent space at 0", explained, True)
    if d == 2 and method != "umap":
        return Projection(x, index, "identity (d = 2)", None, False)
    use_umap = method == "umap" or (method == "auto" and d > 2 and umap_available())
    if use_umap and x.shape[0] >= 4:
        return Projection(_umap_2d(x, seed), index, "UMAP", None, False)
    coords, ratio = pca_2d(x)
    return Projection(coords, index, "PCA", (float(ratio[0]), float(ratio[1])), False)
