"""WordNet parsing, closure and subtree counts (skipped without /usr/share/wordnet)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from contrastkit.data.closure import (
    NICKEL_KIELA_MAMMAL_EXCLUDE,
    wordnet_closure_graph,
    wordnet_subtree_graph,
)
from contrastkit.data.wordnet import (
    NOUN_LEXNAMES,
    WordNetNotFoundError,
    load_wordnet_nouns,
    wordnet_dir,
)

WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(
    not Path(WN_DIR, "data.noun").is_file(),
    reason=f"WordNet 3.0 not installed in {WN_DIR} (apt-get install wordnet-base)",
)


@pytest.fixture(scope="module")
def nouns():
    return load_wordnet_nouns(WN_DIR)


@pytest.fixture(scope="module")
def closure(nouns):
    return wordnet_closure_graph(nouns)


def test_missing_install_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(WordNetNotFoundError, match="apt-get install wordnet-base"):
        wordnet_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data\.noun"):
        load_wordnet_nouns(tmp_path / "nowhere")


def test_env_var_sets_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRASTKIT_WORDNET_DIR", str(tmp_path))
    with pytest.raises(WordNetNotFoundError, match=str(tmp_path)):
        wordnet_dir()


def test_malformed_data_line_names_line(tmp_path: Path) -> None:
    (tmp_path / "index.noun").write_text("entity n 1 0 1 0 00001740  \n")
    (tmp_path / "data.noun").write_text(
        "  license header\n00001740 03 n 01 entity 0 000 | a thing  \n00001800 03 n zz | bad\n"
    )
    with pytest.raises(ValueError, match="line 3"):
        load_wordnet_nouns(tmp_path)


def test_tiny_handmade_database(tmp_path: Path) -> None:
    # entity <- animal <- dog ; Rex is an instance of dog.
    (tmp_path / "index.noun").write_text(
        "  header\nentity n 1 1 ~ 1 0 00000010  \nanimal n 1 1 @ 1 0 00000100  \n"
        "dog n 1 1 @ 1 0 00000200  \nrex n 1 1 @i 1 0 00000300  \n"
    )
    (tmp_path / "data.noun").write_text(
        "  header\n"
        "00000010 03 n 01 entity 0 000 | top  \n"
        "00000100 05 n 01 animal 0 001 @ 00000010 n 0000 | a beast  \n"
        "00000200 05 n 02 dog 0 domestic_dog 0 001 @ 00000100 n 0000 | woof  \n"
        "00000300 18 n 01 Rex 0 001 @i 00000200 n 0000 | a dog  \n"
    )
    nouns = load_wordnet_nouns(tmp_path)
    assert nouns.names == ["entity.n.01", "animal.n.01", "dog.n.01", "rex.n.01"]
    assert nouns.lemmas[2] == ("dog", "domestic_dog")
    assert nouns.glosses[1] == "a beast"
    assert [NOUN_LEXNAMES[i] for i in nouns.lexclass] == [
        "noun.Tops", "noun.animal", "noun.animal", "noun.person",
    ]  # fmt: skip
    assert nouns.hypernyms.tolist() == [[1, 2], [0, 1]]
    assert nouns.instance_hypernyms.tolist() == [[3], [2]]
    g = wordnet_closure_graph(nouns)
    pairs = set(map(tuple, g.edge_index.t().tolist()))
    assert pairs == {(1, 0), (2, 1), (2, 0), (3, 2), (3, 1), (3, 0)}
    sub, ids = wordnet_subtree_graph(nouns, "animal.n.01")
    assert ids.tolist() == [1, 2, 3] and sub.num_edges == 3
    with pytest.raises(KeyError, match=r"cat\.n\.01"):
        nouns.index("cat.n.01")


@needs_wordnet
def test_noun_counts(nouns, closure) -> None:
    assert nouns.num_nodes == 82115
    assert len(set(nouns.names)) == 82115
    assert closure.num_nodes == 82115
    assert closure.num_edges == 743241
    assert int(closure.y.max()) == len(NOUN_LEXNAMES) - 1
    assert not bool((closure.edge_index[0] == closure.edge_index[1]).any())


@needs_wordnet
def test_mammal_subtree_counts(nouns, closure) -> None:
    g, _ = wordnet_subtree_graph(nouns, "mammal.n.01", closure=closure.edge_index)
    assert (g.num_nodes, g.num_edges) == (1182, 6542)
    nk, _ = wordnet_subtree_graph(
        nouns, "mammal.n.01", closure=closure.edge_index, exclude=NICKEL_KIELA_MAMMAL_EXCLUDE
    )
    assert (nk.num_nodes, nk.num_edges) == (1180, 6540)
    # Every mammal reaches the root; the root has no ancestor inside the subtree.
    root = g.names.index("mammal.n.01")
    assert set(g.edge_index[0][g.edge_index[1] == root].tolist()) == set(range(1182)) - {root}
    assert not bool((g.edge_index[0] == root).any())


@needs_wordnet
def test_names_follow_nltk(nouns) -> None:
    dog = nouns.index("dog.n.01")
    assert nouns.index("domestic_dog.n.01") == dog
    assert nouns.names[dog] == "dog.n.01"
    assert NOUN_LEXNAMES[int(nouns.lexclass[dog])] == "noun.animal"
    assert nouns.offsets[nouns.index("mammal.n.01")] == 1861778


@needs_wordnet
def test_shipped_mammals_match_wordnet(nouns, closure) -> None:
    from contrastkit.data.mammals import load_mammals

    g, ids = wordnet_subtree_graph(nouns, "mammal.n.01", closure=closure.edge_index)
    shipped = load_mammals()
    assert sorted(shipped.names) == sorted(g.names)
    ours = {(g.names[a], g.names[b]) for a, b in g.edge_index.t().tolist()}
    theirs = {(shipped.names[a], shipped.names[b]) for a, b in shipped.edge_index.t().tolist()}
    assert ours == theirs
    assert torch.equal(
        torch.sort(shipped.meta["offsets"]).values, torch.sort(nouns.offsets[ids]).values
    )
