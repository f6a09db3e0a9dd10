"""Stochastic block model: exact structure on tiny cases, statistics on larger ones."""

from __future__ import annotations

import pytest
import torch

from contrastkit.data.sbm import planted_partition, stochastic_block_model

PROBS = [[0.9, 0.3, 1.0], [0.3, 1.0, 0.0], [1.0, 0.0, 0.5]]


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("self_loops", [False, True])
def test_structure(directed: bool, self_loops: bool) -> None:
    g = stochastic_block_model(
        [5, 7, 3], PROBS, directed=directed, self_loops=self_loops, generator=1
    )
    ei, n = g.edge_index, g.num_nodes
    keys = ei[0] * n + ei[1]
    assert torch.unique(keys).numel() == keys.numel(), "duplicate edges"
    if not self_loops:
        assert not bool((ei[0] == ei[1]).any())
    if not directed:
        rev = ei[1] * n + ei[0]
        assert set(rev.tolist()) == set(keys.tolist())
    # p = 1 blocks are complete, p = 0 blocks empty.
    bu, bv = g.y[ei[0]], g.y[ei[1]]
    assert not bool(((bu == 1) & (bv == 2)).any())
    full = ((bu == 1) & (bv == 1)).sum().item()
    assert full == (49 if self_loops else 42)  # 7 nodes, complete, loops stored once
    assert ((bu == 0) & (bv == 2)).sum().item() == 15


def test_complete_graph_counts() -> None:
    ones = [[1.0, 1.0], [1.0, 1.0]]
    assert stochastic_block_model([5, 7], ones).num_edges == 12 * 11
    assert stochastic_block_model([5, 7], ones, self_loops=True).num_edges == 12 * 11 + 12
    assert stochastic_block_model([5, 7], ones, directed=True, self_loops=True).num_edges == 144
    assert stochastic_block_model([5, 7], ones, directed=True).num_edges == 132


@pytest.mark.parametrize("directed", [False, True])
def test_edge_frequencies_match_probabilities(directed: bool) -> None:
    # 60 identical blocks of 4 nodes: each call replicates every local pair many times, so
    # the frequency of each (local u, local v, same block?) cell estimates its probability.
    b, size = 60, 4
    probs = torch.full((b, b), 0.1, dtype=torch.float64)
    probs.fill_diagonal_(0.6)
    g = stochastic_block_model([size] * b, probs, directed=directed, generator=11)
    ei = g.edge_index
    lu, lv = ei[0] % size, ei[1] % size
    same = (g.y[ei[0]] == g.y[ei[1]]).long()
    counts = torch.zeros(2, size, size)
    counts.index_put_((same, lu, lv), torch.ones(ei.shape[1]), accumulate=True)
    freq_within = counts[1] / b
    freq_between = counts[0] / (b * (b - 1))
    off = ~torch.eye(size, dtype=torch.bool)
    assert torch.allclose(freq_within[off], torch.full((12,), 0.6), atol=0.2)
    assert float(freq_within.diagonal().sum()) == 0.0
    assert torch.allclose(freq_between, torch.full((size, size), 0.1), atol=0.025)
    # Overall counts within a few standard deviations of the expectation.
    pairs_within = b * size * (size - 1) * (1 if directed else 0.5)
    pairs_between = b * (b - 1) * size * size * (1 if directed else 0.5)
    mean = 0.6 * pairs_within + 0.1 * pairs_between
    sd = (0.24 * pairs_within + 0.09 * pairs_between) ** 0.5
    assert abs(g.meta["num_pairs"] - mean) < 5 * sd


def test_seeded_and_large_planted_partition() -> None:
    a = planted_partition(10_000, 5, p_in=8e-3, p_out=4e-4, generator=3)
    b = planted_partition(10_000, 5, p_in=8e-3, p_out=4e-4, generator=3)
    assert torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(
        a.edge_index, planted_partition(10_000, 5, 8e-3, 4e-4, generator=4).edge_index
    )
    expected = 5 * (2000 * 1999 / 2) * 8e-3 + 10 * 2000**2 * 4e-4
    pairs = a.meta["num_pairs"]
    assert abs(pairs - expected) < 5 * expected**0.5
    within = (a.y[a.edge_index[0]] == a.y[a.edge_index[1]]).float().mean()
    assert abs(float(within) - 5 * 15992 / (5 * 15992 + 10 * 1600)) < 0.02


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([3, 0], [[0.1, 0.1], [0.1, 0.1]]), r"block_sizes\[1\]"),
        (([], []), "block_sizes"),
        (([3, 3], [[0.1, 0.2], [0.1, 0.1]]), "symmetric"),
        (([3, 3], [[0.1, 1.2], [1.2, 0.1]]), r"\[0, 1\]"),
        (([3, 3], [[0.1, 0.1]]), "shape"),
    ],
)
def test_bad_input(args, match) -> None:
    with pytest.raises(ValueError, match=match):
        stochastic_block_model(*args)


def test_planted_partition_bad_input() -> None:
    with pytest.raises(ValueError, match="p_in"):
        planted_partition(10, 2, 1.5, 0.1)
    with pytest.raises(ValueError, match="num_blocks"):
        planted_partition(3, 4, 0.5, 0.1)
