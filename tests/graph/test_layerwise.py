"""Layer-wise (FastGCN/LADIES) sampling: budgets, true edges, determinism, importance."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.sampling import sampling_csr


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    e=st.integers(0, 200),
    seed=st.integers(0, 1000),
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    prob=st.sampled_from(["uniform", "importance"]),
)
def test_properties(n: int, e: int, seed: int, sizes: list[int], prob: str) -> None:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    edges = set(map(tuple, ei.t().tolist()))
    csr = sampling_csr(ei, n)
    seeds = torch.randperm(n, generator=g)[: max(1, n // 4)]
    sub = layerwise_sample(csr, seeds, sizes, probability=prob, generator=seed)  # type: ignore[arg-type]
    assert torch.equal(sub.n_id[: seeds.numel()], seeds)
    assert torch.unique(sub.n_id).numel() == sub.n_id.numel()
    glob = sub.global_edge_index()
    assert set(map(tuple, glob.t().tolist())) <= edges
    keys = glob[0] * n + glob[1]
    assert torch.unique(keys).numel() == keys.numel()
    for hop, size in enumerate(sizes):
        assert sub.num_sampled_nodes[hop + 1] <= size
    again = layerwise_sample(csr, seeds, sizes, probability=prob, generator=seed)  # type: ignore[arg-type]
    assert torch.equal(again.n_id, sub.n_id) and torch.equal(again.edge_index, sub.edge_index)


def test_layer_is_sampled_from_candidates_and_keeps_all_edges_into_it() -> None:
    # Seed 0 has in-neighbours 1..9; budget 4 picks 4 of them and keeps each one's edge to 0.
    ei = torch.stack([torch.arange(1, 10), torch.zeros(9, dtype=torch.int64)])
    sub = layerwise_sample(sampling_csr(ei, 10), torch.tensor([0]), [4], probability="uniform")
    assert sub.num_sampled_nodes == [1, 4]
    assert sub.edge_index.shape[1] == 4
    assert bool((sub.edge_index[1] == 0).all())


def test_importance_prefers_nodes_feeding_low_degree_targets() -> None:
    # Node 1 feeds target 0 (in-degree 1); nodes 3..22 feed target 2 (in-degree 20).
    # LADIES weight: q(1) = 1, q(k) = 1/400 -> node 1 is nearly always drawn.
    src = torch.cat([torch.tensor([1]), torch.arange(3, 23)])
    dst = torch.cat([torch.tensor([0]), torch.full((20,), 2)])
    csr = sampling_csr(torch.stack([src, dst]), 23)
    gen = torch.Generator().manual_seed(0)
    hits_imp = sum(
        int(1 in layerwise_sample(csr, torch.tensor([0, 2]), [2], generator=gen).n_id.tolist())
        for _ in range(50)
    )
    hits_uni = sum(
        int(
            1
            in layerwise_sample(
                csr, torch.tensor([0, 2]), [2], probability="uniform", generator=gen
            ).n_id.tolist()
        )
        for _ in range(50)
    )
    assert hits_imp >= 48 and hits_uni < 20  # uniform: 2/21 per draw


def test_bad_input() -> None:
    csr = sampling_csr(torch.tensor([[0, 1], [1, 2]]), 3)
    with pytest.raises(ValueError, match=r"layer_sizes\[1\]"):
        layerwise_sample(csr, torch.tensor([0]), [2, 0])
    with pytest.raises(ValueError, match="layer_sizes"):
        layerwise_sample(csr, torch.tensor([0]), [])
    with pytest.raises(ValueError, match="probability"):
        layerwise_sample(csr, torch.tensor([0]), [2], probability="degree")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seeds"):
        layerwise_sample(csr, torch.tensor([5]), [2])
