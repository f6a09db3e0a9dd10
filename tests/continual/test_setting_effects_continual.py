"""``continual`` settings act as they claim: ``metric`` is the measure of the accuracy
matrix (``mrr`` the mean reciprocal rank of a task's held-out relations, ``map`` their
mean average precision, over the same filtered ranking); ``blocks_per_task`` /
``block_size`` grow the SBM stream; ``files`` are an edge-file stream's tasks in order
(``undirected`` how they train); ``split`` / ``groups`` name the WordNet stream's tasks.

(scripts/config_settings.py found these in no test, or only in the tests' fixtures;
the stream functions' own tests pass them as arguments, not through the config.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.continual.learner import ContinualLearner, build_stream
from contrastkit.eval.reconstruction import filtered_ranking
from tests.continual.test_learner import config
from tests.continual.test_stream import HAVE_WORDNET


def test_metric_names_the_measure_of_the_accuracy_matrix() -> None:
    learners = {m: ContinualLearner(config(f"continual.metric={m}")) for m in ("mrr", "map")}
    stream = learners["mrr"].stream
    rows = stream.rows_after(1)
    z = torch.randn(rows, 8, generator=torch.Generator().manual_seed(0))
    tasks = stream.tasks
    known = torch.cat([tasks[0].train_edges, tasks[1].train_edges, tasks[0].test_edges], 1)
    ranking = filtered_ranking(
        z,
        tasks[1].test_edges,
        known,
        distance=learners["mrr"].distance,
        mode="undirected" if stream.undirected else "directed",
        return_ranks=True,
    )
    assert ranking.ranks is not None
    mrr, map_ = learners["mrr"].task_metric(z, 1), learners["map"].task_metric(z, 1)
    assert mrr == float((1.0 / ranking.ranks).mean())
    assert map_ == ranking.map
    assert mrr != map_


def test_blocks_per_task_and_block_size_grow_the_sbm_stream() -> None:
    stream = build_stream(
        config("continual.num_tasks=3", "continual.blocks_per_task=2", "continual.block_size=5")
    )
    assert stream.num_nodes == 3 * 2 * 5
    for t, task in enumerate(stream.tasks):
        assert torch.equal(task.nodes, torch.arange(10 * t, 10 * (t + 1)))


def test_files_are_the_tasks_in_order_and_undirected_says_how_they_train(
    tmp_path: Path,
) -> None:
    names = []
    for i, text in enumerate(
        ["x y\ny z\nx z\nz w\n", "v x\nv y\nu v\nu x\n", "q r\nr s\nq s\ns t\nq t\n"]
    ):
        (tmp_path / f"{i}.txt").write_text(text)
        names.append(str(tmp_path / f"{i}.txt"))
    files = "continual.files=[" + ", ".join(names[::-1]) + "]"  # the last file first
    for undirected in (False, True):
        stream = build_stream(
            config(
                "continual.stream=edge_files",
                files,
                "continual.num_tasks=2",
                "continual.test_fraction=0.2",
                f"continual.undirected={str(undirected).lower()}",
            )
        )
        assert len(stream.tasks) == 2 and stream.undirected == undirected
        # the first task is the file named first (q r s t), then the second's 4 new nodes
        assert torch.equal(stream.tasks[0].nodes, torch.arange(4))
        assert torch.equal(stream.tasks[1].nodes, torch.arange(4, 8))


@pytest.mark.skipif(not HAVE_WORDNET, reason="WordNet (wordnet-base) is not installed")
@pytest.mark.parametrize(
    ("split", "groups"),
    [("lexfile", ["noun.plant", "noun.animal"]), ("subtree", ["bird.n.01", "tree.n.01"])],
)
def test_split_and_groups_name_the_wordnet_tasks(split: str, groups: list[str]) -> None:
    stream = build_stream(
        config(
            "continual.stream=wordnet",
            f"continual.split={split}",
            f"continual.groups=[{', '.join(groups)}]",
            "continual.num_tasks=2",
            "continual.max_nodes_per_task=40",
        )
    )
    assert [task.name for task in stream.tasks] == groups


def test_data_path_points_the_wordnet_stream_at_another_wordnet(tmp_path: Path) -> None:
    """``data.path`` (with ``data.name: wordnet_nouns``, as every WordNet source takes
    it) is the directory the WordNet stream reads: a tiny slice in WordNet's format
    gives exactly its own synsets of each lexicographer file, not WordNet 3.0's."""
    from tests.wordnet_slice import SYNSETS, write_wordnet_slice

    root = write_wordnet_slice(tmp_path / "wn")
    stream = build_stream(
        config(
            "continual.stream=wordnet",
            "continual.groups=[noun.animal, noun.plant]",
            "continual.num_tasks=2",
            "continual.max_nodes_per_task=40",
            "data.name=wordnet_nouns",
            f"data.path={root}",
        )
    )
    assert [task.name for task in stream.tasks] == ["noun.animal", "noun.plant"]
    # lexicographer files 5 (noun.animal) and 20 (noun.plant) of the slice
    sizes = [sum(lex == n for _, lex, *_ in SYNSETS) for n in (5, 20)]
    assert [int(task.nodes.numel()) for task in stream.tasks] == sizes
    assert stream.num_nodes == sum(sizes)
    # a directory without WordNet's files is named in the error, not replaced by the default
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "empty")):
        build_stream(
            config(
                "continual.stream=wordnet",
                "data.name=wordnet_nouns",
                f"data.path={tmp_path / 'empty'}",
            )
        )
