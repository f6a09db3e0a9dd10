r"""Graph Laplacians from an edge list.

An edge list ``edge_index [2, E]`` (PyG layout) with optional non-negative
``edge_weight [E]`` describes an undirected weighted graph :math:`W`:

* self-loops are dropped (they add nothing to :math:`z^\top (D - W) z`; PyG's
  ``get_laplacian`` drops them too);
* every entry :math:`(i, j)` is read as the unordered pair :math:`\{i, j\}`;
* ``duplicates`` says how entries naming the same pair merge: ``"max"`` (default:
  a PyG list holding both directions counts each edge once, and an asymmetric
  k-NN list becomes its union graph), ``"mean"``, or ``"keep"`` (no merging:
  every entry is its own edge of a multigraph, so weights of repeated pairs add
  up and a list holding both directions counts each edge twice; no sort, O(E)).

Then :math:`d_i = \sum_j W_{ij}`, :math:`L = D - W` (``normalization="none"``) and
:math:`L_{sym} = I - D^{-1/2} W D^{-1/2}` (``"sym"``). For an isolated node
(:math:`d_i = 0`) row and column :math:`i` of :math:`L_{sym}` are zero (Chung's
convention, also networkx's); PyG's ``get_laplacian`` puts 1 on that diagonal.

The smallest eigenpairs are in :mod:`contrastkit.functional.laplacian_eigen`.

Reference: F. Chung, *Spectral Graph Theory* (1997); Belkin & Niyogi (2003).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_edge_index,
    check_finite,
    check_float_tensor,
    check_index_range,
    check_length,
    check_positive_int,
    check_weight,
)

Normalization = Literal["none", "sym"]
Duplicates = Literal["max", "mean", "keep"]
NORMALIZATIONS: tuple[Normalization, ...] = ("none", "sym")
DUPLICATES: tuple[Duplicates, ...] = ("max", "mean", "keep")


def undirected_edges(
    edge_index: Tensor,
    edge_weight: Tensor | None = None,
    num_nodes: int | None = None,
    duplicates: Duplicates = "max",
    *,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Canonical undirected edges ``(row < col)`` with merged weights.

    Args:
        edge_index: ``LongTensor [2, E]``; ids in ``[0, num_nodes)``.
        edge_weight: optional non-negative ``[E]`` (default all ones of ``dtype``).
        num_nodes: node count (default ``max id + 1``).
        duplicates: ``"max"``, ``"mean"`` or ``"keep"`` (see the module docstring).
        dtype: dtype of the default weights (default ``torch.get_default_dtype()``).

    Returns:
        ``(edge_index [2, E'], edge_weight [E'])`` without self-loops; sorted and
        unique unless ``duplicates="keep"``. Differentiable in ``edge_weight``.

    >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 2]])
    >>> undirected_edges(ei)[0].tolist()
    [[0, 1], [1, 2]]
    """
    if num_nodes is not None:
        check_positive_int("num_nodes", num_nodes, allow_zero=True)
    ei = check_edge_index("edge_index", edge_index, num_nodes)
    duplicates = check_choice("duplicates", duplicates, DUPLICATES)
    num_edges = ei.shape[1]
    if edge_weight is None:
        w = torch.ones(num_edges, dtype=dtype or torch.get_default_dtype(), device=ei.device)
    else:
        check_weight("edge_weight", edge_weight, (num_edges,))
        check_finite("edge_weight", edge_weight)
        w = edge_weight if dtype is None else edge_weight.to(dtype)
    ei = ei.long()
    lo, hi = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
    proper = lo != hi
    lo, hi, w = lo[proper], hi[proper], w[proper]
    if duplicates == "keep":
        return torch.stack([lo, hi]), w
    n = num_nodes if num_nodes is not None else int(hi.max()) + 1 if hi.numel() else 1
    key, inverse = torch.unique(lo * n + hi, sorted=True, return_inverse=True)
    reduce = "amax" if duplicates == "max" else "mean"
    merged = w.new_zeros(key.numel()).scatter_reduce(0, inverse, w, reduce, include_self=False)
    return torch.stack([key // n, key % n]), merged


def edge_degree(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """Weighted degree ``[num_nodes]`` of canonical undirected edges (each counts at both ends).

    Args:
        edge_index: ``[2, E]`` integer ids in ``[0, num_nodes)``.
        edge_weight: floating ``[E]``.
        num_nodes: ``N >= 0``.
    """
    ei = check_edge_index("edge_index", edge_index)
    check_positive_int("num_nodes", num_nodes, allow_zero=True)
    check_index_range("edge_index", ei, num_nodes)
    check_float_tensor("edge_weight", edge_weight, ndim=1)
    check_length("edge_weight", edge_weight, ei.shape[1], what="entries (one per edge)")
    return _edge_degree(ei.to(torch.int64), edge_weight, num_nodes)


def _edge_degree(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """:func:`edge_degree` without the checks (internal callers pass valid int64 ids)."""
    deg = edge_weight.new_zeros(num_nodes)
    return deg.index_add(0, edge_index[0], edge_weight).index_add(0, edge_index[1], edge_weight)


def inv_sqrt_degree(degree: Tensor) -> Tensor:
    r""":math:`d^{-1/2}` with 0 for isolated nodes; NaN-free in value and gradient."""
    positive = degree > 0
    safe = torch.where(positive, degree, torch.ones_like(degree))
    return torch.where(positive, safe.rsqrt(), torch.zeros_like(degree))


def laplacian(
    edge_index: Tensor,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    normalization: Normalization = "none",
    duplicates: Duplicates = "max",
) -> Tensor:
    r"""Sparse graph Laplacian :math:`L = D - W` or :math:`I - D^{-1/2} W D^{-1/2}`.

    Args:
        edge_index: ``LongTensor [2, E]``.
        num_nodes: ``N`` (default ``max id + 1``).
        edge_weight: optional non-negative ``[E]``.
        normalization: ``"none"`` (default) or ``"sym"``.
        duplicates: how entries of one unordered pair merge (default ``"max"``).

    Returns:
        a coalesced sparse COO tensor ``[N, N]`` (symmetric, positive semi-definite).

    >>> L = laplacian(torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    >>> L.to_dense().diagonal().tolist()
    [1.0, 2.0, 1.0]
    """
    normalization = check_choice("normalization", normalization, NORMALIZATIONS)
    if num_nodes is None:
        ei = check_edge_index("edge_index", edge_index)
        num_nodes = int(ei.max()) + 1 if ei.numel() else 0
    check_positive_int("num_nodes", num_nodes, allow_zero=True)
    dtype = edge_weight.dtype if edge_weight is not None else None
    (row, col), w = undirected_edges(edge_index, edge_weight, num_nodes, duplicates, dtype=dtype)
    deg = _edge_degree(torch.stack([row, col]), w, num_nodes)
    if normalization == "none":
        off, diag = -w, deg
    else:
        inv = inv_sqrt_degree(deg)
        off, diag = -w * inv[row] * inv[col], (deg > 0).to(w.dtype)
    nodes = torch.arange(num_nodes, device=row.device)
    index = torch.stack([torch.cat([row, col, nodes]), torch.cat([col, row, nodes])])
    values = torch.cat([off, off, diag])
    # indices are in range by construction, so torch's invariant check is skipped
    shape = (num_nodes, num_nodes)
    return torch.sparse_coo_tensor(index, values, shape, check_invariants=False).coalesce()
