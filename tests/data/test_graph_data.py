"""GraphData validation and PyG round trip."""

from __future__ import annotations

import pytest
import torch

from contrastkit.data.graph_data import GraphData


def test_valid_and_properties() -> None:
    g = GraphData(torch.tensor([[0, 1], [1, 2]]), 3, y=torch.tensor([0, 2, 1]))
    assert g.num_edges == 2 and g.num_classes == 3
    assert GraphData(torch.zeros((2, 0), dtype=torch.int64), 0).num_classes == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"edge_index": torch.tensor([[0, 3], [1, 0]]), "num_nodes": 3}, "edge_index"),
        ({"edge_index": torch.tensor([[0, -1], [1, 0]]), "num_nodes": 3}, "edge_index"),
        ({"edge_index": torch.tensor([0, 1]), "num_nodes": 3}, "edge_index"),
        ({"edge_index": torch.tensor([[0], [1]]), "num_nodes": -1}, "num_nodes"),
        ({"edge_index": torch.tensor([[0], [1]]), "num_nodes": 2, "x": torch.zeros(3, 2)}, "x"),
        ({"edge_index": torch.tensor([[0], [1]]), "num_nodes": 2, "y": torch.zeros(3)}, "y"),
        (
            {"edge_index": torch.tensor([[0], [1]]), "num_nodes": 2, "edge_weight": torch.ones(2)},
            "edge_weight",
        ),
        ({"edge_index": torch.tensor([[0], [1]]), "num_nodes": 2, "names": ["a"]}, "names"),
    ],
)
def test_bad_input(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        GraphData(**kwargs)


def test_float_edge_index_rejected() -> None:
    with pytest.raises(TypeError, match="edge_index"):
        GraphData(torch.tensor([[0.0], [1.0]]), 2)


def test_pyg_round_trip() -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.data import Data

    g = GraphData(
        torch.tensor([[0, 1, 2], [1, 2, 0]]),
        4,
        x=torch.randn(4, 3),
        y=torch.tensor([0, 1, 1, 0]),
        edge_weight=torch.tensor([0.5, 1.0, 2.0]),
        names=["a", "b", "c", "d"],
    )
    d = g.to_pyg()
    assert isinstance(d, Data) and d.num_nodes == 4
    back = GraphData.from_pyg(d)
    assert torch.equal(back.edge_index, g.edge_index) and back.names == g.names
    assert torch.equal(back.edge_weight, g.edge_weight) and torch.equal(back.x, g.x)
    # A one-column edge_attr stands in for edge_weight.
    d2 = Data(edge_index=g.edge_index, edge_attr=torch.ones(3, 1), num_nodes=4)
    assert torch.equal(GraphData.from_pyg(d2).edge_weight, torch.ones(3))
    with pytest.raises(ValueError, match="edge_index"):
        GraphData.from_pyg(Data(x=torch.zeros(2, 1)))
