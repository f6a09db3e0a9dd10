r"""k-hop neighbourhoods ("rings") of many anchors at once by CSR frontier expansion.

For anchors :math:`a_1..a_B` and hop limit :math:`k`, the ring at hop :math:`h` is

.. math::
    R_h(a) = \{v : \operatorname{dist}(a, v) = h\},\qquad 0 \le h \le k,

with distances along out-edges (use ``to_csr(..., undirected=True)`` for an
undirected graph). All anchors advance together: the frontier is a flat list of
``(anchor position, node)`` pairs encoded as one int64 key
``position * N + node``; one hop gathers every frontier node's neighbours with
:func:`~contrastkit.graph.csr.gather_neighbors`, de-duplicates the keys with a
sort, and drops the keys already visited with a binary search. There is no
Python loop over anchors or nodes — only over the ``k`` hops (and, if asked,
over chunks of anchors to bound memory). On CPU the same expansion runs as a
sparse-matrix product (scipy's SpGEMM), which de-duplicates in compiled code.

Example:
    >>> from contrastkit.graph.csr import to_csr
    >>> path = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    >>> rings = k_hop_rings(to_csr(path, undirected=True), torch.tensor([0, 2]), k=2)
    >>> rings.node.tolist(), rings.hop.tolist(), rings.ptr.tolist()
    ([1, 2, 1, 3, 0, 4], [1, 2, 1, 1, 2, 2], [0, 2, 6])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_index_range,
    check_positive_int,
    check_tensor,
)
from contrastkit.graph.csr import CSR, gather_neighbors

Backend = Literal["auto", "scipy", "torch"]
_SCIPY_CHUNK = 2048


@dataclass(frozen=True)
class KHopRings:
    """Flat (ragged) k-hop result for ``B`` anchors, grouped by anchor.

    Attributes:
        ptr: ``[B + 1]`` offsets: anchor ``i`` owns entries ``ptr[i]:ptr[i + 1]``.
        anchor: ``[P]`` position ``i`` (into the ``anchors`` argument) of each entry.
        node: ``[P]`` node id.
        hop: ``[P]`` shortest-path distance from the anchor, in ``[min_hop, k]``.
    Entries are sorted by ``(anchor position, hop, node)`` (by anchor and hop only
    when built with ``sort_nodes=False``).
    """

    ptr: Tensor
    anchor: Tensor
    node: Tensor
    hop: Tensor

    @property
    def num_anchors(self) -> int:
        return int(self.ptr.numel()) - 1

    def counts(self) -> Tensor:
        """Entries per anchor, ``[B]``."""
        return self.ptr[1:] - self.ptr[:-1]

    def to_padded(self, fill: int = -1) -> tuple[Tensor, Tensor, Tensor]:
        """Dense form ``(node [B, L], hop [B, L], mask [B, L])`` with ``L = max count``;
        padding holds ``fill`` in ``node`` and ``hop`` and ``False`` in ``mask``."""
        b = self.num_anchors
        width = int(self.counts().max()) if b and self.node.numel() else 0
        node = torch.full((b, width), fill, dtype=torch.int64, device=self.node.device)
        hop = torch.full_like(node, fill)
        mask = torch.zeros((b, width), dtype=torch.bool, device=self.node.device)
        col = torch.arange(self.node.numel(), device=self.node.device) - self.ptr[self.anchor]
        node[self.anchor, col] = self.node
        hop[self.anchor, col] = self.hop
        mask[self.anchor, col] = True
        return node, hop, mask


def _rings_chunk_torch(
    csr: CSR, anchors: Tensor, k: int, min_hop: int, sort_nodes: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    n = csr.num_nodes
    pos = torch.arange(anchors.numel(), device=anchors.device)
    visited = torch.sort(pos * n + anchors).values
    f_pos, f_node = pos, anchors
    keys_out: list[Tensor] = [visited] if min_hop == 0 else []
    hops_out: list[Tensor] = [torch.zeros_like(visited)] if min_hop == 0 else []
    for h in range(1, k + 1):
        owner, nbr = gather_neighbors(csr, f_node)
        if nbr.numel() == 0:
            break
        cand = torch.unique(f_pos[owner] * n + nbr)
        idx = torch.searchsorted(visited, cand).clamp_max(visited.numel() - 1)
        new = cand[visited[idx] != cand]
        if new.numel() == 0:
            break
        if h < k:  # the last ring is never looked up again
            visited = torch.sort(torch.cat([visited, new])).values
        if h >= min_hop:
            keys_out.append(new)
            hops_out.append(torch.full_like(new, h))
        f_pos = torch.div(new, n, rounding_mode="floor")
        f_node = new - f_pos * n
    if not keys_out:
        empty = anchors.new_empty(0)
        return empty, empty, empty
    keys, hops = torch.cat(keys_out), torch.cat(hops_out)
    a_pos = torch.div(keys, n, rounding_mode="floor")
    # Rings come hop by hop, each sorted by key: a stable sort on the anchor
    # position yields the (anchor, hop, node) order.
    order = torch.sort(a_pos, stable=True).indices
    return a_pos[order], (keys - a_pos * n)[order], hops[order]


def _rings_chunk_scipy(
    csr: CSR, anchors: Tensor, k: int, min_hop: int, sort_nodes: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    # Frontier expansion as a sparse product F_{h+1} = support(F_h A) minus the ball:
    # scipy's SpGEMM de-duplicates with a dense per-row accumulator in compiled code,
    # several times faster on CPU than sorting the expanded (anchor, node) keys.
    n, b = csr.num_nodes, anchors.numel()
    adj = csr.scipy
    front = sp.csr_matrix((np.ones(b, np.float32), anchors.numpy(), np.arange(b + 1)), shape=(b, n))
    # Ball entries carry 2, products are reset to 1: (product - ball) > 0 marks new nodes.
    # float32 path counts stay positive (an integer count could wrap to 0 and be dropped).
    ball = front * np.float32(2)
    rings = [front] if min_hop == 0 else []
    hops = [0] if min_hop == 0 else []
    for h in range(1, k + 1):
        prod = front @ adj
        if prod.nnz == 0:
            break
        prod.data[:] = 1
        diff = (prod - ball).tocsr()
        diff.data[diff.data < 0] = 0
        diff.eliminate_zeros()
        if diff.nnz == 0:
            break
        if h < k:
            ball = (ball + diff * np.float32(2)).tocsr()
        if h >= min_hop:
            rings.append(diff)
            hops.append(h)
        front = diff
    counts = [np.diff(r.indptr) for r in rings]
    total = np.sum(counts, axis=0) if counts else np.zeros(b, np.int64)
    start = np.concatenate([[0], np.cumsum(total)])[:-1]
    size = int(total.sum())
    a_pos = np.empty(size, np.int64)
    node = np.empty(size, np.int64)
    hop = np.empty(size, np.int64)
    for ring, cnt, h in zip(rings, counts, hops, strict=True):
        if sort_nodes:
            ring.sort_indices()
        rows = np.repeat(np.arange(b), cnt)
        dest = start[rows] + (np.arange(ring.nnz) - ring.indptr[rows])
        a_pos[dest], node[dest], hop[dest] = rows, ring.indices, h
        start = start + cnt
    return torch.from_numpy(a_pos), torch.from_numpy(node), torch.from_numpy(hop)


def k_hop_rings(
    csr: CSR,
    anchors: Tensor,
    k: int,
    *,
    min_hop: int = 1,
    chunk_size: int | None = None,
    backend: Backend = "auto",
    sort_nodes: bool = True,
) -> KHopRings:
    """All nodes at shortest-path distance ``min_hop..k`` from each anchor.

    Args:
        csr: graph from :func:`~contrastkit.graph.csr.to_csr`.
        anchors: ``[B]`` int64 node ids (repeats allowed; each is its own row).
        k: largest hop, ``>= 0``.
        min_hop: smallest hop kept, ``<= k`` (default 1: the anchor itself is left out;
            ``2`` gives the "k-hop but not a neighbour" negatives).
        chunk_size: anchors expanded together (default 2048 on the scipy path, all
            on the torch path). Peak memory is a few
            times ``8 * chunk_size * |ball|`` bytes (the expanded frontier); lower it
            for big balls.
        backend: ``"scipy"`` (sparse product, CPU tensors only), ``"torch"``
            (sort-based, any device) or ``"auto"`` (default: scipy on CPU).
        sort_nodes: sort the nodes of each ring (default). ``False`` skips that sort
            on the scipy path; nodes of a ring then come in an unspecified order.

    Returns:
        :class:`KHopRings` (ragged, sorted by anchor, hop, node).

    Equivalent to a breadth-first search from each anchor (Cormen et al., ch. 22.2),
    done level-synchronously for all anchors at once.
    """
    check_tensor("anchors", anchors, ndim=1)
    check_positive_int("k", k, allow_zero=True)
    check_positive_int("min_hop", min_hop, allow_zero=True)
    if min_hop > k:
        raise ValueError(f"min_hop must be <= k = {k}, got {min_hop} (every ring would be empty)")
    check_index_range("anchors", anchors, csr.num_nodes)
    if chunk_size is not None:
        check_positive_int("chunk_size", chunk_size)
    check_choice("backend", backend, ("auto", "scipy", "torch"))
    if backend == "scipy" and anchors.device.type != "cpu":
        raise ValueError(f"backend='scipy' needs CPU tensors, got anchors on {anchors.device}")
    use_scipy = backend == "scipy" or (backend == "auto" and anchors.device.type == "cpu")
    expand = _rings_chunk_scipy if use_scipy else _rings_chunk_torch
    anchors = anchors.to(torch.int64)
    b = anchors.numel()
    # The sparse product stays cache-friendly for about 2048 anchors at a time.
    step = chunk_size or (_SCIPY_CHUNK if use_scipy else max(b, 1))
    parts = []
    for start in range(0, b, step):
        a_pos, node, hop = expand(csr, anchors[start : start + step], k, min_hop, sort_nodes)
        parts.append((a_pos + start, node, hop))
    if parts:
        a_pos, node, hop = (torch.cat(t) for t in zip(*parts, strict=True))
    else:
        a_pos = node = hop = anchors.new_empty(0)
    ptr = torch.zeros(b + 1, dtype=torch.int64, device=anchors.device)
    ptr[1:] = torch.cumsum(torch.bincount(a_pos, minlength=b), 0)
    return KHopRings(ptr=ptr, anchor=a_pos, node=node, hop=hop)
