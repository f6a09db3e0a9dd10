"""A PCA output head for a sentence encoder: principal axes first, so prefixes keep most.

A sentence encoder not trained with Matryoshka spreads its variance over all its
coordinates, and the first ``k`` of them are an arbitrary subspace: truncating
all-MiniLM-L6-v2 from 384 to 96 dimensions loses test nDCG@10 0.485 -> 0.400 on
the WordNet gloss retrieval. sentence-transformers' answer
(``examples/training/distillation/dimensionality_reduction.py``) is a ``Dense``
layer with identity activation whose weights are the PCA components of the
model's embeddings. :class:`PCAHead` is that layer, fitted once, in float64:

.. math::
    C = \\frac{1}{N-1} \\sum_i (e_i - \\mu)(e_i - \\mu)^\\top
    \\;(\\text{or } \\tfrac{1}{N}\\sum_i e_i e_i^\\top \\text{ uncentred}),\\qquad
    C = V \\Lambda V^\\top,\\ \\lambda_1 \\ge \\dots \\ge \\lambda_d,\\qquad
    y = W e,\\ W = V_{:, 1..k}^\\top \\in \\mathbb{R}^{k \\times d}.

``e [N, d]`` are the model's (L2-normalised) embeddings of the fitting texts --
the *training* texts only, never held-out ones. ``W`` is applied without
subtracting the mean, so with ``k = d`` it is an orthogonal rotation: every
norm and every cosine is unchanged, only the coordinates are reordered by
variance, and a prefix of ``k' < d`` coordinates is the best ``k'``-dimensional
linear subspace for those texts (Eckart-Young). With ``k < d`` the head itself
truncates (PCA dimensionality reduction). The sign of each axis is fixed (its
largest-magnitude entry positive, as scikit-learn's ``svd_flip``) so that a fit
is reproducible.

The weight is an ``nn.Parameter`` (trainable: fine-tuned with the encoder;
frozen: ``requires_grad`` false) and the ``fitted`` flag a buffer, so both are in
every checkpoint; :meth:`PCAHead.to_dense` gives the same map as a
sentence-transformers ``models.Dense`` module, for a model directory that
``SentenceTransformer(path)`` reproduces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from contrastkit._validation import check_positive_int


@dataclass(frozen=True)
class PCAFit:
    """What a fit found: ``components [k, d]`` (float64, rows the principal axes by
    decreasing eigenvalue), ``eigenvalues [d]`` (float64, decreasing: the variance
    -- or second moment -- along each axis) and the fitting row count."""

    components: Tensor
    eigenvalues: Tensor
    num_samples: int
    raw_variances: Tensor  # [d] variance (or second moment) of each input coordinate

    def captured(self, k: int) -> float:
        """Fraction of the total variance the first ``k`` axes hold (of the positive
        eigenvalues' total, for a pair fit)."""
        positive = self.eigenvalues.clamp_min(0.0)
        total = float(positive.sum())
        return float(positive[:k].sum()) / total if total > 0 else 0.0

    def raw_captured(self, k: int) -> float:
        """Fraction of the total variance the first ``k`` *input* coordinates held (what
        truncation kept before the rotation)."""
        total = float(self.raw_variances.sum())
        return float(self.raw_variances[:k].sum()) / total if total > 0 else 0.0


def _checked_rows(z: Tensor, name: str, out_dim: int | None) -> tuple[Tensor, int]:
    """``z`` as a float64 CPU ``[N, d]`` matrix (``N >= 2``, finite) and the axis count."""
    if not isinstance(z, Tensor) or z.dim() != 2:
        raise ValueError(f"{name} must be a [N, d] tensor, got {getattr(z, 'shape', type(z))}")
    n, d = z.shape
    if n < 2:
        raise ValueError(f"{name} must hold at least 2 rows to fit a PCA, got {n}")
    k = d if out_dim is None else check_positive_int("out_dim", out_dim)
    if k > d:
        raise ValueError(f"out_dim must be <= the embedding width {d}, got {out_dim}")
    x = z.detach().to("cpu", torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds non-finite values: no PCA of them")
    return x, k


def _eigen_axes(moment: Tensor, k: int, n: int) -> PCAFit:
    """The eigenvectors of the symmetric ``moment [d, d]`` by decreasing eigenvalue,
    each signed so that its largest-magnitude entry is positive (scikit-learn's
    ``svd_flip``: a reproducible fit)."""
    d = moment.shape[0]
    eigenvalues, vectors = torch.linalg.eigh(moment)  # ascending
    eigenvalues, vectors = eigenvalues.flip(0), vectors.flip(1)
    top = vectors.abs().argmax(dim=0)  # [d]
    signs = torch.sign(vectors[top, torch.arange(d)])
    signs[signs == 0] = 1.0
    vectors = vectors * signs
    return PCAFit(vectors[:, :k].T.contiguous(), eigenvalues, n, moment.diagonal().clone())


def pca_basis(z: Tensor, out_dim: int | None = None, *, centered: bool = True) -> PCAFit:
    """Principal axes of the rows of ``z [N, d]`` (see the module docstring).

    ``centered``: eigenvectors of the covariance (scikit-learn's ``PCA``, ddof 1);
    false: of the uncentred second moment ``zᵀz / N`` (the axes that keep the most
    of the squared norm, i.e. of the cosine's dot product). ``out_dim``: the number
    of axes returned (default ``d``). Computed in float64 by ``torch.linalg.eigh``."""
    x, k = _checked_rows(z, "z", out_dim)
    n = x.shape[0]
    if centered:
        x = x - x.mean(dim=0, keepdim=True)
        moment = x.T @ x / (n - 1)
    else:
        moment = x.T @ x / n
    fit = _eigen_axes(moment, k, n)
    # round-off below zero on a null space
    return PCAFit(fit.components, fit.eigenvalues.clamp_min(0.0), n, fit.raw_variances)


def pair_pca_basis(
    a: Tensor, p: Tensor, out_dim: int | None = None, *, centered: bool = True
) -> PCAFit:
    """Axes along which paired rows vary *together*: the eigenvectors of the
    symmetrised cross-covariance of anchors ``a [N, d]`` and their positives
    ``p [N, d]`` (row ``i`` of each a training pair),

    .. math::
        S = \\frac{1}{2(N-1)} \\left(\\tilde A^\\top \\tilde P + \\tilde P^\\top \\tilde A\\right),

    ``~`` centring each side (``centered``; uncentred: ``/ 2N``). An axis with a large
    eigenvalue carries variation an anchor shares with its positive (what retrieval
    matches); variance of one side alone -- wording, length -- has eigenvalue near 0.
    ``S`` is symmetric, so the axes are orthonormal and the full set a rotation; its
    negative eigenvalues (anti-correlated directions) come last. Float64 ``eigh``."""
    x, k = _checked_rows(a, "a", out_dim)
    y, _ = _checked_rows(p, "p", out_dim)
    if x.shape != y.shape:
        raise ValueError(
            f"a and p must have the same shape, got {tuple(a.shape)} and {tuple(p.shape)}"
        )
    n = x.shape[0]
    if centered:
        x = x - x.mean(dim=0, keepdim=True)
        y = y - y.mean(dim=0, keepdim=True)
        cross = x.T @ y / (n - 1)
    else:
        cross = x.T @ y / n
    return _eigen_axes((cross + cross.T) / 2, k, n)


def sentence_transformers_modules() -> tuple[Any, Any]:
    """sentence-transformers' ``Dense`` and ``Normalize`` module classes (>= 6 moved
    them out of ``sentence_transformers.models``, which now warns on import)."""
    import importlib

    for name in (
        "sentence_transformers.sentence_transformer.modules",
        "sentence_transformers.models",
    ):
        try:
            found = importlib.import_module(name)
        except ImportError:  # sentence-transformers < 6: only the second
            continue
        return found.Dense, found.Normalize
    raise ImportError("exporting a head needs sentence-transformers: pip install contrastkit[text]")


class PCAHead(nn.Module):
    """``y = W x`` with ``W [out_dim, in_dim]`` the principal axes once :meth:`fit`
    (see the module docstring); before, ``W`` is the first ``out_dim`` rows of the
    identity (a prefix: the encoder unchanged at full width).

    Args:
        in_dim: the encoder's width ``d``.
        out_dim: the head's width ``k <= d`` (default ``d``: an orthogonal rotation).
        trainable: fine-tune ``W`` with the encoder (default) or keep it frozen.
        centered: PCA of the covariance (default) or of the uncentred second moment.
        pairs: fit to the anchor-positive cross-covariance (:func:`pair_pca_basis`;
            :meth:`fit` then needs the positives) instead of the texts' covariance.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int | None = None,
        *,
        trainable: bool = True,
        centered: bool = True,
        pairs: bool = False,
    ) -> None:
        super().__init__()
        self.in_dim = check_positive_int("in_dim", in_dim)
        self.out_dim = in_dim if out_dim is None else check_positive_int("out_dim", out_dim)
        if self.out_dim > self.in_dim:
            raise ValueError(f"out_dim must be <= in_dim {in_dim}, got {out_dim}")
        self.centered = bool(centered)
        self.pairs = bool(pairs)
        self.weight = nn.Parameter(torch.eye(self.out_dim, self.in_dim), requires_grad=trainable)
        self.fitted: Tensor
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.last_fit: PCAFit | None = None

    @property
    def trainable(self) -> bool:
        return self.weight.requires_grad

    @torch.no_grad()
    def fit(self, z: Tensor, positives: Tensor | None = None) -> PCAFit:
        """Set ``W`` to the principal axes of ``z [N, in_dim]`` (the encoder's
        embeddings of the training texts) -- or, for a ``pairs`` head, of the
        cross-covariance of anchors ``z`` and their ``positives [N, in_dim]`` -- and
        mark the head fitted."""
        if z.dim() != 2 or z.shape[1] != self.in_dim:
            raise ValueError(f"z must be [N, {self.in_dim}], got {tuple(z.shape)}")
        if self.pairs != (positives is not None):
            raise ValueError(
                "a pairs head is fitted to anchors and positives, a pca head to texts: "
                f"pairs={self.pairs}, positives given: {positives is not None}"
            )
        if positives is not None:
            found = pair_pca_basis(z, positives, self.out_dim, centered=self.centered)
        else:
            found = pca_basis(z, self.out_dim, centered=self.centered)
        self.weight.copy_(found.components.to(self.weight.dtype))  # in place: the optimiser's
        self.fitted.fill_(True)
        self.last_fit = found
        return found

    def forward(self, x: Tensor) -> Tensor:
        """``[..., in_dim] -> [..., out_dim]``."""
        return nn.functional.linear(x, self.weight.to(x.dtype))

    def to_dense(self) -> Any:
        """The same map as a sentence-transformers ``models.Dense`` (no bias, identity
        activation), to append to a ``SentenceTransformer``'s modules."""
        dense_cls, _ = sentence_transformers_modules()
        return dense_cls(
            self.in_dim,
            self.out_dim,
            bias=False,
            activation_function=nn.Identity(),
            init_weight=self.weight.detach().clone().float(),
        )

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, trainable={self.trainable}, "
            f"centered={self.centered}, pairs={self.pairs}"
        )
