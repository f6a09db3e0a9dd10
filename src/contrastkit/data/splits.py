"""Link-prediction splits: train/val/test positive edges plus sampled negatives.

Edges are de-duplicated (for ``undirected=True`` each pair is kept once as
``(min, max)``), the eligible ones are shuffled with the seed, and the first
``round(test_fraction * E)`` go to test, the next ``round(val_fraction * E)`` to
validation, the rest to training. Negatives are node pairs that are not edges
of the *whole* graph (in either direction for undirected graphs), never
self-pairs, and — for ``negatives="uniform"`` — distinct from one another
across val and test.

``protocol="nickel_kiela"`` (Nickel & Kiela, 2017, link prediction on the
WordNet closure) keeps every edge that touches a root (no parent) or a leaf
(no child) in training: such links are either trivial or impossible to infer.
Edges point child -> parent there, so roots have out-degree 0 and leaves
in-degree 0.

Example:
    >>> ei = torch.tensor([[1, 2, 3, 3, 4, 4], [0, 0, 1, 0, 1, 0]])
    >>> s = link_split(ei, 5, val_fraction=0.0, test_fraction=0.2, seed=0)
    >>> s.test_pos.shape, s.test_neg.shape, s.train_pos.shape
    (torch.Size([2, 1]), torch.Size([2, 1]), torch.Size([2, 5]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_edge_index,
    check_non_negative,
    check_positive_int,
)
from contrastkit.graph.csr import CSR, has_edge, to_csr
from contrastkit.graph.rng import GeneratorLike, as_generator

SplitProtocol = Literal["random", "nickel_kiela"]
NegativeMode = Literal["uniform", "corrupt"]
_MAX_ROUNDS = 64


@dataclass(frozen=True)
class LinkSplit:
    """Positive and negative edge sets, each ``[2, *]`` int64 (row 0 source, row 1 target).

    ``val_neg``/``test_neg`` have ``num_negatives`` times as many columns as the positives.
    """

    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor
    num_nodes: int
    undirected: bool

    def train_edge_index(self) -> Tensor:
        """Message-passing edges ``[2, E_t]``: ``train_pos``, plus reversed if undirected."""
        if not self.undirected:
            return self.train_pos
        return torch.cat([self.train_pos, self.train_pos.flip(0)], dim=1)


def _sample_negatives(
    csr: CSR, sources: Tensor | None, count: int, undirected: bool, gen: torch.Generator
) -> Tensor:
    """``count`` non-edges; with ``sources`` ``[count]`` the source of each is fixed."""
    n = csr.num_nodes
    out_u = torch.full((count,), -1, dtype=torch.int64)
    out_v = torch.full((count,), -1, dtype=torch.int64)
    todo = torch.arange(count)
    for _ in range(_MAX_ROUNDS):
        if todo.numel() == 0:
            break
        k = todo.numel()
        if sources is None:
            u = torch.randint(0, n, (k,), generator=gen)
        else:
            u = sources[todo]
        v = torch.randint(0, n, (k,), generator=gen)
        if undirected and sources is None:
            u, v = torch.minimum(u, v), torch.maximum(u, v)
        ok = (u != v) & ~has_edge(csr, u, v)
        if sources is None:
            # Uniqueness against what is already accepted and inside this round.
            done = out_u >= 0
            prev = out_u[done] * n + out_v[done]
            key = u * n + v
            ok &= ~torch.isin(key, prev)
            first = torch.zeros_like(ok)
            cand = torch.nonzero(ok).flatten()
            _, inv = torch.unique(key[cand], return_inverse=True)
            lowest = torch.full((int(inv.max()) + 1 if inv.numel() else 0,), k, dtype=torch.int64)
            lowest.scatter_reduce_(0, inv, cand, reduce="amin")
            first[lowest] = True
            ok &= first
        out_u[todo[ok]], out_v[todo[ok]] = u[ok], v[ok]
        todo = todo[~ok]
    if todo.numel():
        raise ValueError(
            f"could not sample {count} negative pairs: the graph is too dense "
            f"({csr.num_edges} edges on {n} nodes); lower num_negatives"
        )
    return torch.stack([out_u, out_v])


def link_split(
    edge_index: Tensor,
    num_nodes: int | None = None,
    *,
    val_fraction: float = 0.05,
    test_fraction: float = 0.1,
    num_negatives: int = 1,
    undirected: bool = False,
    protocol: SplitProtocol = "random",
    negatives: NegativeMode = "uniform",
    seed: GeneratorLike = 0,
) -> LinkSplit:
    """Split the edges of one graph for link prediction, deterministically by ``seed``.

    Args:
        edge_index: ``[2, E]`` int64 edges (child -> parent for hierarchies).
        num_nodes: ``N`` (default ``max id + 1``).
        val_fraction, test_fraction: shares of the de-duplicated edges (default 0.05, 0.1).
        num_negatives: negatives per held-out positive (default 1).
        undirected: treat ``(u, v)`` and ``(v, u)`` as one edge (default False).
        protocol: ``"random"`` or ``"nickel_kiela"`` (held-out edges avoid roots and leaves;
            needs directed child -> parent edges).
        negatives: ``"uniform"`` random pairs, or ``"corrupt"`` the target of each positive.
        seed: int seed or ``torch.Generator`` (default 0).

    Returns:
        :class:`LinkSplit`. Raises ``ValueError`` for an empty graph, fractions that do not
        fit the eligible edges, or a graph too dense for the requested negatives.
    """
    ei = check_edge_index("edge_index", edge_index, num_nodes).to(torch.int64)
    n = num_nodes if num_nodes is not None else (int(ei.max()) + 1 if ei.numel() else 0)
    check_non_negative("val_fraction", val_fraction)
    check_non_negative("test_fraction", test_fraction)
    check_positive_int("num_negatives", num_negatives)
    check_choice("protocol", protocol, ("random", "nickel_kiela"))
    check_choice("negatives", negatives, ("uniform", "corrupt"))
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}"
        )
    if ei.shape[1] == 0:
        raise ValueError("edge_index is empty: nothing to split")
    if protocol == "nickel_kiela" and undirected:
        raise ValueError("protocol='nickel_kiela' needs directed child -> parent edges")
    gen = as_generator(seed, "seed")
    csr = to_csr(ei, n, undirected=undirected)
    pairs = csr.to_edge_index()
    if undirected:
        pairs = pairs[:, pairs[0] <= pairs[1]]
    eligible = torch.ones(pairs.shape[1], dtype=torch.bool)
    if protocol == "nickel_kiela":
        out_deg = torch.bincount(pairs[0], minlength=n)
        in_deg = torch.bincount(pairs[1], minlength=n)
        excluded = (out_deg == 0) | (in_deg == 0)  # roots | leaves
        eligible = ~excluded[pairs[0]] & ~excluded[pairs[1]]
    total = pairs.shape[1]
    n_test, n_val = round(test_fraction * total), round(val_fraction * total)
    cand = torch.nonzero(eligible).flatten()
    if n_test + n_val > cand.numel():
        raise ValueError(
            f"val_fraction + test_fraction ask for {n_val + n_test} held-out edges but only "
            f"{cand.numel()} of {total} are eligible under protocol={protocol!r}"
        )
    cand = cand[torch.randperm(cand.numel(), generator=gen)]
    # Sorted so that held-out positives (and their corrupted negatives) come in edge order.
    test_idx = torch.sort(cand[:n_test]).values
    val_idx = torch.sort(cand[n_test : n_test + n_val]).values
    train_mask = torch.ones(total, dtype=torch.bool)
    train_mask[cand[: n_test + n_val]] = False
    both = n_test + n_val
    src = None
    if negatives == "corrupt":
        src = pairs[0][torch.cat([test_idx, val_idx])].repeat_interleave(num_negatives)
    neg = _sample_negatives(csr, src, both * num_negatives, undirected, gen)
    cut = n_test * num_negatives
    return LinkSplit(
        train_pos=pairs[:, train_mask],
        val_pos=pairs[:, val_idx],
        val_neg=neg[:, cut:],
        test_pos=pairs[:, test_idx],
        test_neg=neg[:, :cut],
        num_nodes=n,
        undirected=undirected,
    )
