r"""``nn.Module`` for Deep Graph Infomax: owns the bilinear discriminator weight :math:`W`.

The maths is in :mod:`contrastkit.functional.dgi`. The module never calls the
encoder: encode the graph and its corruption (a row shuffle of the features) with
the same encoder and pass both embeddings. Reference: Veličković et al. (2019), ICLR.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from contrastkit._validation import check_positive_int
from contrastkit.functional.dgi import dgi_logits, dgi_loss, dgi_summary


class DeepGraphInfomaxLoss(nn.Module):
    r"""Deep Graph Infomax objective with a learnable bilinear discriminator.

    .. math::

        s = \sigma\Big(\frac1N \sum_i z_i\Big), \qquad
        \ell = -\frac1N \sum_i \log \sigma(z_i^\top W s)
               -\frac1M \sum_j \log\big(1 - \sigma(\tilde z_j^\top W s)\big).

    Equal to PyG's ``DeepGraphInfomax.loss`` with the summary
    ``torch.sigmoid(z.mean(dim=0))`` (to ~1e-15 relative; PyG's ``log(p + 1e-15)``
    saturates, this one does not).

    Args:
        dim: embedding dimension :math:`d` (> 0); :math:`W` is ``[d, d]``.
        generator: optional ``torch.Generator`` for the initialisation of :math:`W`,
            uniform in :math:`[-1/\sqrt d, 1/\sqrt d]` as PyG's ``uniform(d, W)``.
            Default None (the global RNG).
        device, dtype: of :math:`W` (defaults as ``torch.empty``).

    Shapes (forward): ``pos_z [N, d]`` (real graph), ``neg_z [M, d]`` (the same encoder
    on the corrupted graph, e.g. ``x[torch.randperm(N, generator=g)]``), ``summary [d]``
    (optional, default :func:`~contrastkit.functional.dgi.dgi_summary` of ``pos_z``).
    Returns a scalar.

    Example:
        >>> import torch
        >>> loss = DeepGraphInfomaxLoss(8, generator=torch.Generator().manual_seed(0))
        >>> x, perm = torch.randn(5, 8), torch.randperm(5)
        >>> encoder = torch.nn.Linear(8, 8)
        >>> loss(encoder(x), encoder(x[perm])).backward()
        >>> loss.weight.grad.shape
        torch.Size([8, 8])
    """

    def __init__(
        self,
        dim: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.weight = nn.Parameter(torch.empty(dim, dim, device=device, dtype=dtype))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        r"""Redraw :math:`W` uniformly in :math:`[-1/\sqrt d, 1/\sqrt d]`."""
        bound = 1.0 / math.sqrt(self.dim)
        nn.init.uniform_(self.weight, -bound, bound, generator=generator)

    def discriminate(self, z: Tensor, summary: Tensor) -> Tensor:
        r"""Logits :math:`z_i^\top W s`, ``[N]`` (apply ``torch.sigmoid`` for probabilities)."""
        return dgi_logits(z, summary, self.weight)

    def forward(self, pos_z: Tensor, neg_z: Tensor, summary: Tensor | None = None) -> Tensor:
        if summary is None:
            summary = dgi_summary(pos_z)
        return dgi_loss(pos_z, neg_z, summary, self.weight)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
