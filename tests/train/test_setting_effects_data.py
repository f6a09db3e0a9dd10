"""``data`` and ``hierarchy`` settings reach the graph a run trains on:
``data.knn`` is the digits graph's neighbour count, ``data.sbm_nodes`` /
``sbm_blocks`` / ``sbm_p_in`` / ``sbm_p_out`` the planted partition's size, blocks and
edge probabilities (1 / 0: complete blocks and nothing between), and
``hierarchy.edgelist`` reads an edge list as child -> parent relations whose closure
is trained.

(scripts/config_settings.py found these only in fixtures or bad-value tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.train.config import load_config
from contrastkit.train.task import build_task


def _task(*overrides: str):  # type: ignore[no-untyped-def]
    config = load_config(None, list(overrides))
    return build_task(config.data, config.loop.seed, config.hierarchy)


@pytest.mark.parametrize("k", [2, 5])
def test_knn_is_the_digits_graphs_neighbour_count(k: int) -> None:
    graph = _task("data.name=digits", f"data.knn={k}").graph
    out_degree = torch.bincount(graph.edge_index[0], minlength=graph.num_nodes)
    # each node's k nearest, symmetrised: at least k, on average under 2k
    assert int(out_degree.min()) >= k
    assert k <= float(out_degree.float().mean()) < 2 * k


@pytest.mark.parametrize(("p_in", "p_out"), [(1.0, 0.0), (0.0, 1.0)])
def test_sbm_settings_shape_the_planted_partition(p_in: float, p_out: float) -> None:
    graph = _task(
        "data.name=sbm",
        "data.sbm_nodes=24",
        "data.sbm_blocks=3",
        f"data.sbm_p_in={p_in}",
        f"data.sbm_p_out={p_out}",
    ).graph
    assert graph.num_nodes == 24 and graph.y is not None
    assert torch.bincount(graph.y).tolist() == [8, 8, 8]
    same = graph.y[graph.edge_index[0]] == graph.y[graph.edge_index[1]]
    assert bool(same.all()) if p_in == 1.0 else not bool(same.any())
    pairs = {tuple(sorted(e)) for e in graph.edge_index.t().tolist()}
    # every pair the probability-1 side allows: 3 blocks of C(8, 2), or 3 * 8 * 8 across
    assert len(pairs) == (3 * 28 if p_in == 1.0 else 3 * 64)


def test_hierarchy_edgelist_trains_the_closure_of_child_parent_edges(tmp_path: Path) -> None:
    path = tmp_path / "tree.tsv"
    path.write_text("cat\tfeline\nfeline\tanimal\ndog\tanimal\n")
    flat = _task("data.name=edgelist", f"data.path={path}")
    tree = _task("data.name=edgelist", f"data.path={path}", "hierarchy.edgelist=true")
    assert not flat.hierarchical and tree.hierarchical
    assert flat.graph.edge_index.shape[1] == 3
    names = tree.graph.names
    edges = {(names[u], names[v]) for u, v in tree.graph.edge_index.t().tolist()}
    assert ("cat", "animal") in edges and edges >= {("cat", "feline"), ("dog", "animal")}
    assert len(edges) == 4
