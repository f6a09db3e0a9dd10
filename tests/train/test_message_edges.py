"""A GNN's message-passing graph over a graph task's relations
(:meth:`~contrastkit.train.graph_backed.GraphBackedTask.message_edges`): PyG's
``to_undirected`` (coalesced) of the training relations, for the ``relations`` and the
``nodes`` task alike, so a GNN over it computes what one over PyG's graph does.

The graphs: karate (its edge list holds both directions of every edge, so a rule that
concatenated the reverse passed every message twice), an edge list mixing pairs listed
once, both ways and twice with a self-loop, and a small tree read as a hierarchy (its
closure, child -> ancestor: one direction only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("torch_geometric")
from torch_geometric.nn import GCNConv
from torch_geometric.utils import coalesce, to_undirected

from contrastkit.train.config import DEFAULT_RECIPE, load_config
from contrastkit.train.encoders import GraphEncoder
from contrastkit.train.trainer import Trainer
from tests.karate_mlp import karate_mlp_overrides

# 0-1 both ways, 2-3 twice, 3-3 a self-loop, 4-5 both ways, the rest once
MIXED = "0 1\n1 0\n1 2\n2 3\n2 3\n3 3\n3 4\n4 5\n5 4\n5 0\n6 0\n6 2\n"
# child parent: a tree of 7 nodes, whose closure the relations task trains on
TREE = "1 0\n2 0\n3 1\n4 1\n5 2\n6 5\n"
GRAPHS = ["karate", "mixed", "tree"]
GNN = ["encoder.kind=gnn", "encoder.dim=4", "encoder.hidden=8", "encoder.layers=2"]


def _trainer(tmp_path: Path, graph: str, *extra: str) -> Trainer:
    data: list[str] = []
    if graph != "karate":
        path = tmp_path / f"{graph}.txt"
        path.write_text(MIXED if graph == "mixed" else TREE)
        data = ["data.name=edgelist", f"data.path={path}"]
        if "task.kind=nodes" not in extra:  # the nodes task draws nodes.num_negatives
            data.append("miner.num_negatives=2")
        if graph == "tree":
            data.append("hierarchy.edgelist=true")
    overrides = karate_mlp_overrides(*data, *GNN, f"output.run_dir={tmp_path / 'run'}", *extra)
    return Trainer(load_config(DEFAULT_RECIPE, overrides))


def _pyg_graph(trainer: Trainer) -> torch.Tensor:
    """PyG's message graph of the run's training relations: coalesced, undirected."""
    graph = trainer.task.graph  # type: ignore[attr-defined]
    n = graph.num_nodes
    return to_undirected(coalesce(graph.train_edges, num_nodes=n), num_nodes=n)


# the nodes task reads no hierarchy
TASKS = [("relations", g) for g in GRAPHS] + [("nodes", "karate"), ("nodes", "mixed")]


@pytest.mark.parametrize(("task", "graph"), TASKS)
def test_the_message_graph_is_pygs_undirected_graph_without_duplicates(
    tmp_path: Path, task: str, graph: str
) -> None:
    extra = ["task.kind=nodes", "nodes.num_negatives=2"] if task == "nodes" else []
    trainer = _trainer(tmp_path, graph, *extra)
    edges = trainer.task.encoder_inputs().edge_index
    assert edges is not None
    pairs = edges.t().tolist()
    assert len(pairs) == len(set(map(tuple, pairs)))  # no (src, dst) twice
    assert torch.equal(edges, _pyg_graph(trainer))  # same pairs, same (src, dst) order
    assert isinstance(trainer.encoder, GraphEncoder)
    assert torch.equal(trainer.encoder.edge_index, edges)  # what the encoder passes over
    # a sum aggregation of ones (GIN's, a degree): each node hears each neighbour once
    n = trainer.task.num_items
    heard = torch.zeros(n).index_add_(0, edges[1], torch.ones(edges.shape[1]))
    train = trainer.task.graph.train_edges  # type: ignore[attr-defined]
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for u, v in train.t().tolist():
        neighbours[v].add(u)
        neighbours[u].add(v)
    assert heard.tolist() == [float(len(s)) for s in neighbours]


@pytest.mark.parametrize("conv", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("graph", ["karate", "mixed"])
def test_a_relations_gnn_computes_what_it_does_over_pygs_graph(
    tmp_path: Path, conv: str, graph: str
) -> None:
    """Each conv kind (GCN's normalisation, SAGE's mean, GAT's softmax) over the run's
    message graph gives the rows the same network gives over PyG's graph."""
    trainer = _trainer(tmp_path, graph, f"encoder.gnn={conv}")
    encoder = trainer.encoder
    assert isinstance(encoder, GraphEncoder)
    encoder.eval()
    with torch.no_grad():
        ours = encoder.embed_all()
        theirs = encoder.gnn(encoder.x, _pyg_graph(trainer))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("graph", GRAPHS)
def test_a_gcn_layer_over_the_message_graph_is_pygs_gcnconv(tmp_path: Path, graph: str) -> None:
    """One ``GCNConv`` over the relations task's message graph against the same layer
    over PyG's ``to_undirected(train_edges)`` and against the dense formula
    ``D^-1/2 (A + I) D^-1/2 X W + b`` with ``A`` the 0/1 adjacency of the distinct
    pairs (a listed self-loop is the ``I``'s entry, not a second one)."""
    trainer = _trainer(tmp_path, graph)
    edges = trainer.task.encoder_inputs().edge_index
    assert edges is not None
    n = trainer.task.num_items
    torch.manual_seed(0)
    layer = GCNConv(n, 3).double()
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(n, n, dtype=torch.float64)
    with torch.no_grad():
        ours = layer(x, edges)
        theirs = layer(x, _pyg_graph(trainer))
        a = torch.zeros(n, n, dtype=torch.float64)
        train = trainer.task.graph.train_edges  # type: ignore[attr-defined]
        a[train[1], train[0]] = 1.0
        a[train[0], train[1]] = 1.0
        a.fill_diagonal_(1.0)
        d = a.sum(1).rsqrt()
        dense = d[:, None] * a * d[None, :] @ (x @ layer.lin.weight.t()) + layer.bias
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours, dense, rtol=0, atol=1e-12)
