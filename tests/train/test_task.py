"""The training task of a link-prediction split: held-out relations are unknown to
training (drawn and mined as negatives) and known to evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.graph.csr import CSR
from contrastkit.mining.relation_sampler import RelationNegativeSampler
from contrastkit.train.config import DataConfig
from contrastkit.train.recipe_config import HierarchyConfig
from contrastkit.train.task import build_task
from contrastkit.typed_config import ConfigError


def _pairs(csr: CSR) -> set[tuple[int, int]]:
    rows = torch.repeat_interleave(torch.arange(csr.num_nodes), csr.rowptr.diff())
    return set(zip(rows.tolist(), csr.col.tolist(), strict=True))


@pytest.mark.parametrize("name", ["mammals", "karate"])
def test_held_out_relations_are_known_but_not_related(name: str) -> None:
    task = build_task(DataConfig(name=name, test_fraction=0.1), seed=0)
    assert task.split is not None
    held_out = set(zip(*task.split.test_pos.tolist(), strict=True))
    related, known = _pairs(task.related), _pairs(task.known)
    assert held_out and held_out.isdisjoint(related)
    assert held_out <= known
    assert set(zip(*task.train_edges.tolist(), strict=True)) <= related
    assert _pairs(task.lineage()).isdisjoint(held_out)


def test_a_held_out_ancestor_can_be_drawn_as_a_negative() -> None:
    task = build_task(DataConfig(name="mammals", test_fraction=0.1), seed=0)
    assert task.split is not None
    u, v = task.split.test_pos[:, :200]
    sampler = RelationNegativeSampler(task.related, generator=torch.Generator().manual_seed(0))
    # 2,000 uniform draws over 1,180 nodes hit most held-out ancestors; none is masked
    neg, mask = sampler.sample(u, 2000, "uniform")
    hit = (neg == v.unsqueeze(1)) & mask
    assert bool(hit.any(dim=1).float().mean() > 0.5)


def test_without_a_split_known_is_related() -> None:
    task = build_task(DataConfig(name="mammals"), seed=0)
    assert task.known is task.related


def test_exclude_implied_relates_what_training_relations_chain_to() -> None:
    plain = build_task(DataConfig(name="mammals", test_fraction=0.1), seed=0)
    closed = build_task(
        DataConfig(name="mammals", test_fraction=0.1),
        seed=0,
        hierarchy=HierarchyConfig(exclude_implied=True),
    )
    assert plain.split is not None and closed.split is not None
    train = _pairs(plain.related)
    # brute force: a held-out (u, v) is implied when v is reachable from u by kept relations
    ancestors: dict[int, set[int]] = {}
    for u, v in train:
        ancestors.setdefault(u, set()).add(v)
    held_out = set(zip(*plain.split.test_pos.tolist(), strict=True))
    implied = set()
    for u, v in held_out:
        frontier, seen = set(ancestors.get(u, ())), set()
        while frontier:
            w = frontier.pop()
            seen.add(w)
            frontier |= ancestors.get(w, set()) - seen
        if v in seen:
            implied.add((u, v))
    assert implied and implied != held_out  # both kinds occur on this split
    assert _pairs(closed.related) == train | implied
    reverse = {(v, u) for u, v in train | implied}
    assert _pairs(closed.lineage()) == train | implied | reverse
    assert _pairs(closed.known) == _pairs(plain.known)


def test_exclude_implied_on_a_symmetric_graph_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"hierarchy\.exclude_implied needs a hierarchy.*'karate'"
    ):
        build_task(DataConfig(name="karate"), hierarchy=HierarchyConfig(exclude_implied=True))


def test_exclude_common_ancestors_relates_what_is_above_the_descendants() -> None:
    plain = build_task(DataConfig(name="mammals", test_fraction=0.1), seed=0)
    config = DataConfig(name="mammals", test_fraction=0.1)
    shared = build_task(config, seed=0, hierarchy=HierarchyConfig(exclude_common_ancestors=0.75))
    train = _pairs(plain.related)
    below: dict[int, set[int]] = {}
    for u, v in train:
        below.setdefault(v, set()).add(u)
    # brute force over the anchors that have descendants
    inferred = {
        (u, w)
        for u, d in below.items()
        for w, dw in below.items()
        if w != u and w not in d and (u, w) not in train and len(d & dw) >= 0.75 * len(d)
    }
    assert inferred
    assert _pairs(shared.related) == train | inferred
    assert _pairs(shared.known) == _pairs(plain.known)
    # the train edges and the split are the filter's inputs, not its outputs
    assert torch.equal(shared.train_edges, plain.train_edges)


@pytest.mark.parametrize(
    ("name", "share", "message"),
    [("karate", 0.5, r"needs a hierarchy.*'karate'"), ("mammals", 1.5, r"must be in \[0, 1\]")],
)
def test_exclude_common_ancestors_errors(name: str, share: float, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"hierarchy\.exclude_common_ancestors {message}"):
        hierarchy = HierarchyConfig(exclude_common_ancestors=share)
        build_task(DataConfig(name=name), hierarchy=hierarchy)  # type: ignore[arg-type]


def test_an_edge_list_hierarchy_gets_the_hierarchy_filters(tmp_path: Path) -> None:
    # a -> b -> c, d -> b: child -> parent relations of a small tree
    path = tmp_path / "tree.tsv"
    path.write_text("a\tb\nb\tc\nd\tb\n")
    plain = build_task(DataConfig(name="edgelist", path=str(path)))
    assert not plain.hierarchical
    with pytest.raises(ConfigError, match=r"hierarchy\.exclude_implied needs a hierarchy"):
        build_task(
            DataConfig(name="edgelist", path=str(path)),
            hierarchy=HierarchyConfig(exclude_implied=True),
        )
    tree = build_task(
        DataConfig(name="edgelist", path=str(path)),
        hierarchy=HierarchyConfig(edgelist=True, exclude_implied=True),
    )
    assert tree.hierarchical
    names = tree.graph.names
    assert names is not None
    pairs = {(names[u], names[v]) for u, v in tree.train_edges.t().tolist()}
    assert pairs == {("a", "b"), ("b", "c"), ("d", "b"), ("a", "c"), ("d", "c")}  # the closure
    with pytest.raises(ConfigError, match=r"hierarchy\.edgelist"):
        build_task(DataConfig(name="karate"), hierarchy=HierarchyConfig(edgelist=True))
