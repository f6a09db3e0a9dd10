"""GNNEncoder and GraphAutoencoder: PyG agreement, options, sampled-subgraph equality."""

from __future__ import annotations

import pytest
import torch

pyg = pytest.importorskip("torch_geometric")

from contrastkit.graph.sampling import neighbor_sample, sampling_csr  # noqa: E402
from contrastkit.models.autoencoder import GraphAutoencoder  # noqa: E402
from contrastkit.models.gnn import GNNEncoder  # noqa: E402


def graph(n: int = 30, e: int = 90, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    keys = torch.unique(ei[0] * n + ei[1])
    return torch.stack([keys // n, keys % n])


@pytest.mark.parametrize("conv", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("layers", [1, 3])
def test_shapes_and_grad(conv: str, layers: int) -> None:
    enc = GNNEncoder(
        5, 8, 3, num_layers=layers, conv=conv, heads=2, dropout=0.2, norm="layer", residual=True
    )  # type: ignore[arg-type]
    x = torch.randn(30, 5, requires_grad=True)
    out = enc(x, graph())
    assert out.shape == (30, 3)
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert len(enc.convs) == layers


def test_two_layer_sage_equals_pyg_stack() -> None:
    from torch_geometric.nn import SAGEConv

    torch.manual_seed(0)
    enc = GNNEncoder(4, 6, 2, num_layers=2, conv="sage", activation="tanh").double().eval()
    c1, c2 = SAGEConv(4, 6).double(), SAGEConv(6, 2).double()
    c1.load_state_dict(enc.convs[0].state_dict())
    c2.load_state_dict(enc.convs[1].state_dict())
    x, ei = torch.randn(30, 4, dtype=torch.float64), graph()
    torch.testing.assert_close(enc(x, ei), c2(torch.tanh(c1(x, ei)), ei))


def test_gcn_edge_weight_and_batchnorm() -> None:
    enc = GNNEncoder(4, 8, 2, conv="gcn", norm="batch").eval()
    x, ei = torch.randn(30, 4), graph()
    w = torch.rand(ei.shape[1])
    assert not torch.allclose(enc(x, ei, w), enc(x, ei))
    torch.testing.assert_close(enc(x, ei, torch.ones(ei.shape[1])), enc(x, ei))


def test_sampled_subgraph_output_equals_full_graph() -> None:
    torch.manual_seed(1)
    enc = GNNEncoder(4, 8, 3, num_layers=2, conv="gat", heads=2, residual=True).double().eval()
    n = 60
    ei = graph(n, 200, 3)
    x = torch.randn(n, 4, dtype=torch.float64)
    seeds = torch.tensor([0, 7, 21])
    sub = neighbor_sample(sampling_csr(ei, n), seeds, [-1, -1], generator=0)
    out = enc(x[sub.n_id], sub.edge_index)[: sub.batch_size]
    torch.testing.assert_close(out, enc(x, ei)[seeds])


def test_state_dict_round_trip() -> None:
    a = GNNEncoder(4, 8, 2, conv="gat", heads=4)
    b = GNNEncoder(4, 8, 2, conv="gat", heads=4)
    b.load_state_dict(a.state_dict())
    x, ei = torch.randn(30, 4), graph()
    torch.testing.assert_close(a.eval()(x, ei), b.eval()(x, ei))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="conv"):
        GNNEncoder(4, 8, 2, conv="gin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="heads"):
        GNNEncoder(4, 6, 2, conv="gat", heads=4)
    with pytest.raises(ValueError, match="num_layers"):
        GNNEncoder(4, 6, 2, num_layers=0)
    enc = GNNEncoder(4, 8, 2)
    with pytest.raises(ValueError, match="edge_index"):
        enc(torch.randn(3, 4), torch.tensor([[0, 5], [1, 2]]))
    with pytest.raises(ValueError, match="features"):
        enc(torch.randn(3, 5), torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="edge_weight"):
        enc(torch.randn(3, 4), torch.tensor([[0], [1]]), torch.ones(1))
    empty = enc(torch.randn(3, 4), torch.zeros((2, 0), dtype=torch.int64))
    assert empty.shape == (3, 2) and torch.isfinite(empty).all()


def test_autoencoder() -> None:
    torch.manual_seed(0)
    gae = GraphAutoencoder.build(6, 16, 4, decoder_hidden=[16])
    x, ei = torch.randn(30, 6), graph()
    z, x_hat = gae(x, ei)
    assert z.shape == (30, 4) and x_hat is not None and x_hat.shape == (30, 6)
    logits = gae.decode_edges(z, ei)
    torch.testing.assert_close(logits, (z[ei[0]] * z[ei[1]]).sum(1))
    # A few steps of feature + edge reconstruction reduce the loss.
    opt = torch.optim.Adam(gae.parameters(), lr=0.03)
    neg = torch.randint(0, 30, (2, ei.shape[1]), generator=torch.Generator().manual_seed(0))

    def loss() -> torch.Tensor:
        z, x_hat = gae(x, ei)
        pos, ng = gae.decode_edges(z, ei), gae.decode_edges(z, neg)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        return (
            (x_hat - x).square().mean()
            + bce(pos, torch.ones_like(pos))
            + bce(ng, torch.zeros_like(ng))
        )

    start = float(loss().detach())
    for _ in range(40):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss().detach()) < 0.75 * start
    edge_only = GraphAutoencoder.build(6, 8, 3, decode_features=False)
    assert edge_only(x, ei)[1] is None
    with pytest.raises(ValueError, match="feature decoder"):
        edge_only.decode_features(z)
