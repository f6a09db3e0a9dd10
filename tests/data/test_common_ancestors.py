"""common_ancestor_pairs against a brute-force set computation, on random DAG closures."""

from __future__ import annotations

import pytest
import torch

from contrastkit.data.closure import common_ancestor_pairs, transitive_closure
from contrastkit.data.mammals import load_mammals
from contrastkit.data.splits import link_split


def _brute(edges: torch.Tensor, n: int, share: float) -> set[tuple[int, int]]:
    pairs = set(zip(*edges.tolist(), strict=True))
    below: dict[int, set[int]] = {x: set() for x in range(n)}
    for c, a in pairs:
        below[a].add(c)
    out = set()
    for u in range(n):
        if not below[u]:
            continue
        for w in range(n):
            if w == u or w in below[u] or (u, w) in pairs:
                continue
            if len(below[u] & below[w]) >= share * len(below[u]):
                out.add((u, w))
    return out


def _random_dag_closure(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    child = torch.arange(1, n).repeat(2)
    # each node gets one or two parents among the lower ids: a DAG with multiple inheritance
    parent = (torch.rand(child.numel(), generator=g) * child).long()
    return transitive_closure(torch.stack([child, parent]), n)


@pytest.mark.parametrize("share", [1.0, 0.75, 0.5, 0.2])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force_on_a_partial_closure(share: float, seed: int) -> None:
    n = 40
    closure = _random_dag_closure(n, seed)
    g = torch.Generator().manual_seed(seed + 10)
    kept = closure[:, torch.rand(closure.shape[1], generator=g) > 0.3]  # a split's remainder
    got = common_ancestor_pairs(kept, n, share)
    assert set(zip(*got.tolist(), strict=True)) == _brute(kept, n, share)
    keys = got[0] * n + got[1]
    assert bool((keys[1:] > keys[:-1]).all())  # sorted, no duplicates


def test_on_a_tree_closure_nothing_is_missing() -> None:
    # in a tree a descendant's ancestors form one chain through u: what is above any of
    # them is u, below u, or above u already. A DAG's second parents are not.
    n = 50
    child = torch.arange(1, n)
    parent = (torch.rand(n - 1, generator=torch.Generator().manual_seed(3)) * child).long()
    tree = transitive_closure(torch.stack([child, parent]), n)
    assert common_ancestor_pairs(tree, n, 0.01).shape[1] == 0
    assert common_ancestor_pairs(_random_dag_closure(n, 3), n, 1.0).shape[1] > 0


def test_recovers_held_out_mammal_relations() -> None:
    # the link split keeps every leaf relation, so what is above all of u's descendants
    # is almost always a held-out ancestor of u
    graph = load_mammals()
    split = link_split(
        graph.edge_index, graph.num_nodes, val_fraction=0.0, test_fraction=0.1,
        undirected=False, protocol="nickel_kiela", seed=0,
    )  # fmt: skip
    got = common_ancestor_pairs(split.train_pos, graph.num_nodes, 1.0)
    found = set(zip(*got.tolist(), strict=True))
    held_out = set(zip(*split.test_pos.tolist(), strict=True))
    assert len(found & held_out) > 0.8 * len(held_out)
    assert len(found & held_out) > 0.95 * len(found)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_share_out_of_range_is_a_value_error(share: float) -> None:
    with pytest.raises(ValueError, match=rf"min_share must be in \(0, 1\], got {share}"):
        common_ancestor_pairs(torch.tensor([[1], [0]]), 2, share)
