"""Non-edge sampling: never an edge or a self-loop, exact counts, determinism, uniformity."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.functional import link_sampling
from contrastkit.functional.link_sampling import sample_non_edges


@st.composite
def graphs(draw):
    n = draw(st.integers(2, 12))
    e = draw(st.integers(0, n * n))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return n, ei, draw(st.booleans()), draw(st.integers(0, 40)), seed


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_never_returns_an_edge_or_self_loop(case):
    n, ei, undirected, k, seed = case
    edges = {tuple(p) for p in ei.T.tolist()}
    if undirected:
        edges |= {(j, i) for i, j in edges}
    free = {(i, j) for i in range(n) for j in range(n) if i != j} - edges
    gen = torch.Generator().manual_seed(seed)
    if not free and k > 0:
        with pytest.raises(ValueError, match="num_samples"):
            sample_non_edges(ei, n, k, generator=gen, undirected=undirected)
        return
    out = sample_non_edges(ei, n, k, generator=gen, undirected=undirected)
    assert out.shape == (2, k) and out.dtype == torch.long
    assert all(tuple(p) in free for p in out.T.tolist())
    again = sample_non_edges(
        ei, n, k, generator=torch.Generator().manual_seed(seed), undirected=undirected
    )
    assert torch.equal(out, again)


def test_self_loops_allowed_when_asked():
    ei = torch.tensor([[0, 1, 1], [1, 0, 2]])
    g = torch.Generator().manual_seed(0)
    out = sample_non_edges(ei, 3, 500, generator=g, allow_self_loops=True)
    pairs = {tuple(p) for p in out.T.tolist()}
    assert pairs == {(0, 0), (1, 1), (2, 2), (0, 2), (2, 0), (2, 1)}


def test_uniform_over_non_edges():
    """Each of the 6 free pairs of a 4-node graph with 6 edges gets ~1/6 of the draws."""
    ei = torch.tensor([[0, 1, 2, 3, 0, 2], [1, 2, 3, 0, 2, 0]])
    out = sample_non_edges(ei, 4, 12000, generator=torch.Generator().manual_seed(1))
    keys = out[0] * 4 + out[1]
    counts = torch.bincount(keys, minlength=16).float()
    free = counts[counts > 0]
    assert free.numel() == 6
    # binomial sd of a count is ~41; 5 sd either side
    assert torch.all((free - 2000).abs() < 205)


def test_nearly_complete_graph():
    n = 20
    full = torch.cartesian_prod(torch.arange(n), torch.arange(n)).T
    keep = torch.ones(full.shape[1], dtype=torch.bool)
    keep[5 * n + 7] = False  # the only missing pair besides self-loops: (5, 7)
    out = sample_non_edges(full[:, keep], n, 50, generator=torch.Generator().manual_seed(0))
    assert torch.all(out[0] == 5) and torch.all(out[1] == 7)


def test_zero_samples_and_bad_inputs():
    g = torch.Generator().manual_seed(0)
    ei = torch.tensor([[0], [1]])
    assert sample_non_edges(ei, 3, 0, generator=g).shape == (2, 0)
    with pytest.raises(ValueError, match="edge_index"):
        sample_non_edges(torch.tensor([[0], [3]]), 3, 2, generator=g)
    with pytest.raises(ValueError, match="num_samples"):
        sample_non_edges(ei, 3, -1, generator=g)
    with pytest.raises(ValueError, match="num_samples"):
        sample_non_edges(torch.zeros(2, 0, dtype=torch.long), 1, 1, generator=g)
    with pytest.raises(TypeError, match="generator"):
        sample_non_edges(ei, 3, 2, generator=0)  # type: ignore[arg-type]


def test_gives_up_after_max_rounds(monkeypatch):
    monkeypatch.setattr(link_sampling, "_MAX_DRAW", 64)  # cap each round at 64 candidates
    ei = torch.tensor([[0, 1, 1], [1, 0, 2]])
    g = torch.Generator().manual_seed(0)
    with pytest.raises(RuntimeError, match="max_rounds"):
        sample_non_edges(ei, 3, 1000, generator=g, max_rounds=2)
    assert sample_non_edges(ei, 3, 1000, generator=g).shape == (2, 1000)
