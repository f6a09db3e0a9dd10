"""Task augmentation for meta-training: finer classes cut from the meta-train classes.

With few meta-train classes (WordNet: 16 lexicographer files) MAML meta-over-fits:
the ``C(16, 5) = 4368`` possible 5-way tasks are fitted within ~100 outer steps
(training accuracy ~0.9) and validation accuracy peaks early. More, finer meta-training
classes reduce it (Yao et al. 2021; Ni et al. 2021). ``meta.train_tasks: subtree``
splits each meta-train class into the subtrees of the hypernym hierarchy below a
chosen depth: an item ``i`` of meta-train class ``c_i`` with root-first primary
hypernym path ``(a_0 = root, a_1, ..., a_{d_i} = i)`` gets the fine class

.. math::
    f_i = (c_i,\\ a_D) \\quad\\text{if } d_i \\ge D,

and a fine class is kept when it holds at least ``m`` items (``meta.subtree_min_items``,
default ``shots + queries``). Validation and test classes are untouched: fine classes
are cut from meta-train classes only, so no validation or test item ever enters a
meta-train episode, whatever the depth.

The *primary* path follows each node's first parent (WordNet's first ``@``/``@i``
pointer), so multiple inheritance does not put an item in two fine classes.

References: H. Yao et al., "Improving generalization in meta-learning via task
augmentation", ICML 2021; R. Ni et al., "Data augmentation for meta-learning", ICML 2021.

Example:
    >>> parent = torch.tensor([0, 0, 0, 1, 1, 2])          # a tree rooted at 0
    >>> primary_lineage(parent)
    tensor([[ 0, -1, -1],
            [ 0,  1, -1],
            [ 0,  2, -1],
            [ 0,  1,  3],
            [ 0,  1,  4],
            [ 0,  2,  5]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int, check_tensor


def primary_parent(num_nodes: int, edges: Tensor) -> Tensor:
    """``[N]`` each node's first parent in ``edges [2, E]`` (child -> parent, in
    pointer order); a node without a parent is its own (a root)."""
    check_positive_int("num_nodes", num_nodes)
    check_tensor("edges", edges, ndim=2)
    parent = torch.arange(num_nodes)
    order = torch.arange(edges.shape[1] - 1, -1, -1)  # reversed: the first edge writes last
    parent[edges[0, order]] = edges[1, order]
    return parent


def primary_lineage(parent: Tensor) -> Tensor:
    """Root-first primary paths ``[N, L]`` of a forest given by ``parent [N]``
    (roots are their own parent): row ``i`` holds ``a_0 (root), ..., a_{d_i} = i`` and
    ``-1`` after; ``L`` is the largest depth plus one.

    Raises:
        ValueError: ``parent`` has a cycle (no root above some node).
    """
    check_tensor("parent", parent, ndim=1)
    n = parent.numel()
    nodes = torch.arange(n)
    # walk every node to its root at once: ancestors[k] = parent^k(node)
    ancestors = [nodes]
    while True:
        up = parent[ancestors[-1]]
        if torch.equal(up, ancestors[-1]):
            break
        if len(ancestors) > n:
            raise ValueError("parent has a cycle: some node reaches no root")
        ancestors.append(up)
    walk = torch.stack(ancestors, dim=1)  # [N, K]: node, parent, ..., root, root, ...
    depth = (walk[:, 1:] != walk[:, :-1]).sum(dim=1)  # steps until the root
    width = int(depth.max()) + 1
    lineage = torch.full((n, width), -1, dtype=torch.int64)
    k = torch.arange(walk.shape[1])
    valid = k.unsqueeze(0) <= depth.unsqueeze(1)  # [N, K]
    rows, steps = torch.nonzero(valid, as_tuple=True)
    lineage[rows, depth[rows] - steps] = walk[rows, steps]
    return lineage


def subtree_classes(
    node_class: Tensor,
    lineage: Tensor,
    classes: Tensor,
    *,
    depth: int,
    min_items: int,
) -> Tensor:
    """Fine class ids ``[N]`` (``-1``: none) of the module docstring.

    Args:
        node_class: ``[N]`` int64 class of every node (``-1``: none).
        lineage: ``[N, L]`` root-first primary paths (:func:`primary_lineage`).
        classes: the classes to split (the meta-train split); every other node gets -1.
        depth: ``D`` (> 0): the depth (root = 0) of the subtree roots.
        min_items: ``m`` (> 0): smaller fine classes are dropped.

    Returns:
        ``[N]`` int64: ``0..K-1`` for the kept fine classes, numbered in order of
        ``(class, subtree root)``.
    """
    check_tensor("node_class", node_class, ndim=1)
    check_tensor("lineage", lineage, ndim=2)
    if lineage.shape[0] != node_class.numel():
        raise ValueError(
            f"lineage has {lineage.shape[0]} rows, node_class {node_class.numel()} entries"
        )
    check_positive_int("depth", depth)
    check_positive_int("min_items", min_items)
    root = lineage[:, depth] if depth < lineage.shape[1] else torch.full_like(node_class, -1)
    eligible = torch.isin(node_class, classes) & (node_class >= 0) & (root >= 0)
    fine = torch.full_like(node_class, -1)
    if not bool(eligible.any()):
        return fine
    pairs = torch.stack([node_class[eligible], root[eligible]], dim=1)
    _, inverse, counts = torch.unique(pairs, dim=0, return_inverse=True, return_counts=True)
    kept = counts >= min_items
    renumber = torch.cumsum(kept.long(), 0) - 1
    fine[eligible] = torch.where(kept[inverse], renumber[inverse], -1)
    return fine
