"""``data.root``: a WordNet noun subtree as the graph of a ``wordnet_nouns`` run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contrastkit.data.closure import wordnet_closure_graph, wordnet_nouns_graph
from contrastkit.data.mammals import load_mammals
from contrastkit.data.wordnet import load_wordnet_nouns
from contrastkit.train.data_config import DataConfig
from contrastkit.typed_config import ConfigError

WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(
    not Path(WN_DIR, "data.noun").is_file(),
    reason=f"WordNet 3.0 not installed in {WN_DIR} (apt-get install wordnet-base)",
)


@pytest.fixture
def tiny_nouns(tmp_path: Path):  # type: ignore[no-untyped-def]
    # entity <- animal <- dog <- puppy ; entity <- plant ; Rex is an instance of dog.
    (tmp_path / "index.noun").write_text(
        "  header\nentity n 1 1 ~ 1 0 00000010  \nanimal n 1 1 @ 1 0 00000100  \n"
        "dog n 1 1 @ 1 0 00000200  \nrex n 1 1 @i 1 0 00000300  \n"
        "plant n 1 1 @ 1 0 00000400  \npuppy n 1 1 @ 1 0 00000500  \n"
    )
    (tmp_path / "data.noun").write_text(
        "  header\n"
        "00000010 03 n 01 entity 0 000 | top  \n"
        "00000100 05 n 01 animal 0 001 @ 00000010 n 0000 | a beast  \n"
        "00000200 05 n 01 dog 0 001 @ 00000100 n 0000 | woof  \n"
        "00000300 18 n 01 Rex 0 001 @i 00000200 n 0000 | a dog  \n"
        "00000400 20 n 01 plant 0 001 @ 00000010 n 0000 | green  \n"
        "00000500 05 n 01 puppy 0 001 @ 00000200 n 0000 | young dog  \n"
    )
    return load_wordnet_nouns(tmp_path)


def _pairs(g) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(g.names[a], g.names[b]) for a, b in g.edge_index.t().tolist()}


def test_root_none_is_the_whole_noun_closure(tiny_nouns) -> None:  # type: ignore[no-untyped-def]
    g = wordnet_nouns_graph(tiny_nouns)
    full = wordnet_closure_graph(tiny_nouns)
    assert g.num_nodes == full.num_nodes == 6 and _pairs(g) == _pairs(full)


def test_root_keeps_its_subtree_closure_only(tiny_nouns) -> None:  # type: ignore[no-untyped-def]
    g = wordnet_nouns_graph(tiny_nouns, "animal.n.01")
    assert sorted(g.names) == ["animal.n.01", "dog.n.01", "puppy.n.01", "rex.n.01"]
    assert _pairs(g) == {
        ("dog.n.01", "animal.n.01"),
        ("puppy.n.01", "dog.n.01"),
        ("puppy.n.01", "animal.n.01"),
        ("rex.n.01", "dog.n.01"),
        ("rex.n.01", "animal.n.01"),
    }  # child -> ancestor, nothing above the root, no sibling subtree
    assert g.y is not None and g.y.shape == (4,)
    leaf = wordnet_nouns_graph(tiny_nouns, "puppy.n.01")
    assert leaf.names == ["puppy.n.01"] and leaf.num_edges == 0


def test_unknown_root_names_the_argument(tiny_nouns) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"root 'cat\.n\.01'"):
        wordnet_nouns_graph(tiny_nouns, "cat.n.01")
    with pytest.raises(TypeError, match="root"):
        wordnet_nouns_graph(tiny_nouns, 3)  # type: ignore[arg-type]


@needs_wordnet
def test_mammal_subtree_equals_the_shipped_closure() -> None:
    g = wordnet_nouns_graph(load_wordnet_nouns(WN_DIR), "mammal.n.01")
    shipped = load_mammals()
    assert (g.num_nodes, g.num_edges) == (shipped.num_nodes, shipped.num_edges) == (1182, 6542)
    assert sorted(g.names) == sorted(shipped.names)
    assert _pairs(g) == _pairs(shipped)


def test_config_root_defaults_to_none_and_accepts_a_synset() -> None:
    assert DataConfig().root is None
    assert DataConfig(name="wordnet_nouns").root is None
    assert DataConfig(name="wordnet_nouns", root="mammal.n.01").root == "mammal.n.01"


@pytest.mark.parametrize("name", ["mammals", "karate", "digits", "sbm"])
def test_config_root_on_another_dataset_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError, match=r"data\.root"):
        DataConfig(name=name, root="mammal.n.01")  # type: ignore[arg-type]


@pytest.mark.parametrize("root", ["mammal", "", "mammal.v.01", "mammal.n."])
def test_config_root_must_look_like_a_noun_synset(root: str) -> None:
    with pytest.raises(ConfigError, match=r"data\.root"):
        DataConfig(name="wordnet_nouns", root=root)
