"""A GNN on a sampled subgraph reproduces the full-graph output wherever the sampled
subgraph kept the whole receptive field (the sampler's defining promise)."""

from __future__ import annotations

import pytest
import torch

from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.sampling import neighbor_sample, sampling_csr

pyg_nn = pytest.importorskip("torch_geometric.nn")


def simple_graph(n: int, e: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    keys = torch.unique(ei[0] * n + ei[1])
    return torch.stack([keys // n, keys % n])


class Net(torch.nn.Module):
    def __init__(self, conv: str, layers: int) -> None:
        super().__init__()
        make = {
            "sage": lambda: pyg_nn.SAGEConv(8, 8),
            "gat": lambda: pyg_nn.GATConv(8, 8, heads=1),
            "gcn": lambda: pyg_nn.GCNConv(8, 8),
        }[conv]
        self.convs = torch.nn.ModuleList([make() for _ in range(layers)])

    def forward(self, x: torch.Tensor, ei: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, ei)
            if i < len(self.convs) - 1:
                x = torch.tanh(x)
        return x


def exact_seeds(ei, sub, seeds, depth) -> list[int]:
    """Seeds all of whose nodes within ``depth`` in-hops kept their full in-neighbourhood."""
    full: dict[int, set[int]] = {}
    for s, d in ei.t().tolist():
        full.setdefault(d, set()).add(s)
    kept: dict[int, set[int]] = {}
    for s, d in sub.global_edge_index().t().tolist():
        kept.setdefault(d, set()).add(s)
    in_sub = set(sub.n_id.tolist())
    out = []
    for pos, v in enumerate(seeds.tolist()):
        ball, frontier = {v}, {v}
        for _ in range(depth):
            frontier = set().union(*(full.get(u, set()) for u in frontier)) - ball
            ball |= frontier
        if all(u in in_sub and kept.get(u, set()) == full.get(u, set()) for u in ball):
            out.append(pos)
    return out


@pytest.mark.parametrize("conv", ["sage", "gat", "gcn"])
def test_full_fanout_matches_full_graph(conv: str) -> None:
    torch.manual_seed(0)
    n, layers = 120, 2
    ei = simple_graph(n, 500, 1)
    x = torch.randn(n, 8, dtype=torch.float64)
    net = Net(conv, layers).double().eval()
    full = net(x, ei)
    seeds = torch.tensor([3, 17, 40, 99])
    # GCN's symmetric norm also reads the degree of the outermost sources: one more hop.
    hops = layers + (1 if conv == "gcn" else 0)
    sub = neighbor_sample(sampling_csr(ei, n), seeds, [-1] * hops, generator=0)
    out = net(x[sub.n_id], sub.edge_index)[: sub.batch_size]
    torch.testing.assert_close(out, full[seeds])


@pytest.mark.parametrize("conv", ["sage", "gat", "gcn"])
def test_partial_fanout_exact_where_neighbourhood_kept(conv: str) -> None:
    torch.manual_seed(0)
    n, layers = 150, 2
    ei = simple_graph(n, 330, 2)
    x = torch.randn(n, 8, dtype=torch.float64)
    net = Net(conv, layers).double().eval()
    full = net(x, ei)
    seeds = torch.arange(0, n, 3)
    hops = layers + (1 if conv == "gcn" else 0)
    sub = neighbor_sample(sampling_csr(ei, n), seeds, [3] * hops, generator=5)
    out = net(x[sub.n_id], sub.edge_index)[: sub.batch_size]
    exact = exact_seeds(ei, sub, seeds, hops - 1)
    assert 0 < len(exact) < seeds.numel(), "test graph should mix exact and truncated seeds"
    torch.testing.assert_close(out[exact], full[seeds[exact]])
    assert not torch.allclose(out, full[seeds]), "truncation should change some outputs"


def test_layerwise_exact_with_full_budget() -> None:
    n = 100
    ei = simple_graph(n, 300, 4)
    x = torch.randn(n, 8, dtype=torch.float64)
    net = Net("sage", 2).double().eval()
    seeds = torch.tensor([1, 2, 3])
    sub = layerwise_sample(sampling_csr(ei, n), seeds, [n, n], generator=0)
    out = net(x[sub.n_id], sub.edge_index)[:3]
    torch.testing.assert_close(out, net(x, ei)[seeds])
