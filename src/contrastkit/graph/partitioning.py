"""Graph partitioning: METIS (through ``pymetis``) or spectral recursive bisection.

:func:`partition` assigns every node of an undirected graph one of ``P`` parts of
near-equal size while cutting few edges: the clusters of a Cluster-GCN loader
(:mod:`~contrastkit.graph.cluster_loader`) and the shards of data-parallel GNN
training. Two methods:

* ``metis`` — multilevel k-way partitioning (Karypis & Kumar, 1998) through the PyPI
  package ``pymetis`` (the ``partition`` extra): coarsen by heavy-edge matching,
  partition the coarse graph, refine on the way back up. Fast (100,000 nodes and
  1,000,000 edges in about a second) and close to the best cut.
* ``spectral`` — recursive spectral bisection (:mod:`.partition_spectral`), pure
  torch/scipy: each part is split at the median of its Fiedler vector, the second
  eigenvector of the normalised Laplacian.

``auto`` uses METIS when ``pymetis`` imports, else spectral.

Quality measures: :func:`edge_cut` (undirected edges whose ends lie in different
parts) and :func:`imbalance` (largest part over the mean part, :math:`\\max_p |V_p|
/ (N / P)`; 1.0 is perfect balance), METIS' own definitions.

Example:
    >>> ei = torch.tensor([[0, 1, 2, 3, 4, 5, 2], [1, 2, 0, 4, 5, 3, 3]])
    >>> parts = partition(ei, 6, 2, method="spectral")
    >>> edge_cut(ei, parts), imbalance(parts, 2)
    (1, 1.0)

Reference: G. Karypis and V. Kumar, "A fast and high quality multilevel scheme for
partitioning irregular graphs", SIAM J. Sci. Comput. 20(1), 1998; A. Pothen, H. D.
Simon, K.-P. Liou, "Partitioning sparse matrices with eigenvectors of graphs", SIAM
J. Matrix Anal. Appl. 11(3), 1990.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_edge_index,
    check_index_range,
    check_integer_tensor,
    check_positive_int,
    index_bounds,
)
from contrastkit.graph.csr import CSR, to_csr
from contrastkit.graph.partition_spectral import spectral_partition

PartitionMethod = Literal["auto", "metis", "spectral"]
METHODS: tuple[PartitionMethod, ...] = ("auto", "metis", "spectral")


def metis_available() -> bool:
    """Whether ``pymetis`` imports (the ``partition`` extra is installed and loads)."""
    try:
        import pymetis  # noqa: F401
    except ImportError:
        return False
    return True


def partition(
    edge_index: Tensor,
    num_nodes: int,
    num_parts: int,
    method: PartitionMethod = "auto",
    seed: int = 0,
) -> Tensor:
    """Split the nodes into ``num_parts`` parts of near-equal size with a small edge cut.

    The graph is read as undirected: ``(u, v)`` and ``(v, u)`` are one edge, duplicates
    are merged and self-loops ignored (they are never cut).

    Args:
        edge_index: ``[2, E]`` integer node ids in ``[0, num_nodes)``.
        num_nodes: ``N >= 1`` (isolated nodes are nodes too: every one gets a part).
        num_parts: ``P``, ``1 <= P <= N``.
        method: ``"metis"`` (needs ``pymetis``), ``"spectral"``, or ``"auto"`` (METIS
            when ``pymetis`` imports, else spectral).
        seed: METIS' random seed / the spectral eigensolver's start vector (>= 0).

    Returns:
        ``LongTensor[N]``, the part of every node in ``[0, P)``. Spectral parts have
        sizes ``floor`` / ``ceil`` of ``N / P`` (exact balance); METIS allows up to 3 %
        above the mean (its default ``ufactor`` 30) and may, on tiny graphs, leave a
        part empty.

    Raises:
        ValueError: naming the argument and its value (ids out of range, ``num_parts``
            outside ``[1, N]``, an unknown method, a negative seed).
        ImportError: ``method="metis"`` without ``pymetis`` (``pip install pymetis``).
    """
    check_positive_int("num_nodes", num_nodes)
    check_positive_int("num_parts", num_parts)
    if num_parts > num_nodes:
        raise ValueError(f"num_parts must be <= num_nodes ({num_nodes}), got {num_parts}")
    method = check_choice("method", method, METHODS)
    check_positive_int("seed", seed, allow_zero=True)
    ei = check_edge_index("edge_index", edge_index, num_nodes)
    csr = to_csr(ei.cpu(), num_nodes, undirected=True, remove_self_loops=True)
    if method == "auto":
        method = "metis" if metis_available() else "spectral"
    if num_parts == 1:
        parts = torch.zeros(num_nodes, dtype=torch.int64)
    elif method == "metis":
        parts = _metis(csr, num_parts, seed)
    else:
        parts = spectral_partition(csr, num_parts, seed=seed)
    return parts.to(edge_index.device)


def _metis(csr: CSR, num_parts: int, seed: int) -> Tensor:
    """METIS k-way (``P > 8``) or recursive bisection (``P <= 8``, pymetis' default)
    on the symmetric CSR without self-loops."""
    try:
        import pymetis
    except ImportError as err:
        raise ImportError(
            "method='metis' needs the PyPI package pymetis (pip install pymetis, or the "
            "'partition' extra); method='spectral' needs nothing"
        ) from err
    # int32 arrays when the ids fit: METIS' idx_t, so pymetis passes them without a copy
    dtype = np.int32 if csr.num_edges < 2**31 else np.int64
    xadj = csr.rowptr.numpy().astype(dtype)
    adjncy = csr.col.numpy().astype(dtype)
    options = pymetis.Options(seed=int(seed))
    if hasattr(pymetis, "CSRAdjacency"):  # pymetis >= 2025 (xadj/adjncy deprecated)
        graph = pymetis.CSRAdjacency(xadj, adjncy)
        _, membership = pymetis.part_graph(num_parts, adjacency=graph, options=options)
    else:
        _, membership = pymetis.part_graph(num_parts, xadj=xadj, adjncy=adjncy, options=options)
    return torch.from_numpy(np.asarray(membership, dtype=np.int64))


def check_parts(parts: Tensor, num_parts: int | None = None) -> tuple[Tensor, int]:
    """Validate a part assignment ``[N]`` (integers in ``[0, num_parts)``); return it as
    int64 with ``num_parts`` (default ``max + 1``)."""
    parts = check_integer_tensor("parts", parts, ndim=1).to(torch.int64)
    if num_parts is None:
        if parts.numel() == 0:
            raise ValueError("parts is empty: pass num_parts")
        lo, hi = index_bounds(parts)
        if lo < 0:
            raise ValueError(f"parts must be >= 0, got a part id {lo}")
        num_parts = hi + 1
    check_positive_int("num_parts", num_parts)
    check_index_range("parts", parts, num_parts)
    return parts, num_parts


def edge_cut(edge_index: Tensor, parts: Tensor) -> int:
    """Undirected edges whose two ends lie in different parts.

    ``(u, v)`` and ``(v, u)`` count once, duplicates once, self-loops never (METIS'
    ``objval``). ``edge_index`` ``[2, E]`` ids in ``[0, N)``, ``parts`` ``[N]``.
    """
    parts, _ = check_parts(parts)
    ei = check_edge_index("edge_index", edge_index, parts.numel()).to(torch.int64)
    n = parts.numel()
    lo, hi = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
    pairs = torch.unique(lo[lo != hi] * n + hi[lo != hi])  # one key per undirected edge
    u, v = pairs // max(n, 1), pairs % max(n, 1)
    return int((parts[u] != parts[v]).sum())


def part_sizes(parts: Tensor, num_parts: int | None = None) -> Tensor:
    """Nodes per part, ``LongTensor[P]`` (empty parts count 0)."""
    parts, num_parts = check_parts(parts, num_parts)
    return torch.bincount(parts, minlength=num_parts)


def imbalance(parts: Tensor, num_parts: int | None = None) -> float:
    """Largest part over the mean part size, :math:`\\max_p |V_p| \\cdot P / N`.

    1.0 is perfect balance; ``num_parts`` defaults to ``max(parts) + 1`` (pass it when
    trailing parts may be empty).
    """
    sizes = part_sizes(parts, num_parts)
    return float(sizes.max()) * sizes.numel() / max(int(sizes.sum()), 1)
