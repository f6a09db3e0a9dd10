"""Transitive closure of a DAG and subtree extraction, vectorised with sparse matrices.

With the child -> parent adjacency :math:`A` (``A[u, v] = 1`` iff ``v`` is a
direct parent of ``u``), the closure is :math:`C = A + A^2 + \\dots`. It is
computed by repeated squaring of the reachability relation,

.. math::
    C_0 = A,\\qquad C_{t+1} = C_t \\lor C_t C_t,

so after :math:`t` steps every path of length up to :math:`2^t` is covered and
the loop stops after :math:`\\lceil\\log_2(\\mathrm{depth})\\rceil + 1` sparse
products (six for WordNet nouns, well under a second). No per-node recursion.

The subtree of a root ``r`` is ``{r} ∪ {u : (u, r) ∈ C}`` with every closure
edge whose two ends lie in it (:func:`wordnet_subtree_graph`;
:func:`wordnet_nouns_graph` picks the whole closure or a subtree, as
``data.root`` of a ``wordnet_nouns`` run does).

WordNet conventions (Nickel & Kiela, 2017, ``poincare-embeddings``'
``wordnet/transitive_closure.py``): the noun closure follows both hypernym
and instance-hypernym pointers and has no self-loops — 82,115 nodes, 743,241
edges (663,508 with hypernyms only). The mammal subtree (root
``mammal.n.01``, the root included) has 1,182 nodes and 6,542 edges. Their
released ``mammal_closure`` file additionally drops the two nodes in
:data:`NICKEL_KIELA_MAMMAL_EXCLUDE` (1,180 nodes, 6,540 edges).

Example:
    >>> chain = torch.tensor([[0, 1, 2], [1, 2, 3]])   # 0 -> 1 -> 2 -> 3 (child -> parent)
    >>> transitive_closure(chain, 4).shape[1]
    6
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from contrastkit._validation import check_edge_index, check_positive_int
from contrastkit.data.graph_data import GraphData
from contrastkit.data.wordnet import WordNetNouns

#: Nodes removed from the mammal subtree in Nickel & Kiela's released data
#: (``wordnet/mammals_filter.txt``: only its two ``^``-anchored child patterns
#: can match in the pandas version of their script).
NICKEL_KIELA_MAMMAL_EXCLUDE: tuple[str, ...] = ("tusker.n.01", "female_mammal.n.01")


def transitive_closure(
    edge_index: Tensor, num_nodes: int | None = None, *, self_loops: bool = False
) -> Tensor:
    """All pairs ``(u, v)`` with a directed path ``u -> ... -> v`` of length >= 1.

    Args:
        edge_index: ``[2, E]`` int64 edges (duplicates allowed).
        num_nodes: ``N`` (default ``max id + 1``).
        self_loops: keep ``(u, u)`` pairs, which arise only on cycles (default False).

    Returns:
        ``[2, E_c]`` int64, sorted by ``(u, v)``, duplicates merged.
    """
    ei = check_edge_index("edge_index", edge_index, num_nodes)
    n = num_nodes if num_nodes is not None else (int(ei.max()) + 1 if ei.numel() else 0)
    check_positive_int("num_nodes", n, allow_zero=True)
    if ei.shape[1] == 0:
        return torch.zeros((2, 0), dtype=torch.int64)
    row, col = ei.to(torch.int64).cpu().numpy()
    reach = sp.csr_matrix((np.ones(row.size, dtype=bool), (row, col)), shape=(n, n))
    reach.sum_duplicates()
    while True:
        nxt = (reach + reach @ reach).astype(bool)
        if nxt.nnz == reach.nnz:  # monotone growth: equal size means a fixed point
            break
        reach = nxt
    if not self_loops:
        reach.setdiag(False)
        reach.eliminate_zeros()
    coo = reach.tocoo()
    out = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
    order = torch.argsort(out[0] * max(n, 1) + out[1])
    return out[:, order].to(ei.device)


def descendant_overlap(
    edge_index: Tensor, num_nodes: int, anchors: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """``|D(a) ∩ D(w)|`` for each anchor ``a`` and every node ``w``, as a sparse
    ``[A, N]`` count matrix, and ``|D(a)|`` ``[A]``; ``D(x)`` the descendants of ``x``
    in the child -> ancestor ``edge_index`` ``[2, E]`` (duplicates counted once).
    ``anchors`` defaults to every node. One sparse product, no per-node loop."""
    child, parent = edge_index.to(torch.int64).cpu().numpy()
    n = num_nodes
    down = sp.csr_matrix((np.ones(child.size), (parent, child)), shape=(n, n))  # ancestor -> child
    down.sum_duplicates()
    down.data[:] = 1.0
    rows = down if anchors is None else down[anchors]
    return (rows @ down.T).tocsr(), np.asarray(rows.sum(axis=1)).ravel()


def common_ancestor_pairs(edge_index: Tensor, num_nodes: int, min_share: float) -> Tensor:
    """Pairs ``(u, w)`` where ``w`` is an ancestor of at least a share ``min_share`` of
    ``u``'s descendants, though not a known ancestor of ``u`` itself.

    With :math:`D(x)` the descendants of ``x`` in the child -> ancestor ``edge_index``
    (a transitive closure, or the part of one a link split keeps),

    .. math::
        s(u, w) = \\frac{|D(u) \\cap D(w)|}{|D(u)|} \\ge \\text{min\\_share},

    over the ``u`` with a descendant, with ``w`` neither ``u``, nor in :math:`D(u)`, nor
    an ancestor of ``u`` already. In an is-a hierarchy whatever is above all of ``u``'s
    kinds is likely above ``u``: such a ``w`` is a probable missing ancestor, a false
    negative to keep out of ``u``'s negatives. One sparse product
    :math:`D D^\\top` (rows of the nodes with descendants), no per-node loop.

    Args:
        edge_index: ``[2, E]`` child -> ancestor pairs; what is missing from a closure
            is what the pairs returned recover.
        num_nodes: ``N``.
        min_share: the threshold, in ``(0, 1]``.

    Returns:
        ``[2, P]`` int64, sorted by ``(u, w)``.
    """
    ei = check_edge_index("edge_index", edge_index, num_nodes)
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    n = num_nodes
    child, parent = ei.to(torch.int64).cpu().numpy()
    counts, size = descendant_overlap(ei, n)
    inner = np.flatnonzero(size > 0)
    common = counts[inner].tocoo()  # [I, N]: |D(u) ∩ D(w)| for the u with descendants
    u, w = inner[common.row], common.col
    # compare counts, not ratios: exact at share 1 whatever the float rounding
    keep = common.data >= min_share * size[u] - 1e-9
    u, w = u[keep], w[keep]
    key = u * n + w
    known = np.concatenate([child * n + parent, parent * n + child])  # ancestors, descendants
    keep = (u != w) & ~np.isin(key, known)
    out = torch.from_numpy(np.stack([u[keep], w[keep]]).astype(np.int64))
    order = torch.argsort(out[0] * max(n, 1) + out[1])
    return out[:, order].to(ei.device)


def subtree_nodes(closure: Tensor, root: int, num_nodes: int) -> Tensor:
    """Sorted node ids ``[M]`` of the subtree under ``root``: the root and every ``u`` with
    ``(u, root)`` in the child -> parent ``closure`` ``[2, E_c]``."""
    check_edge_index("closure", closure, num_nodes)
    if not 0 <= root < num_nodes:
        raise ValueError(f"root must be in [0, {num_nodes}), got {root}")
    below = closure[0][closure[1] == root]
    return torch.unique(torch.cat([below, torch.tensor([root], device=closure.device)]))


def induced_edges(edge_index: Tensor, nodes: Tensor, num_nodes: int) -> Tensor:
    """Edges of ``edge_index`` ``[2, E]`` with both ends in ``nodes`` ``[M]``, relabelled to
    positions in ``nodes`` (``[2, E']``).

    Raises:
        ValueError: naming ``nodes`` or ``edge_index`` when an id is outside
        ``[0, num_nodes)`` (a negative id would otherwise wrap round to another node).
    """
    for name, ids in (("nodes", nodes), ("edge_index", edge_index)):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_nodes):
            raise ValueError(
                f"{name} must hold ids in [0, {num_nodes}), got ids from {int(ids.min())} "
                f"to {int(ids.max())}"
            )
    local = torch.full((num_nodes,), -1, dtype=torch.int64, device=edge_index.device)
    local[nodes] = torch.arange(nodes.numel(), device=edge_index.device)
    mapped = local[edge_index]
    keep = (mapped >= 0).all(dim=0)
    return mapped[:, keep]


def wordnet_closure_graph(nouns: WordNetNouns, *, instances: bool = True) -> GraphData:
    """The transitive closure of the noun hierarchy as a :class:`GraphData`.

    Edges point child -> ancestor; ``y`` is the lexicographer class, ``names`` the synset
    names. With ``instances=True`` (default, Nickel & Kiela): 82,115 nodes, 743,241 edges.
    """
    closure = transitive_closure(nouns.hierarchy_edges(instances=instances), nouns.num_nodes)
    return GraphData(
        edge_index=closure,
        num_nodes=nouns.num_nodes,
        y=nouns.lexclass.clone(),
        names=list(nouns.names),
        label_names=list(nouns.lexnames),
        meta={"source": "wordnet", "closure": True, "instances": instances},
    )


def wordnet_subtree_graph(
    nouns: WordNetNouns,
    root: str = "mammal.n.01",
    *,
    instances: bool = True,
    exclude: Sequence[str] = (),
    closure: Tensor | None = None,
) -> tuple[GraphData, Tensor]:
    """Closure of the subtree under ``root`` (default ``mammal.n.01``), relabelled ``0..M-1``.

    Args:
        nouns: parsed WordNet.
        root: synset name; the root is a node of the subtree.
        instances: follow instance-hypernym pointers too (default True).
        exclude: synset names removed with all their edges, e.g.
            :data:`NICKEL_KIELA_MAMMAL_EXCLUDE` to match Nickel & Kiela's file.
        closure: a precomputed full closure ``[2, E_c]`` (saves recomputing it).

    Returns:
        ``(graph, node_ids)``: the subtree graph (child -> ancestor edges, ``y`` the
        lexicographer class) and ``[M]`` the indices of its nodes in ``nouns``.
        For mammals: 1,182 nodes and 6,542 edges (1,180 / 6,540 with the exclusion).
    """
    if closure is None:
        closure = transitive_closure(nouns.hierarchy_edges(instances=instances), nouns.num_nodes)
    nodes = subtree_nodes(closure, nouns.index(root), nouns.num_nodes)
    if exclude:
        drop = torch.tensor([nouns.index(name) for name in exclude], dtype=torch.int64)
        nodes = nodes[~torch.isin(nodes, drop)]
    edges = induced_edges(closure, nodes, nouns.num_nodes)
    graph = GraphData(
        edge_index=edges,
        num_nodes=int(nodes.numel()),
        y=nouns.lexclass[nodes],
        names=[nouns.names[i] for i in nodes.tolist()],
        label_names=list(nouns.lexnames),
        meta={"source": "wordnet", "root": root, "instances": instances, "exclude": list(exclude)},
    )
    return graph, nodes


def wordnet_nouns_graph(
    nouns: WordNetNouns, root: str | None = None, *, instances: bool = True
) -> GraphData:
    """The noun closure (``root=None``) or the closure of the subtree under ``root``.

    Args:
        nouns: parsed WordNet (:func:`~contrastkit.data.wordnet.load_wordnet_nouns`).
        root: a noun synset name such as ``"mammal.n.01"``: keep that synset and all its
            hyponym descendants, with the child -> ancestor relations inside the subtree
            (:func:`wordnet_subtree_graph`; for ``mammal.n.01`` the shipped mammal
            closure, 1,182 nodes and 6,542 edges). ``None``: every noun (82,115 nodes).
        instances: follow instance-hypernym pointers too (default True).

    Raises:
        ValueError: naming ``root`` when it is no noun synset of ``nouns``.

    Example:
        >>> from contrastkit.data.wordnet import load_wordnet_nouns
        >>> g = wordnet_nouns_graph(load_wordnet_nouns(), "mammal.n.01")  # doctest: +SKIP
        >>> g.num_nodes, g.num_edges  # doctest: +SKIP
        (1182, 6542)
    """
    if root is None:
        return wordnet_closure_graph(nouns, instances=instances)
    if not isinstance(root, str):
        raise TypeError(f"root must be a synset name or None, got {type(root).__name__}")
    try:
        nouns.index(root)
    except KeyError as exc:
        raise ValueError(f"root {root!r} is not a WordNet noun synset ({exc.args[0]})") from None
    graph, _ = wordnet_subtree_graph(nouns, root, instances=instances)
    return graph
