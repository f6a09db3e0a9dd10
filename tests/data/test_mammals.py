"""The shipped mammal closure (package data; no WordNet install needed)."""

from __future__ import annotations

import pytest
import torch

from contrastkit.data.closure import transitive_closure
from contrastkit.data.graph_data import GraphData
from contrastkit.data.mammals import load_mammals, write_mammal_resources
from contrastkit.data.wordnet import NOUN_LEXNAMES, WordNetNouns


def test_counts_and_fields() -> None:
    g = load_mammals()
    assert (g.num_nodes, g.num_edges) == (1182, 6542)
    assert g.names[0] == "mammal.n.01" and len(set(g.names)) == 1182
    assert g.meta["offsets"][0] == 1861778
    assert g.meta["glosses"][0].startswith("any warm-blooded vertebrate")
    assert "mammalian" in g.meta["lemmas"][0]
    assert {NOUN_LEXNAMES[i] for i in g.y.tolist()} <= set(NOUN_LEXNAMES)
    assert NOUN_LEXNAMES[int(g.y[0])] == "noun.animal"


def test_nickel_kiela_variant() -> None:
    g = load_mammals("nickel_kiela")
    assert (g.num_nodes, g.num_edges) == (1180, 6540)
    assert "tusker.n.01" not in g.names and "female_mammal.n.01" not in g.names


def test_is_transitively_closed_with_single_root() -> None:
    g = load_mammals()
    closed = transitive_closure(g.edge_index, g.num_nodes)
    assert closed.shape[1] == g.num_edges
    assert set(map(tuple, closed.t().tolist())) == set(map(tuple, g.edge_index.t().tolist()))
    has_parent = torch.zeros(g.num_nodes, dtype=torch.bool)
    has_parent[g.edge_index[0]] = True
    assert torch.nonzero(~has_parent).flatten().tolist() == [0]


def test_bad_variant() -> None:
    with pytest.raises(ValueError, match="variant"):
        load_mammals("all")  # type: ignore[arg-type]


def test_round_trip_writer(tmp_path) -> None:
    # Feed the shipped data back through the writer as a tiny "WordNet": same graph out.
    g = load_mammals()
    lemmas = g.meta["lemmas"]
    offsets = g.meta["offsets"]
    order = torch.argsort(offsets)  # WordNetNouns needs increasing offsets
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    nouns = WordNetNouns(
        offsets=offsets[order],
        names=[g.names[i] for i in order.tolist()],
        lemmas=[lemmas[i] for i in order.tolist()],
        glosses=[g.meta["glosses"][i] for i in order.tolist()],
        lexclass=g.y[order],
        hypernyms=torch.zeros((2, 0), dtype=torch.int64),
        instance_hypernyms=torch.zeros((2, 0), dtype=torch.int64),
        lemma_offsets={"mammal": [int(offsets[0])]},
    )
    sub = GraphData(rank[g.edge_index], g.num_nodes, meta={"root": "mammal.n.01"})
    write_mammal_resources(nouns, sub, torch.arange(g.num_nodes), tmp_path)
    again = load_mammals(directory=tmp_path)
    assert again.names == g.names
    assert again.meta["glosses"] == g.meta["glosses"]
    assert torch.equal(again.y, g.y)
    assert set(map(tuple, again.edge_index.t().tolist())) == set(
        map(tuple, g.edge_index.t().tolist())
    )
