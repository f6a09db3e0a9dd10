r"""The ``k`` smallest eigenpairs of a graph Laplacian (an analysis tool, not differentiable).

The Laplacians are those of :mod:`contrastkit.functional.laplacian`. The null
space is known exactly: a graph with ``c`` connected components (isolated nodes
included) has ``c`` zero eigenvalues, with eigenvectors :math:`1_C/\sqrt{|C|}`
(``"none"``) or :math:`D^{1/2} 1_C / \|D^{1/2} 1_C\|` (``"sym"``; :math:`e_i` for an
isolated node). Single-vector Lanczos (ARPACK) can miss copies of a repeated
eigenvalue, and 0 is repeated whenever the graph is disconnected, so the
iterative solvers work on the complement of that null space:

* ``"dense"``: ``scipy.linalg.eigh`` of the dense Laplacian, first ``k`` pairs;
  O(N²) memory, O(N³) time; exact for any multiplicity.
* ``"lobpcg"``: LOBPCG (a block method, robust to the remaining multiplicities,
  e.g. a cycle's double eigenvalues) on the deflated operator
  :math:`L + s\,YY^\top` with :math:`Y` the null basis and :math:`s` above the
  Gershgorin bound of the spectrum; mat-vecs only, O(E + N·k) memory per step.
* ``"shift_invert"``: ARPACK ``eigsh`` on :math:`P (L + \epsilon I)^{-1} P`
  (:math:`P = I - YY^\top`, :math:`\epsilon = 10^{-6}\max_i L_{ii}`); fastest when the
  sparse LU of :math:`L + \epsilon I` stays sparse (meshes, grids, planar graphs), but
  that LU fills in badly on random/expander graphs, so ``"auto"`` never picks it.

``"auto"``: ``"dense"`` when ``N <= dense_max_nodes`` (2048), else ``"lobpcg"``;
any solver falls back to ``"dense"`` when the wanted non-zero pairs are more
than a fifth of the non-null dimension (the iterative methods' own limit).

Reference: Knyazev (2001), LOBPCG; Lehoucq, Sorensen & Yang (1998), ARPACK.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from contrastkit._validation import check_choice, check_edge_index, check_positive_int
from contrastkit.functional.laplacian import (
    NORMALIZATIONS,
    Duplicates,
    Normalization,
    _edge_degree,
    laplacian,
    undirected_edges,
)

EigenMethod = Literal["auto", "dense", "shift_invert", "lobpcg"]
EIGEN_METHODS: tuple[EigenMethod, ...] = ("auto", "dense", "shift_invert", "lobpcg")
Array = np.ndarray


def _null_basis(a: scipy.sparse.csr_matrix, degree: Array, sym: bool) -> scipy.sparse.csr_matrix:
    """Orthonormal sparse basis ``[N, c]`` of the null space, one column per component."""
    n = a.shape[0]
    adj = a.copy()
    adj.setdiag(0.0)
    adj.eliminate_zeros()  # a zero-weight edge connects nothing
    num, labels = connected_components(adj, directed=False)
    vals = np.where(degree > 0, np.sqrt(degree), 1.0) if sym else np.ones(n)
    norms = np.sqrt(np.bincount(labels, weights=vals * vals, minlength=num))
    return scipy.sparse.csr_matrix((vals / norms[labels], (np.arange(n), labels)), shape=(n, num))


def _nonzero_pairs(
    a: scipy.sparse.csr_matrix,
    y: scipy.sparse.csr_matrix,
    m: int,
    method: str,
    tol: float | None,
    seed: int,
) -> tuple[Array, Array]:
    """The ``m`` smallest eigenpairs of ``a`` on the orthogonal complement of ``span(y)``."""
    n = a.shape[0]
    rng = np.random.default_rng(seed)

    def project(x: Array) -> Array:
        return x - y @ (y.T @ x)

    scale = max(float(a.diagonal().max()), 1e-12)
    if method == "shift_invert":
        eps = 1e-6 * scale
        lu = scipy.sparse.linalg.splu((a + eps * scipy.sparse.identity(n)).tocsc())
        op = scipy.sparse.linalg.LinearOperator(
            (n, n), matvec=lambda x: project(lu.solve(project(x))), dtype=np.float64
        )
        return scipy.sparse.linalg.eigsh(
            a, k=m, sigma=-eps, OPinv=op, which="LM", tol=tol or 0.0, v0=project(rng.random(n))
        )
    # Gershgorin: every eigenvalue of L is <= 2 max_i L_ii, so s pushes the null space above them.
    shift = 4.0 * scale

    def deflated(x: Array) -> Array:
        return a @ x + shift * (y @ (y.T @ x))

    op = scipy.sparse.linalg.LinearOperator(
        (n, n), matvec=deflated, matmat=deflated, dtype=np.float64
    )
    diag = a.diagonal() + shift * np.asarray(y.multiply(y).sum(axis=1)).ravel()
    precond = scipy.sparse.diags(1.0 / diag)  # Jacobi; diag > 0 since isolated rows get s
    x0 = project(rng.standard_normal((n, m)))
    vals, vecs = scipy.sparse.linalg.lobpcg(op, x0, M=precond, largest=False, tol=tol, maxiter=1000)
    return vals, vecs


def laplacian_eigenpairs(
    edge_index: Tensor,
    k: int,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    *,
    normalization: Normalization = "none",
    duplicates: Duplicates = "max",
    method: EigenMethod = "auto",
    dense_max_nodes: int = 2048,
    tol: float | None = None,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    r"""The ``k`` smallest eigenvalues of the graph Laplacian and their eigenvectors.

    Args:
        edge_index: ``LongTensor [2, E]``.
        k: number of eigenpairs, ``1 <= k <= N``.
        num_nodes: ``N`` (default ``max id + 1``).
        edge_weight: optional non-negative ``[E]``.
        normalization: ``"none"`` (:math:`D - W`, default) or ``"sym"``.
        duplicates: how entries naming one unordered pair merge (default ``"max"``).
        method: ``"auto"`` (default), ``"dense"``, ``"lobpcg"`` or ``"shift_invert"``.
        dense_max_nodes: largest ``N`` that ``"auto"`` solves densely.
        tol: solver tolerance (default: each solver's own).
        seed: seed of the iterative solvers' start vectors.

    Returns:
        ``(eigenvalues [k], eigenvectors [N, k])``, float64, ascending; round-off
        negatives are clipped to 0 (L is positive semi-definite).

    >>> vals, vecs = laplacian_eigenpairs(torch.tensor([[0, 1], [1, 2]]), k=2)
    >>> [round(v, 6) for v in vals.tolist()]
    [0.0, 1.0]
    """
    method = check_choice("method", method, EIGEN_METHODS)
    normalization = check_choice("normalization", normalization, NORMALIZATIONS)
    check_positive_int("k", k)
    check_positive_int("dense_max_nodes", dense_max_nodes, allow_zero=True)
    if num_nodes is None:
        ei = check_edge_index("edge_index", edge_index)
        num_nodes = int(ei.max()) + 1 if ei.numel() else 0
    n = check_positive_int("num_nodes", num_nodes, allow_zero=True)
    if k > n:
        raise ValueError(f"k must be <= num_nodes ({n}), got {k}")
    with torch.no_grad():
        w64 = edge_weight.detach() if isinstance(edge_weight, Tensor) else edge_weight
        canon, w = undirected_edges(edge_index, w64, n, duplicates, dtype=torch.float64)
        degree = _edge_degree(canon, w, n).cpu().numpy()
        lap = laplacian(canon, n, w, normalization, "keep")
    idx = lap.indices().cpu().numpy()
    a = scipy.sparse.csr_matrix((lap.values().cpu().numpy(), (idx[0], idx[1])), shape=(n, n))
    if method == "dense" or (method == "auto" and n <= dense_max_nodes):
        vals, vecs = scipy.linalg.eigh(a.toarray(), subset_by_index=[0, k - 1])
    else:
        y = _null_basis(a, degree, normalization == "sym")
        c = y.shape[1]
        zeros, null_vecs = np.zeros(min(k, c)), y[:, : min(k, c)].toarray()
        m = k - c
        if m <= 0:
            vals, vecs = zeros, null_vecs
        elif 5 * m >= n - c:
            vals, vecs = scipy.linalg.eigh(a.toarray(), subset_by_index=[0, k - 1])
        else:
            solver = "lobpcg" if method == "auto" else method
            nz_vals, nz_vecs = _nonzero_pairs(a, y, m, solver, tol, seed)
            vals, vecs = np.concatenate([zeros, nz_vals]), np.hstack([null_vecs, nz_vecs])
    order = np.argsort(vals, kind="stable")
    vals = np.clip(vals[order], 0.0, None)
    return torch.from_numpy(np.ascontiguousarray(vals)), torch.from_numpy(
        np.ascontiguousarray(vecs[:, order])
    )


def laplacian_eigenvalues(
    edge_index: Tensor,
    k: int,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    *,
    normalization: Normalization = "none",
    duplicates: Duplicates = "max",
    method: EigenMethod = "auto",
    dense_max_nodes: int = 2048,
    tol: float | None = None,
    seed: int = 0,
) -> Tensor:
    """The ``k`` smallest Laplacian eigenvalues ``[k]`` (float64, ascending).

    Arguments as :func:`laplacian_eigenpairs`.

    >>> cycle = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    >>> [round(v, 6) for v in laplacian_eigenvalues(cycle, k=4).tolist()]
    [0.0, 2.0, 2.0, 4.0]
    """
    vals, _ = laplacian_eigenpairs(
        edge_index,
        k,
        num_nodes,
        edge_weight,
        normalization=normalization,
        duplicates=duplicates,
        method=method,
        dense_max_nodes=dense_max_nodes,
        tol=tol,
        seed=seed,
    )
    return vals
