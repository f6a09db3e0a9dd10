r"""``nn.Module`` wrapper for Laplacian smoothness :math:`\lambda \operatorname{tr}(Z^\top L Z)`.

The maths, the edge conventions and the cost (O(E·d), no :math:`N \times N`
matrix) are in :mod:`contrastkit.functional.spectral`; this module only stores
the hyper-parameters. Reference: Belkin & Niyogi (2003).
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastkit._validation import check_choice, check_non_negative
from contrastkit.functional.laplacian import DUPLICATES, NORMALIZATIONS, Duplicates, Normalization
from contrastkit.functional.spectral import SpectralReduction, laplacian_smoothness


class SpectralSmoothnessLoss(nn.Module):
    r"""Laplacian smoothness of node embeddings over a (weighted) edge list.

    .. math::

        \ell = \lambda \sum_{\{i,j\} \in E} w_{ij} \|z_i - z_j\|^2 \quad\text{or}\quad
        \lambda \sum_{\{i,j\} \in E} w_{ij} \|z_i/\sqrt{d_i} - z_j/\sqrt{d_j}\|^2 .

    Args:
        lambda_: non-negative multiplier :math:`\lambda`. Default 1.0 (the original
            design weights this term 0.01 in its combiner; set that there).
        normalization: ``"none"`` (:math:`D - W`, default) or ``"sym"``
            (:math:`I - D^{-1/2} W D^{-1/2}`).
        duplicates: ``"max"`` (default), ``"mean"`` or ``"keep"``: how entries
            naming the same unordered pair merge (a PyG list holding both
            directions counts each edge once under ``"max"``/``"mean"``).
        reduction: ``"sum"`` (the trace, default), ``"mean"`` (per undirected edge)
            or ``"none"`` (per-edge terms).

    Shapes (forward): ``z [N, d]``, ``edge_index [2, E]``, ``edge_weight [E]``
    (optional, non-negative). Returns a scalar (``[E']`` for ``"none"``).

    Example:
        >>> import torch
        >>> loss = SpectralSmoothnessLoss(normalization="sym")
        >>> z = torch.randn(4, 8, requires_grad=True)
        >>> loss(z, torch.tensor([[0, 1, 2], [1, 2, 3]])).backward()
    """

    def __init__(
        self,
        lambda_: float = 1.0,
        *,
        normalization: Normalization = "none",
        duplicates: Duplicates = "max",
        reduction: SpectralReduction = "sum",
    ) -> None:
        super().__init__()
        self.lambda_ = check_non_negative("lambda_", lambda_)
        self.normalization: Normalization = check_choice(
            "normalization", normalization, NORMALIZATIONS
        )
        self.duplicates: Duplicates = check_choice("duplicates", duplicates, DUPLICATES)
        self.reduction: SpectralReduction = check_choice(
            "reduction", reduction, ("sum", "mean", "none")
        )

    def forward(self, z: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        return laplacian_smoothness(
            z,
            edge_index,
            edge_weight,
            normalization=self.normalization,
            duplicates=self.duplicates,
            reduction=self.reduction,
            lambda_=self.lambda_,
        )

    def extra_repr(self) -> str:
        return (
            f"lambda_={self.lambda_}, normalization={self.normalization!r}, "
            f"duplicates={self.duplicates!r}, reduction={self.reduction!r}"
        )
