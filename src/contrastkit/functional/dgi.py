r"""Deep Graph Infomax: a bilinear discriminator between node patches and a graph summary.

Node embeddings of the real graph, :math:`z_i` (``pos_z``), and of a corrupted copy,
:math:`\tilde z_j` (``neg_z``), are scored against the summary :math:`s` of the real
graph by the bilinear discriminator :math:`D(z, s) = z^\top W s`; the loss is the
binary cross-entropy of "real" against "corrupted":

.. math::

    s = \sigma\Big(\frac1N \sum_i z_i\Big), \qquad
    \ell = -\frac1N \sum_{i=1}^N \log \sigma(z_i^\top W s)
           -\frac1M \sum_{j=1}^M \log\big(1 - \sigma(\tilde z_j^\top W s)\big).

Both terms use ``F.logsigmoid`` on the logits (:math:`\log(1 - \sigma(x)) =
\log\sigma(-x)`), never :math:`\log(p + \epsilon)`: PyG's
``DeepGraphInfomax.loss`` adds :math:`\epsilon = 10^{-15}` inside the log, which
agrees with this form to ~1e-15 relative on ordinary logits but caps a term at
:math:`-\log\epsilon \approx 34.5` (with zero gradient) once a logit saturates.

The corruption is not part of the loss (a loss never calls a model): the caller
encodes a corrupted graph with the *same* encoder, in the paper a row shuffle of the
node features on the unchanged edges, ``neg_z = encoder(x[torch.randperm(N,
generator=g)], edge_index)``. Cost: O((N + M) d + d²).

Reference: Veličković et al. (2019), Deep Graph Infomax, ICLR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_same_dim
from contrastkit.functional.reduction import reduce_loss


def dgi_summary(z: Tensor) -> Tensor:
    r"""Readout :math:`s = \sigma(\frac1N \sum_i z_i)`, PyG's default DGI summary.

    Args:
        z: node embeddings ``[N, d]`` (``N >= 1``).

    Returns:
        the summary ``[d]``.

    >>> dgi_summary(torch.tensor([[1.0, -2.0], [-1.0, 2.0]])).tolist()
    [0.5, 0.5]
    """
    z = check_float_tensor("z", z, ndim=2)
    if z.shape[0] == 0:
        raise ValueError("z must have at least one row to summarise, got shape (0, d)")
    return torch.sigmoid(z.mean(dim=0))


def _check_discriminator(d: int, summary: Tensor, weight: Tensor) -> None:
    check_float_tensor("summary", summary, ndim=1)
    check_float_tensor("weight", weight, ndim=2)
    if summary.shape[0] != d:
        raise ValueError(f"summary must have shape ({d},), got {tuple(summary.shape)}")
    if tuple(weight.shape) != (d, d):
        raise ValueError(f"weight must have shape ({d}, {d}), got {tuple(weight.shape)}")


def dgi_logits(z: Tensor, summary: Tensor, weight: Tensor) -> Tensor:
    r"""Discriminator logits :math:`D(z_i, s) = z_i^\top W s` (before the sigmoid).

    Args:
        z: node embeddings ``[N, d]``.
        summary: graph summary ``[d]``.
        weight: bilinear weight :math:`W` ``[d, d]``.

    Returns:
        ``[N]`` logits; computed as :math:`Z (W s)`, O(N d + d²).

    >>> dgi_logits(torch.eye(2), torch.tensor([1.0, 2.0]), torch.eye(2)).tolist()
    [1.0, 2.0]
    """
    z = check_float_tensor("z", z, ndim=2)
    _check_discriminator(z.shape[1], summary, weight)
    return z @ (weight @ summary)


def dgi_loss(pos_z: Tensor, neg_z: Tensor, summary: Tensor, weight: Tensor) -> Tensor:
    r"""Deep Graph Infomax loss :math:`-\overline{\log\sigma(D(z, s))}
    - \overline{\log\sigma(-D(\tilde z, s))}` (see the module doc).

    Args:
        pos_z: embeddings of the real graph ``[N, d]``.
        neg_z: embeddings of the corrupted graph ``[M, d]`` (usually ``M = N``: the
            same encoder on ``x[randperm(N)]``).
        summary: graph summary ``[d]``, usually :func:`dgi_summary` of ``pos_z``.
        weight: bilinear discriminator weight :math:`W` ``[d, d]``.

    Returns:
        a scalar; an empty side contributes an attached 0 (no NaN).

    >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> w = torch.zeros(2, 2)
    >>> round(dgi_loss(z, -z, dgi_summary(z), w).item(), 4)  # 2 log 2: chance level
    1.3863
    """
    pos_z = check_float_tensor("pos_z", pos_z, ndim=2)
    neg_z = check_float_tensor("neg_z", neg_z, ndim=2)
    check_same_dim("pos_z", pos_z, "neg_z", neg_z)
    _check_discriminator(pos_z.shape[1], summary, weight)
    ws = weight @ summary
    pos = reduce_loss(-F.logsigmoid(pos_z @ ws), "mean")
    neg = reduce_loss(-F.logsigmoid(-(neg_z @ ws)), "mean")
    return pos + neg
