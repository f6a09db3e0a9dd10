r"""Pairwise (Hadsell et al. 2006) contrastive losses over graph edge lists.

Local contrastive loss: each listed pair :math:`(i, j)` is similar (pulled together) or
dissimilar (pushed to at least the margin):

.. math::
    \ell_{ij} = \begin{cases} d(z_i, z_j)^2 & \text{similar} \\
        \max\big(0,\ m - d(z_i, z_j)\big)^2 & \text{dissimilar} \end{cases}

Multi-hop contrastive loss: pairs grouped by hop count :math:`h \ge 1` (``h = 1``: graph
neighbours, ``h = 2``: neighbours of neighbours, ...) are all similar pairs, each pulled
with its hop's weight :math:`w_h` (by default :math:`w_h = 1/h`, so closer hops are pulled
harder); optional non-neighbour pairs are pushed beyond the margin with weight
``negative_weight``. It is the local loss with per-pair weights.

The factor 1/2 of the paper is dropped (as in the design notes); it only rescales the loss.
``d`` must be a distance (``higher_is_closer`` False): Euclidean (default), squared
Euclidean or Poincaré. For cosine geometry use ``normalize=True`` with Euclidean, since
:math:`\|\hat x - \hat y\|^2 = 2 - 2\cos(x, y)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_non_negative,
    check_tensor,
    check_weight,
)
from contrastkit.functional.distances import Distance, L2Distance, get_distance
from contrastkit.functional.reduction import check_reduction, reduce_loss
from contrastkit.functional.triplet import maybe_normalize


def require_distance(distance: str | Distance) -> Distance:
    """Resolve ``distance`` and reject similarities (cosine, dot): the loss needs ``d >= 0``."""
    dist = get_distance(distance)
    if dist.higher_is_closer:
        raise ValueError(
            f"distance must be a distance (larger = farther) such as 'euclidean', got "
            f"{dist!r}; use distance='euclidean' with normalize=True for cosine geometry"
        )
    return dist


def _check_bool(name: str, value: Tensor, size: int) -> Tensor:
    value = check_tensor(name, value, ndim=1)
    if value.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor, got dtype {value.dtype}")
    if value.shape[0] != size:
        raise ValueError(f"{name} must have {size} entries (one per edge), got {value.shape[0]}")
    return value


def local_contrastive_loss(
    z: Tensor,
    edge_index: Tensor,
    similar: Tensor | None = None,
    *,
    margin: float = 1.0,
    distance: str | Distance = "euclidean",
    normalize: bool = False,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Contrastive loss of Hadsell, Chopra & LeCun (2006) over an edge list.

    .. math::
        L = \frac{\sum_e w_e \big[y_e\, d_e^2 + (1 - y_e) \max(0, m - d_e)^2\big]}{\sum_e w_e},
        \qquad d_e = d(z_{src_e}, z_{dst_e})

    Args:
        z: node embeddings ``[N, d]``.
        edge_index: ``[2, E]`` integer pairs with ids in ``[0, N)``.
        similar: optional bool ``[E]``; True = similar (default: every pair similar).
        margin: ``m >= 0`` for dissimilar pairs (default 1.0).
        distance: a distance name or :class:`Distance` (default ``"euclidean"``).
        normalize: L2-normalise ``z`` first (default False).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per pair ``[E]``).
        weight: optional non-negative per-pair weights ``[E]``.

    Returns:
        a scalar, or ``[E]`` for ``reduction="none"``. An empty edge list gives an attached 0.

    Example:
        >>> import torch
        >>> z = torch.randn(4, 3)
        >>> ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> local_contrastive_loss(z, ei, torch.tensor([True, True, False])).shape
        torch.Size([])
    """
    z = check_float_tensor("z", z, ndim=2)
    edge_index = check_edge_index("edge_index", edge_index, num_nodes=z.shape[0])
    check_non_negative("margin", margin)
    reduction = check_reduction(reduction)
    dist = require_distance(distance)
    num_edges = edge_index.shape[1]
    if similar is not None:
        similar = _check_bool("similar", similar, num_edges)
    check_weight("weight", weight, (num_edges,))
    x = maybe_normalize(z, normalize)
    xi, xj = x[edge_index[0]], x[edge_index[1]]
    d = dist.paired(xi, xj, names=("z", "z"))  # [E]
    # exact squared Euclidean for the pull term (L2Distance floors d^2 at 1e-10 for the root)
    pull = ((xi - xj) ** 2).sum(-1) if isinstance(dist, L2Distance) else d * d
    if similar is None:
        losses = pull
    else:
        push = (margin - d).clamp_min(0.0) ** 2
        losses = torch.where(similar, pull, push)
    return reduce_loss(losses, reduction, weight=weight)


def _hop_weights(hop_weights: Sequence[float] | Tensor | None, max_hop: int, z: Tensor) -> Tensor:
    if hop_weights is None:
        return 1.0 / torch.arange(1, max_hop + 1, dtype=z.dtype, device=z.device)
    w = torch.as_tensor(hop_weights, dtype=z.dtype, device=z.device)
    w = check_float_tensor("hop_weights", w, ndim=1)
    if w.shape[0] < max_hop:
        raise ValueError(
            f"hop_weights needs at least {max_hop} entries (hops 1..{max_hop}), got {w.shape[0]}"
        )
    if w.numel() and (bool((w < 0).any()) or not bool(torch.isfinite(w).all())):
        raise ValueError(f"hop_weights must be finite and non-negative, got {w.tolist()}")
    return w


def multi_hop_contrastive_loss(
    z: Tensor,
    edge_index: Tensor | Sequence[Tensor],
    hop: Tensor | None = None,
    *,
    hop_weights: Sequence[float] | Tensor | None = None,
    negative_edge_index: Tensor | None = None,
    negative_weight: float = 1.0,
    margin: float = 1.0,
    distance: str | Distance = "euclidean",
    normalize: bool = False,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Multi-hop contrastive loss: pull h-hop pairs with weight :math:`w_h`, push non-pairs.

    .. math::
        L = \frac{\sum_{(i,j,h)} w_h\, d_{ij}^2
            + \omega \sum_{(i,j) \in \mathcal N} \max(0, m - d_{ij})^2}
            {\sum_{(i,j,h)} w_h + \omega |\mathcal N|}

    Args:
        z: node embeddings ``[N, d]``.
        edge_index: either one ``[2, E]`` tensor together with ``hop``, or a sequence of
            ``[2, E_h]`` tensors, the ``h``-th (from 1) holding the ``h``-hop pairs.
        hop: integer ``[E]`` hop count (>= 1) of each pair, when ``edge_index`` is a tensor.
        hop_weights: :math:`w_1, \dots, w_H` (non-negative); default :math:`w_h = 1/h`.
        negative_edge_index: optional ``[2, E_-]`` pairs to push beyond the margin.
        negative_weight: :math:`\omega \ge 0` for those pairs (default 1.0).
        margin: ``m >= 0`` (default 1.0).
        distance, normalize: as in :func:`local_contrastive_loss`.
        reduction: ``"mean"`` (weighted mean above), ``"sum"`` (the numerator) or ``"none"``
            (weighted per-pair losses ``[E + E_-]``, positives first).
        weight: optional non-negative per-pair weights ``[E + E_-]`` (same order),
            multiplied into :math:`w_h` and :math:`\omega`.

    Returns:
        a scalar, or ``[E + E_-]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> z = torch.randn(5, 3)
        >>> one_hop, two_hop = torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0], [2]])
        >>> multi_hop_contrastive_loss(z, [one_hop, two_hop], hop_weights=[1.0, 0.5]).shape
        torch.Size([])
    """
    z = check_float_tensor("z", z, ndim=2)
    check_non_negative("negative_weight", negative_weight)
    if isinstance(edge_index, Tensor):
        edge_index = check_edge_index("edge_index", edge_index, num_nodes=z.shape[0])
        if hop is None:
            raise ValueError("hop is required when edge_index is a single tensor")
        hop = check_tensor("hop", hop, ndim=1)
        if hop.is_floating_point() or hop.dtype == torch.bool:
            raise TypeError(f"hop must be an integer tensor, got dtype {hop.dtype}")
        if hop.shape[0] != edge_index.shape[1]:
            raise ValueError(f"hop must have {edge_index.shape[1]} entries, got {hop.shape[0]}")
        if hop.numel() and int(hop.min()) < 1:
            raise ValueError(f"hop must be >= 1, got min {int(hop.min())}")
        pos, hops = edge_index, hop.long()
    else:
        if hop is not None:
            raise ValueError("hop must be None when edge_index is a sequence of per-hop tensors")
        parts = [
            check_edge_index(f"edge_index[{h}]", e, num_nodes=z.shape[0])
            for h, e in enumerate(edge_index)
        ]
        pos = torch.cat(parts, 1) if parts else z.new_zeros((2, 0), dtype=torch.long)
        hops = (
            torch.cat(
                [torch.full((e.shape[1],), h + 1, dtype=torch.long) for h, e in enumerate(parts)]
            )
            if parts
            else torch.zeros(0, dtype=torch.long)
        )
    max_hop = int(hops.max()) if hops.numel() else 0
    w_hop = _hop_weights(hop_weights, max_hop, z)
    pair_weight = w_hop[hops.to(w_hop.device) - 1] if hops.numel() else z.new_zeros(0)
    similar = torch.ones(pos.shape[1], dtype=torch.bool, device=z.device)
    if negative_edge_index is not None:
        neg = check_edge_index("negative_edge_index", negative_edge_index, num_nodes=z.shape[0])
        pos = torch.cat([pos.to(neg.device), neg], 1)
        similar = torch.cat([similar, torch.zeros(neg.shape[1], dtype=torch.bool, device=z.device)])
        pair_weight = torch.cat(
            [pair_weight, pair_weight.new_full((neg.shape[1],), negative_weight)]
        )
    check_weight("weight", weight, (pos.shape[1],))
    if weight is not None:
        pair_weight = pair_weight * weight
    return local_contrastive_loss(
        z,
        pos.to(z.device),
        similar,
        margin=margin,
        distance=distance,
        normalize=normalize,
        reduction=reduction,
        weight=pair_weight,
    )
