"""Compressed sparse row (CSR) adjacency built from a PyG ``edge_index``.

A :class:`CSR` stores, for every source node ``u``, its sorted and de-duplicated
out-neighbours ``col[rowptr[u]:rowptr[u + 1]]``. It is the shared substrate of
the vectorised graph algorithms (k-hop frontier expansion, neighbour sampling,
edge membership tests): every operation here works on many nodes at once with
``repeat_interleave`` / ``searchsorted``, never with a Python loop over nodes.

Shapes: ``edge_index`` ``LongTensor[2, E]`` (row 0 = source, row 1 = target);
``rowptr`` ``[N + 1]``; ``col`` ``[nnz]``; all int64.

Example:
    >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> g = to_csr(ei, num_nodes=3)
    >>> g.rowptr.tolist(), g.col.tolist()
    ([0, 1, 3, 4], [1, 0, 2, 1])
    >>> degrees(g).tolist()
    [1, 2, 1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from contrastkit._validation import (
    check_broadcastable,
    check_choice,
    check_edge_index,
    check_index_range,
    check_integer_tensor,
    check_positive_int,
    check_tensor,
)

Direction = Literal["out", "in", "total"]


@dataclass(frozen=True)
class CSR:
    """Row-compressed adjacency.

    Attributes:
        rowptr: ``[N + 1]`` int64, ``rowptr[0] = 0``, non-decreasing, ``rowptr[N] = nnz``.
        col: ``[nnz]`` int64 neighbour ids in ``[0, N)``, sorted ascending within each row,
            no duplicates.
        num_nodes: ``N``.

    The constructor checks all of this (O(N + nnz), vectorised) and raises a
    ``ValueError``/``TypeError`` naming the offending field; integer arrays of another
    dtype are converted to int64. :func:`to_csr` builds consistent arrays and skips the
    checks.
    """

    rowptr: Tensor
    col: Tensor
    num_nodes: int

    def __post_init__(self) -> None:
        rowptr, col = _check_csr(self.rowptr, self.col, self.num_nodes)
        # frozen: the int64 copies (if any) replace the fields once, here
        object.__setattr__(self, "rowptr", rowptr)
        object.__setattr__(self, "col", col)

    @classmethod
    def _trusted(cls, rowptr: Tensor, col: Tensor, num_nodes: int) -> CSR:
        """A CSR from arrays already known to be consistent (int64, built by
        :func:`to_csr`): skips the O(N + nnz) checks of the constructor."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "rowptr", rowptr)
        object.__setattr__(obj, "col", col)
        object.__setattr__(obj, "num_nodes", num_nodes)
        return obj

    @property
    def num_edges(self) -> int:
        """Number of stored (directed) entries ``nnz``."""
        return int(self.col.numel())

    def row(self) -> Tensor:
        """Source node of every stored entry, ``[nnz]`` (the expanded ``rowptr``)."""
        counts = self.rowptr[1:] - self.rowptr[:-1]
        return torch.repeat_interleave(torch.arange(self.num_nodes, device=self.col.device), counts)

    def keys(self) -> Tensor:
        """``row * N + col`` for every entry, ``[nnz]``; sorted ascending by construction."""
        return self.sorted_keys

    @cached_property
    def sorted_keys(self) -> Tensor:
        """:meth:`keys`, computed once per CSR (membership tests search it every step)."""
        return self.row() * self.num_nodes + self.col

    @cached_property
    def key_filter(self) -> Tensor:
        """A one-hash Bloom filter of the stored pairs: a bool table of ``2^b`` slots
        (``b`` such that at most 1/32 of the slots are set), True at
        :func:`_pair_slots` of every stored ``(row, col)``. A query whose slot is False
        is no edge; only the rest need the binary search in :meth:`keys`."""
        bits = max(10, int(self.num_edges * 32).bit_length())
        table = torch.zeros(1 << bits, dtype=torch.bool, device=self.col.device)
        table[_pair_slots(self.row(), self.col, table.numel())] = True
        return table

    @cached_property
    def scipy(self) -> Any:
        """The same matrix as a ``scipy.sparse.csr_matrix`` of float32 ones (CPU),
        built once per CSR and cached (used by the sparse-product k-hop expansion)."""
        import scipy.sparse as sp

        n = self.num_nodes
        data = np.ones(self.num_edges, dtype=np.float32)
        return sp.csr_matrix(
            (data, self.col.cpu().numpy(), self.rowptr.cpu().numpy()), shape=(n, n)
        )

    def to_edge_index(self) -> Tensor:
        """Back to a ``LongTensor[2, nnz]`` (sorted by source, then target)."""
        return torch.stack([self.row(), self.col])


def _check_csr(rowptr: object, col: object, num_nodes: object) -> tuple[Tensor, Tensor]:
    """Validate the arrays of a :class:`CSR` (vectorised, O(N + nnz)) and return them
    as int64: ``rowptr`` ``[N + 1]`` from 0, non-decreasing, ending at ``len(col)``;
    ``col`` ids in ``[0, N)``, sorted and distinct within each row."""
    n = check_positive_int("num_nodes", num_nodes, allow_zero=True)  # type: ignore[arg-type]
    rp = check_integer_tensor("rowptr", rowptr, ndim=1)
    c = check_integer_tensor("col", col, ndim=1)
    if rp.device != c.device:
        raise ValueError(f"rowptr is on {rp.device} but col on {c.device}")
    if rp.numel() != n + 1:
        raise ValueError(f"rowptr must have num_nodes + 1 = {n + 1} entries, got {rp.numel()}")
    rp, c = rp.to(torch.int64), c.to(torch.int64)
    first, last = (int(v) for v in rp[[0, -1]].tolist())
    if first != 0:
        raise ValueError(f"rowptr must start at 0, got rowptr[0] = {first}")
    if last != c.numel():
        raise ValueError(f"rowptr must end at len(col) = {c.numel()}, got rowptr[-1] = {last}")
    steps = rp[1:] - rp[:-1]
    if steps.numel() and bool((steps < 0).any()):
        at = int(torch.nonzero(steps < 0)[0, 0])
        raise ValueError(
            f"rowptr must be non-decreasing, got rowptr[{at}] = {int(rp[at])} > "
            f"rowptr[{at + 1}] = {int(rp[at + 1])}"
        )
    check_index_range("col", c, n)
    if c.numel() > 1:
        # sorted, distinct within each row <=> the keys row * N + col strictly increase
        row = torch.repeat_interleave(torch.arange(n, device=c.device), steps)
        keys = row * n + c
        bad = keys[1:] <= keys[:-1]
        if bool(bad.any()):
            at = int(torch.nonzero(bad)[0, 0]) + 1
            raise ValueError(
                f"col must be sorted ascending without duplicates within each row, got "
                f"col[{at - 1}] = {int(c[at - 1])}, col[{at}] = {int(c[at])} "
                f"in row {int(row[at])}"
            )
    return rp, c


def to_csr(
    edge_index: Tensor,
    num_nodes: int | None = None,
    *,
    undirected: bool = False,
    remove_self_loops: bool = False,
) -> CSR:
    """Build a :class:`CSR` from ``edge_index`` ``[2, E]`` (the input is not mutated).

    Duplicate edges are merged. With ``undirected=True`` every edge ``(u, v)`` is
    also stored as ``(v, u)``. ``num_nodes`` defaults to ``max id + 1`` (0 when empty).
    Cost: one sort of ``E`` int64 keys.
    """
    if num_nodes is not None:
        check_positive_int("num_nodes", num_nodes, allow_zero=True)
    ei = check_edge_index("edge_index", edge_index, num_nodes)
    if num_nodes is None:
        num_nodes = int(ei.max()) + 1 if ei.numel() else 0
    ei = ei.to(torch.int64)
    src, dst = ei[0], ei[1]
    if undirected:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    if remove_self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    # One int64 key per edge: sorting the keys sorts by (row, col); unique merges duplicates.
    keys = torch.unique(src * num_nodes + dst) if src.numel() else src
    row = torch.div(keys, max(num_nodes, 1), rounding_mode="floor")
    col = keys - row * num_nodes
    counts = torch.bincount(row, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.int64, device=ei.device)
    rowptr[1:] = torch.cumsum(counts, 0)
    return CSR._trusted(rowptr, col, num_nodes)


def degrees(
    graph: CSR | Tensor, num_nodes: int | None = None, *, direction: Direction = "out"
) -> Tensor:
    """Node degrees ``[N]`` (int64) of a :class:`CSR` or an ``edge_index`` ``[2, E]``.

    For a :class:`CSR` only ``direction="out"`` (row lengths) is defined without a
    transpose, so ``"in"``/``"total"`` are computed from its entries. For an
    ``edge_index``, duplicate edges are counted as often as they occur.
    """
    check_choice("direction", direction, ("out", "in", "total"))
    if isinstance(graph, CSR):
        if direction == "out":
            return graph.rowptr[1:] - graph.rowptr[:-1]
        src, dst, n = graph.row(), graph.col, graph.num_nodes
    else:
        ei = check_edge_index("graph", graph, num_nodes)
        n = num_nodes if num_nodes is not None else (int(ei.max()) + 1 if ei.numel() else 0)
        src, dst = ei[0].to(torch.int64), ei[1].to(torch.int64)
    out = torch.bincount(src, minlength=n)
    inn = torch.bincount(dst, minlength=n)
    return {"out": out, "in": inn, "total": out + inn}[direction]


def gather_neighbors(csr: CSR, nodes: Tensor) -> tuple[Tensor, Tensor]:
    """Neighbour lists of many nodes at once, concatenated.

    Args:
        csr: the graph.
        nodes: ``[M]`` int64 node ids (repeats allowed).

    Returns:
        ``(owner [P], neighbor [P])``: ``owner[j]`` is the *position* in ``nodes``
        whose neighbour list contains ``neighbor[j]``; entries are grouped by
        position in order, each group sorted by neighbour id.
        ``P = sum(deg[nodes])``.
    """
    check_tensor("nodes", nodes, ndim=1)
    check_index_range("nodes", nodes, csr.num_nodes)
    nodes = nodes.to(torch.int64)
    # index_select, not advanced indexing: several times faster for int64 on CPU
    start = csr.rowptr.index_select(0, nodes)
    counts = csr.rowptr.index_select(0, nodes + 1) - start
    total = int(counts.sum()) if nodes.numel() else 0
    owner = torch.repeat_interleave(
        torch.arange(nodes.numel(), device=nodes.device), counts, output_size=total
    )
    # entry j of group o sits at col[start[o] + j - offset[o]], offset = exclusive cumsum
    shift = (start - torch.cumsum(counts, 0) + counts).index_select(0, owner)
    return owner, csr.col.index_select(0, shift.add_(torch.arange(total, device=nodes.device)))


_WEYL = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64 (odd)
FILTER_MIN_QUERIES = 4096


def _pair_slots(src: Tensor, dst: Tensor, size: int) -> Tensor:
    """``(src * A + dst) mod size`` (``size`` a power of two, ``A`` odd): each source
    gets a pseudo-random offset (a Weyl sequence), its targets consecutive slots from
    there. ``src * A`` is formed at ``src``'s own shape, so a ``[B, 1]`` source column
    against ``[B, K]`` targets costs one broadcast add and one mask."""
    return (src * _WEYL + dst).bitwise_and_(size - 1)


def _check_pair_ids(csr: CSR, src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor]:
    """``src`` and ``dst`` hold integer node ids in ``[0, N)`` (the key ``src * N + dst``
    of an out-of-range pair would name another, valid pair); returns them as int64.
    One ``aminmax`` over both and one host sync: a few microseconds a call."""
    check_integer_tensor("src", src)
    check_integer_tensor("dst", dst)
    src, dst = src.to(torch.int64), dst.to(torch.int64)
    both = torch.cat([src.reshape(-1), dst.reshape(-1)])
    if both.numel():
        n = csr.num_nodes
        lo, hi = torch.stack(torch.aminmax(both)).tolist()
        if lo < 0 or hi >= n:  # rare: find which one to name
            for name, t in (("src", src), ("dst", dst)):
                t_lo, t_hi = (int(t.min()), int(t.max())) if t.numel() else (0, 0)
                if t_lo < 0 or t_hi >= n:
                    raise ValueError(
                        f"{name} has node ids outside [0, {n}) (num_nodes of the graph): "
                        f"min {t_lo}, max {t_hi}"
                    )
    return src, dst


def has_edge(csr: CSR, src: Tensor, dst: Tensor) -> Tensor:
    """Vectorised membership test: ``out[i] = (src[i], dst[i])`` is a stored edge.

    ``src``, ``dst``: integer node ids in ``[0, N)`` of broadcastable shapes (ids
    outside raise a ``ValueError``: their key would name another pair); returns a bool
    tensor of the broadcast shape. Cost: one ``aminmax`` of each input, then a binary
    search per query in the sorted keys; for many queries, a lookup in
    :attr:`CSR.key_filter` first, so that only the few queries it cannot rule out (the
    edges and ~3 % false positives) are searched.
    """
    src, dst = _check_pair_ids(csr, src, dst)
    # torch.broadcast_shapes is a Python reference implementation (~0.1 ms a call)
    shape = src.shape if src.shape == dst.shape else check_broadcastable("src", src, "dst", dst)
    n = csr.num_nodes
    if csr.num_edges == 0:
        return torch.zeros(shape, dtype=torch.bool, device=src.device)
    keys = csr.keys()
    if math.prod(shape) < FILTER_MIN_QUERIES:
        s, d = torch.broadcast_tensors(src, dst)
        q = (s * n + d).reshape(-1)
        pos = torch.searchsorted(keys, q).clamp_max(keys.numel() - 1)
        return (keys[pos] == q).reshape(shape)
    table = csr.key_filter
    # index_select, not table[...]: 3x faster for a bool table on CPU
    slots = _pair_slots(src, dst, table.numel()).reshape(-1)
    hit = table.index_select(0, slots).view(shape)  # a fresh tensor
    where = hit.nonzero(as_tuple=True)
    q = src.expand(shape)[where] * n + dst.expand(shape)[where]
    pos = torch.searchsorted(keys, q).clamp_max(keys.numel() - 1)
    hit[where] = keys[pos] == q
    return hit


def has_edge_grouped(csr: CSR, src: Tensor, dst: Tensor, include_self: bool = False) -> Tensor:
    """``out[g, i, k] = (src[g, i], dst[g, k])`` is a stored edge, ``[G, m, K]``:
    :func:`has_edge` of ``src[:, :, None]`` against ``dst[:, None, :]``, for groups of
    sources that share their targets (the trainer's shared negatives).

    When the sources' out-degrees sum to fewer than ``G m K`` (a hierarchy's child
    against its few ancestors), the test runs the other way round: every stored
    neighbour ``a`` of ``src[g, i]`` is looked up among group ``g``'s targets, first
    in a cache-sized one-hash filter of the ``G K`` pairs ``(g, dst[g, k])``, then, for
    the few it cannot rule out, against the group's ``K`` targets. Otherwise it is
    :func:`has_edge`. ``src`` and ``dst`` must hold ids in ``[0, N)`` (else ``ValueError``).
    With ``include_self`` a target equal to its source counts too
    (as if every node had a self-loop).

    Example:
        >>> g = to_csr(torch.tensor([[0, 0, 1], [2, 3, 3]]), num_nodes=4)
        >>> has_edge_grouped(g, torch.tensor([[0, 1]]), torch.tensor([[3, 2, 3]])).tolist()
        [[[True, True, True], [True, False, True]]]
    """
    check_integer_tensor("src", src, ndim=2)
    check_integer_tensor("dst", dst, ndim=2)
    if src.shape[0] != dst.shape[0]:
        raise ValueError(
            f"src [G, m] and dst [G, K] must share G, got {tuple(src.shape)} and {tuple(dst.shape)}"
        )
    g, m = src.shape
    k = dst.shape[1]
    flat = _check_pair_ids(csr, src, dst)[0].reshape(-1)
    rowptr = csr.rowptr
    total = int((rowptr.index_select(0, flat + 1) - rowptr.index_select(0, flat)).sum())
    if total >= g * m * k:
        out = has_edge(csr, src.unsqueeze(2), dst.unsqueeze(1))
        return out | (src.unsqueeze(2) == dst.unsqueeze(1)) if include_self else out
    device = src.device
    owner, neighbor = gather_neighbors(csr, flat)  # owner: a row of the [G m] sources
    if include_self:
        rows = torch.arange(g * m, device=device)
        owner, neighbor = torch.cat([owner, rows]), torch.cat([neighbor, flat])
    out = torch.zeros(g * m, k, dtype=torch.bool, device=device)
    if owner.numel() == 0:
        return out.view(g, m, k)
    group = torch.div(owner, m, rounding_mode="floor")
    # filter of the (group, target) pairs: <= 1/32 of its slots set, a few hundred KB
    ids = dst.to(torch.int64)
    size = 1 << max(10, (g * k * 32).bit_length())
    table = torch.zeros(size, dtype=torch.bool, device=device)
    table[_pair_slots(torch.arange(g, device=device).unsqueeze(1), ids, size).reshape(-1)] = True
    maybe = table.index_select(0, _pair_slots(group, neighbor, size)).nonzero().squeeze(1)
    if maybe.numel() == 0:
        return out.view(g, m, k)
    # the few left: compare with their group's K targets (every copy of a repeated one)
    candidates = ids.index_select(0, group.index_select(0, maybe))  # [M, K]
    hit_row, hit_col = (candidates == neighbor.index_select(0, maybe).unsqueeze(1)).nonzero(
        as_tuple=True
    )
    out[owner.index_select(0, maybe.index_select(0, hit_row)), hit_col] = True
    return out.view(g, m, k)
