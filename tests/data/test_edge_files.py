"""Edge-list, .npz and .npy readers: parsing, id mapping, round trips, line-numbered errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from contrastkit.data.edge_files import (
    load_node_features,
    load_npz,
    read_edge_list,
    save_npz,
    write_edge_list,
)
from contrastkit.data.graph_data import GraphData


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_string_ids_csv_with_header_and_comments(tmp_path: Path) -> None:
    p = write(
        tmp_path, "g.csv", "# comment\nsrc,dst,w\nalice, bob ,1.5\n\nbob,carol,2\ncarol,alice,0\n"
    )
    g = read_edge_list(p, header=True)
    assert g.names == ["alice", "bob", "carol"]
    assert g.edge_index.tolist() == [[0, 1, 2], [1, 2, 0]]
    assert g.edge_weight.tolist() == [1.5, 2.0, 0.0]


def test_int_ids_whitespace_and_num_nodes(tmp_path: Path) -> None:
    p = write(tmp_path, "g.txt", "0 1\n1   2\n4 0\n")
    g = read_edge_list(p)
    assert g.names is None and g.num_nodes == 5 and g.edge_weight is None
    assert read_edge_list(p, num_nodes=8).num_nodes == 8
    assert read_edge_list(p, ids="str").names == ["0", "1", "4", "2"]
    und = read_edge_list(p, undirected=True)
    assert und.edge_index.tolist() == [[0, 1, 4, 1, 2, 0], [1, 2, 0, 0, 1, 4]]


def test_malformed_line_names_line_number(tmp_path: Path) -> None:
    p = write(tmp_path, "g.tsv", "a\tb\n# skip\nb\tc\tx\n")
    with pytest.raises(ValueError, match="line 3"):
        read_edge_list(p)
    p = write(tmp_path, "h.tsv", "a\tb\t1\nb\tc\t2\nc\td\n")
    with pytest.raises(ValueError, match="line 3: expected 3 fields"):
        read_edge_list(p)
    p = write(tmp_path, "w.tsv", "a\tb\t1\nb\tc\tnope\n")
    with pytest.raises(ValueError, match="line 2: weight 'nope'"):
        read_edge_list(p)


def test_negative_and_out_of_range_ids(tmp_path: Path) -> None:
    p = write(tmp_path, "g.txt", "0 1\n\n2 -3\n")
    with pytest.raises(ValueError, match="line 3: negative node id -3"):
        read_edge_list(p)
    p = write(tmp_path, "g2.txt", "0 1\n7 2\n")
    with pytest.raises(ValueError, match="line 2: node id 7 is out of range"):
        read_edge_list(p, num_nodes=5)
    p = write(tmp_path, "g3.txt", "0 1\nx 2\n")
    with pytest.raises(ValueError, match="line 2: node id 'x' is not an integer"):
        read_edge_list(p, ids="int")
    with pytest.raises(ValueError, match="ids"):
        read_edge_list(p, ids="names")  # type: ignore[arg-type]


def test_empty_file(tmp_path: Path) -> None:
    p = write(tmp_path, "e.csv", "# nothing\n\n")
    with pytest.raises(ValueError, match="empty graph"):
        read_edge_list(p)


def test_edge_list_round_trip(tmp_path: Path) -> None:
    g = GraphData(
        torch.tensor([[0, 2, 1], [1, 0, 2]]),
        3,
        edge_weight=torch.tensor([0.25, 1.0, 3.5]),
        names=["x y", "b", "c"],
    )
    p = tmp_path / "out.csv"
    write_edge_list(p, g)
    back = read_edge_list(p)
    assert [back.names[i] for i in back.edge_index[0].tolist()] == ["x y", "c", "b"]
    assert torch.equal(back.edge_weight, g.edge_weight)


def test_npz_round_trip(tmp_path: Path) -> None:
    g = GraphData(
        torch.tensor([[0, 1], [1, 3]]),
        4,
        x=torch.randn(4, 2),
        y=torch.tensor([1, 0, 1, 2]),
        edge_weight=torch.tensor([1.0, 2.0]),
        names=["a", "b", "c", "d"],
    )
    save_npz(tmp_path / "g.npz", g)
    back = load_npz(tmp_path / "g.npz")
    assert back.num_nodes == 4 and back.names == g.names
    for key in ("edge_index", "x", "y", "edge_weight"):
        assert torch.equal(getattr(back, key), getattr(g, key))
    np.savez(tmp_path / "bare.npz", edge_index=np.array([[0, 5], [1, 2]]))
    assert load_npz(tmp_path / "bare.npz").num_nodes == 6
    np.savez(tmp_path / "bad.npz", edges=np.array([[0], [1]]))
    with pytest.raises(ValueError, match="edge_index"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "neg.npz", edge_index=np.array([[0, -1], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index"):
        load_npz(tmp_path / "neg.npz")


def test_node_features(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.float64).reshape(3, 2))
    x = load_node_features(tmp_path / "x.npy", num_nodes=3)
    assert x.dtype == torch.float32 and x.shape == (3, 2)
    np.save(tmp_path / "v.npy", np.ones(4))
    assert load_node_features(tmp_path / "v.npy").shape == (4, 1)
    with pytest.raises(ValueError, match="num_nodes=5"):
        load_node_features(tmp_path / "x.npy", num_nodes=5)
    np.save(tmp_path / "nan.npy", np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="NaN"):
        load_node_features(tmp_path / "nan.npy")
