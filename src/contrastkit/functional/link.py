r"""Link prediction and adjacency reconstruction (sparse and dense): BCE on pair logits.

The logit of a pair is its score (larger = closer) under any
:class:`~contrastkit.functional.distances.Distance`, divided by a temperature and shifted
by a bias:

.. math::
    x_{ij} = s(z_i, z_j) / \tau + b, \qquad P(i \sim j) = \sigma(x_{ij})

``dot`` with :math:`\tau = 1, b = 0` is the inner-product decoder of the graph
auto-encoder (Kipf & Welling 2016); ``cosine`` needs a small :math:`\tau` (or a learnable
one, see :class:`contrastkit.losses.link.LinkPredictionLoss`) because cosines lie in
[-1, 1]; a distance with :math:`b = r/\tau` is the Fermi-Dirac decoder
:math:`\sigma((r - d)/\tau)` of hyperbolic GCNs. Losses use ``F.logsigmoid`` on logits,
never ``log(sigmoid + eps)``.

The dense form (:func:`dense_adjacency_reconstruction_loss`) scores all :math:`N^2` pairs;
the sparse one draws non-edges with :mod:`contrastkit.functional.link_sampling`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_positive,
    check_tensor,
    check_unit_interval,
    check_weight,
)
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.info_nce import check_temperature
from contrastkit.functional.link_sampling import sample_non_edges
from contrastkit.functional.reduction import check_reduction, reduce_loss


def _check_bias(bias: float | Tensor) -> float | Tensor:
    if isinstance(bias, Tensor):
        if bias.numel() != 1:
            raise ValueError(f"bias must be a scalar, got shape {tuple(bias.shape)}")
        return bias.reshape(())
    if isinstance(bias, bool) or not isinstance(bias, (int, float)):
        raise TypeError(f"bias must be a number or a scalar tensor, got {type(bias).__name__}")
    return float(bias)


def link_logits(
    z: Tensor,
    edge_index: Tensor,
    *,
    distance: str | Distance = "dot",
    temperature: float | Tensor = 1.0,
    bias: float | Tensor = 0.0,
) -> Tensor:
    r"""Logits :math:`s(z_i, z_j)/\tau + b` of the pairs in ``edge_index``.

    Args:
        z: node embeddings ``[N, d]``.
        edge_index: ``[2, E]`` node pairs with ids in ``[0, N)``.
        distance: name or :class:`Distance` (default ``"dot"``).
        temperature: :math:`\tau > 0`, a float or a scalar tensor (default 1.0).
        bias: :math:`b` (default 0.0).

    Returns:
        ``[E]`` logits.

    Example:
        >>> import torch
        >>> link_logits(torch.eye(3), torch.tensor([[0, 1], [0, 2]])).tolist()
        [1.0, 0.0]
    """
    z = check_float_tensor("z", z, ndim=2)
    edge_index = check_edge_index("edge_index", edge_index, num_nodes=z.shape[0])
    tau, b = check_temperature(temperature), _check_bias(bias)
    scores = get_distance(distance).score_paired(
        z[edge_index[0]], z[edge_index[1]], names=("z", "z")
    )
    return scores / tau + b


def _bce_terms(
    z: Tensor,
    pos: Tensor,
    neg: Tensor,
    distance: str | Distance,
    temperature: float | Tensor,
    bias: float | Tensor,
) -> tuple[Tensor, Tensor]:
    """``-log sigma(x)`` on the positive pairs and ``-log sigma(-x)`` on the negative ones."""
    pos_x = link_logits(z, pos, distance=distance, temperature=temperature, bias=bias)
    neg_x = link_logits(z, neg, distance=distance, temperature=temperature, bias=bias)
    return -F.logsigmoid(pos_x), -F.logsigmoid(-neg_x)


def link_prediction_loss(
    z: Tensor,
    pos_edge_index: Tensor,
    neg_edge_index: Tensor,
    *,
    distance: str | Distance = "dot",
    temperature: float | Tensor = 1.0,
    bias: float | Tensor = 0.0,
    reduction: str = "mean",
    pos_edge_weight: Tensor | None = None,
    neg_edge_weight: Tensor | None = None,
) -> Tensor:
    r"""Binary cross-entropy of edges (label 1) against non-edges (label 0), pooled.

    .. math::
        L = \frac{-\sum_{e \in E_+} w_e \log\sigma(x_e) - \sum_{e \in E_-} w_e \log\sigma(-x_e)}
            {\sum_{e \in E_+ \cup E_-} w_e}

    Args:
        z: node embeddings ``[N, d]``.
        pos_edge_index: ``[2, E_+]`` edges.
        neg_edge_index: ``[2, E_-]`` non-edges.
        distance, temperature, bias: see :func:`link_logits` (defaults ``"dot"``, 1, 0).
        reduction: ``"mean"`` (over all pairs, as above), ``"sum"`` or ``"none"``
            (``[E_+ + E_-]``, positives first).
        pos_edge_weight: optional non-negative ``[E_+]``.
        neg_edge_weight: optional non-negative ``[E_-]``.

    Returns:
        a scalar, or ``[E_+ + E_-]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> z = torch.randn(5, 4)
        >>> pos, neg = torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0, 3], [4, 4]])
        >>> link_prediction_loss(z, pos, neg, distance="cosine", temperature=0.1).shape
        torch.Size([])
    """
    reduction = check_reduction(reduction)
    z = check_float_tensor("z", z, ndim=2)
    pos_edge_index = check_edge_index("pos_edge_index", pos_edge_index, num_nodes=z.shape[0])
    neg_edge_index = check_edge_index("neg_edge_index", neg_edge_index, num_nodes=z.shape[0])
    check_weight("pos_edge_weight", pos_edge_weight, (pos_edge_index.shape[1],))
    check_weight("neg_edge_weight", neg_edge_weight, (neg_edge_index.shape[1],))
    pos_loss, neg_loss = _bce_terms(z, pos_edge_index, neg_edge_index, distance, temperature, bias)
    losses = torch.cat([pos_loss, neg_loss])
    weight = None
    if pos_edge_weight is not None or neg_edge_weight is not None:
        pw = pos_edge_weight if pos_edge_weight is not None else torch.ones_like(pos_loss)
        nw = neg_edge_weight if neg_edge_weight is not None else torch.ones_like(neg_loss)
        weight = torch.cat([pw.to(losses.dtype), nw.to(losses.dtype)])
    return reduce_loss(losses, reduction, weight=weight)


def sparse_adjacency_reconstruction_loss(
    z: Tensor,
    edge_index: Tensor,
    neg_edge_index: Tensor | None = None,
    *,
    num_neg_samples: int | None = None,
    generator: torch.Generator | None = None,
    undirected: bool = False,
    distance: str | Distance = "dot",
    temperature: float | Tensor = 1.0,
    bias: float | Tensor = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Adjacency reconstruction on the edges plus sampled non-edges (graph auto-encoder loss).

    .. math::
        L = -\frac{1}{|E_+|}\sum_{e \in E_+} \log\sigma(x_e)
            - \frac{1}{|E_-|}\sum_{e \in E_-} \log\sigma(-x_e)

    the ``recon_loss`` of PyG's ``GAE`` (which evaluates :math:`-\log(\sigma(x) + 10^{-15})`;
    the two agree to within :math:`10^{-15}/\sigma(x)`, i.e. exactly in practice).

    Args:
        z: node embeddings ``[N, d]``.
        edge_index: ``[2, E_+]`` true edges.
        neg_edge_index: optional ``[2, E_-]`` non-edges; when None, ``num_neg_samples``
            (default ``E_+``) are drawn uniformly with ``generator`` (required then) by
            :func:`~contrastkit.functional.link_sampling.sample_non_edges`, rejecting true
            edges (both directions when ``undirected``) and self-loops.
        num_neg_samples, generator, undirected: as above.
        distance, temperature, bias: see :func:`link_logits` (defaults ``"dot"``, 1, 0).
        reduction: ``"mean"`` (as above; an empty side contributes 0), ``"sum"`` (over all
            pairs) or ``"none"`` (``[E_+ + E_-]``, positives first).

    Returns:
        a scalar, or ``[E_+ + E_-]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> z, ei = torch.randn(6, 4), torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> g = torch.Generator().manual_seed(0)
        >>> sparse_adjacency_reconstruction_loss(z, ei, generator=g).shape
        torch.Size([])
    """
    reduction = check_reduction(reduction)
    z = check_float_tensor("z", z, ndim=2)
    edge_index = check_edge_index("edge_index", edge_index, num_nodes=z.shape[0])
    if neg_edge_index is None:
        if generator is None:
            raise ValueError("generator is required to sample non-edges (neg_edge_index is None)")
        n_neg = edge_index.shape[1] if num_neg_samples is None else num_neg_samples
        neg_edge_index = sample_non_edges(
            edge_index, z.shape[0], n_neg, generator=generator, undirected=undirected
        )
    elif num_neg_samples is not None:
        raise ValueError("num_neg_samples must be None when neg_edge_index is given")
    neg_edge_index = check_edge_index("neg_edge_index", neg_edge_index, num_nodes=z.shape[0])
    pos_loss, neg_loss = _bce_terms(z, edge_index, neg_edge_index, distance, temperature, bias)
    if reduction == "mean":
        return reduce_loss(pos_loss, "mean") + reduce_loss(neg_loss, "mean")
    return reduce_loss(torch.cat([pos_loss, neg_loss]), reduction)


def dense_adjacency_reconstruction_loss(
    z: Tensor,
    adjacency: Tensor | None = None,
    *,
    edge_index: Tensor | None = None,
    pos_weight: float | Literal["auto"] | None = None,
    include_diagonal: bool = True,
    distance: str | Distance = "dot",
    temperature: float | Tensor = 1.0,
    bias: float | Tensor = 0.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Full adjacency reconstruction :math:`\hat A = \sigma(S(Z, Z)/\tau + b)` against ``A``.

    .. math::
        L = \operatorname{mean}_{ij}\Big[-\,\omega\, A_{ij} \log\sigma(x_{ij})
            - (1 - A_{ij}) \log\sigma(-x_{ij})\Big]

    the graph auto-encoder loss of Kipf & Welling (2016) (whose reference code adds
    self-loops to ``A``, uses :math:`\omega = (N^2 - |E|)/|E|` — ``pos_weight="auto"`` —
    and rescales by a constant, which we leave out). Costs :math:`O(N^2 d)` time and
    :math:`O(N^2)` memory; use :func:`sparse_adjacency_reconstruction_loss` for large graphs.

    Args:
        z: node embeddings ``[N, d]``.
        adjacency: dense targets ``[N, N]`` in [0, 1] (float, int or bool); or give
            ``edge_index`` instead.
        edge_index: ``[2, E]`` edges, turned into a 0/1 ``A`` (as given, not symmetrised).
        pos_weight: :math:`\omega` for the positive entries: a float > 0, ``"auto"``
            (:math:`\#\text{zeros} / \#\text{ones}` over the counted entries) or None (1).
        include_diagonal: count the :math:`i = j` entries (default True).
        distance, temperature, bias: see :func:`link_logits` (defaults ``"dot"``, 1, 0).
        reduction: ``"mean"`` over the counted entries, ``"sum"`` or ``"none"`` (``[N, N]``,
            0 on the diagonal when it is excluded).
        weight: optional non-negative per-entry weights ``[N, N]``.

    Returns:
        a scalar, or ``[N, N]`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> z, ei = torch.randn(4, 2), torch.tensor([[0, 1], [1, 0]])
        >>> dense_adjacency_reconstruction_loss(z, edge_index=ei, pos_weight="auto").shape
        torch.Size([])
    """
    reduction = check_reduction(reduction)
    z = check_float_tensor("z", z, ndim=2)
    n = z.shape[0]
    if (adjacency is None) == (edge_index is None):
        raise ValueError("give exactly one of adjacency and edge_index")
    if adjacency is not None:
        target = check_tensor("adjacency", adjacency, ndim=2)  # bool / 0-1 ints are fine
        if tuple(target.shape) != (n, n):
            raise ValueError(f"adjacency must have shape {(n, n)}, got {tuple(target.shape)}")
        check_unit_interval("adjacency", target)
        target = target.to(z.dtype)
    else:
        ei = check_edge_index("edge_index", edge_index, num_nodes=n)
        target = z.new_zeros((n, n))
        target[ei[0], ei[1]] = 1.0
    valid = None if include_diagonal else ~torch.eye(n, dtype=torch.bool, device=z.device)
    tau, b = check_temperature(temperature), _check_bias(bias)
    logits = get_distance(distance).score_pairwise(z, z, names=("z", "z")) / tau + b
    pw: Tensor | None = None
    if pos_weight == "auto":
        counted = target if valid is None else target[valid]
        ones = counted.sum()
        pw = ((counted.numel() - ones) / ones).detach() if bool(ones > 0) else None
    elif pos_weight is not None:
        pw = z.new_tensor(check_positive("pos_weight", pos_weight))
    losses = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
    return reduce_loss(losses, reduction, weight=weight, valid=valid)
