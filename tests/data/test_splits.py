"""Link-prediction splits: partition, negatives, determinism, Nickel & Kiela protocol."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.data.mammals import load_mammals
from contrastkit.data.sbm import planted_partition
from contrastkit.data.splits import link_split


def as_set(ei: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, ei.t().tolist()))


def test_partition_and_negatives_directed() -> None:
    g = load_mammals()
    s = link_split(
        g.edge_index, g.num_nodes, val_fraction=0.1, test_fraction=0.2, num_negatives=3, seed=1
    )
    tr, va, te = as_set(s.train_pos), as_set(s.val_pos), as_set(s.test_pos)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == as_set(g.edge_index)
    assert (len(va), len(te)) == (round(0.1 * 6542), round(0.2 * 6542))
    assert s.val_neg.shape[1] == 3 * len(va) and s.test_neg.shape[1] == 3 * len(te)
    negs = torch.cat([s.val_neg, s.test_neg], dim=1)
    assert not (as_set(negs) & as_set(g.edge_index))
    assert bool((negs[0] != negs[1]).all())
    assert len(as_set(negs)) == negs.shape[1]  # uniform negatives are distinct


def test_nickel_kiela_protocol_avoids_root_and_leaves() -> None:
    g = load_mammals()
    s = link_split(g.edge_index, g.num_nodes, protocol="nickel_kiela", seed=0)
    ei = g.edge_index
    has_child = torch.bincount(ei[1], minlength=g.num_nodes) > 0
    has_parent = torch.bincount(ei[0], minlength=g.num_nodes) > 0
    inner = has_child & has_parent
    held = torch.cat([s.val_pos, s.test_pos], dim=1)
    assert held.shape[1] > 0
    assert bool(inner[held].all())
    assert not bool((held == 0).any())  # mammal.n.01, the root
    # Random protocol does hold out edges to the root.
    r = link_split(g.edge_index, g.num_nodes, seed=0)
    assert bool((torch.cat([r.val_pos, r.test_pos], dim=1)[1] == 0).any())


def test_corrupt_negatives_keep_source() -> None:
    g = load_mammals()
    s = link_split(g.edge_index, g.num_nodes, num_negatives=4, negatives="corrupt", seed=2)
    assert torch.equal(s.test_neg[0].view(-1, 4), s.test_pos[0][:, None].expand(-1, 4))
    assert not (as_set(s.test_neg) & as_set(g.edge_index))


def test_undirected_split() -> None:
    g = planted_partition(300, 3, 0.1, 0.01, generator=0)
    s = link_split(g.edge_index, g.num_nodes, undirected=True, seed=4)
    assert bool((s.test_pos[0] <= s.test_pos[1]).all())
    held = as_set(s.test_pos) | as_set(s.val_pos)
    assert not any((b, a) in held for a, b in as_set(s.train_pos))
    assert s.train_edge_index().shape[1] == 2 * s.train_pos.shape[1]
    full = as_set(g.edge_index)
    assert not any((a, b) in full or (b, a) in full for a, b in as_set(s.test_neg))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), frac=st.floats(0.0, 0.4))
def test_deterministic_by_seed(seed: int, frac: float) -> None:
    g = planted_partition(60, 2, 0.3, 0.05, generator=1)
    a = link_split(g.edge_index, 60, test_fraction=frac, val_fraction=0.1, seed=seed)
    b = link_split(g.edge_index, 60, test_fraction=frac, val_fraction=0.1, seed=seed)
    for f in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg"):
        assert torch.equal(getattr(a, f), getattr(b, f))


def test_different_seeds_differ() -> None:
    g = load_mammals()
    a = link_split(g.edge_index, g.num_nodes, seed=0)
    b = link_split(g.edge_index, g.num_nodes, seed=1)
    assert not torch.equal(a.test_pos, b.test_pos)


def test_bad_input() -> None:
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="empty"):
        link_split(torch.zeros((2, 0), dtype=torch.int64), 3)
    with pytest.raises(ValueError, match="edge_index"):
        link_split(torch.tensor([[0, -1], [1, 2]]), 3)
    with pytest.raises(ValueError, match="edge_index"):
        link_split(ei, 2)
    with pytest.raises(ValueError, match="val_fraction"):
        link_split(ei, 3, val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError, match="protocol"):
        link_split(ei, 3, protocol="nk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nickel_kiela"):
        link_split(ei, 3, protocol="nickel_kiela", undirected=True)
    with pytest.raises(ValueError, match="eligible"):
        link_split(ei, 3, protocol="nickel_kiela", test_fraction=0.5)
    complete = torch.tensor([[0, 1, 0, 2, 1, 2], [1, 0, 2, 0, 2, 1]])
    with pytest.raises(ValueError, match="too dense"):
        link_split(complete, 3, test_fraction=0.5)
