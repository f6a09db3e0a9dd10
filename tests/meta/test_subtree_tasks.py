"""Task augmentation by hypernym subtrees (``meta.train_tasks: subtree``): primary
paths and fine classes against brute-force loops, meta-train episodes that never hold
a validation or test item and have exact shot counts, each setting's effect, bad values
named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.meta.fewshot_data import FewShotData
from contrastkit.meta.subtree_tasks import primary_lineage, primary_parent, subtree_classes
from contrastkit.meta.trainer import MetaTrainer
from contrastkit.train.config import TrainConfig, load_config
from contrastkit.typed_config import ConfigError

WORDNET_CONFIG = Path(__file__).parents[2] / "configs" / "wordnet_fewshot_maml.yaml"


@st.composite
def _forest(draw: st.DrawFn) -> torch.Tensor:
    """``parent [N]`` of a random forest: node i's parent is an earlier node or itself."""
    n = draw(st.integers(1, 40))
    parent = [0]
    for i in range(1, n):
        parent.append(draw(st.integers(0, i)))  # i itself: a root
    return torch.tensor(parent)


def _path(parent: list[int], i: int) -> list[int]:
    path = [i]
    while parent[path[-1]] != path[-1]:
        path.append(parent[path[-1]])
    return path[::-1]


@settings(max_examples=60, deadline=None)
@given(_forest(), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))
def test_lineage_and_fine_classes_equal_brute_force_loops(
    parent: torch.Tensor, depth: int, min_items: int, seed: int
) -> None:
    n = parent.numel()
    lineage = primary_lineage(parent)
    paths = [_path(parent.tolist(), i) for i in range(n)]
    assert lineage.shape == (n, max(len(p) for p in paths))
    for i, path in enumerate(paths):
        assert lineage[i, : len(path)].tolist() == path
        assert bool((lineage[i, len(path) :] == -1).all())
    gen = torch.Generator().manual_seed(seed)
    node_class = torch.randint(-1, 3, (n,), generator=gen)
    classes = torch.tensor([0, 2])
    fine = subtree_classes(node_class, lineage, classes, depth=depth, min_items=min_items)
    # reference: group eligible nodes by (class, ancestor at depth), keep big groups
    groups: dict[tuple[int, int], list[int]] = {}
    for i, path in enumerate(paths):
        c = int(node_class[i])
        if c in (0, 2) and len(path) > depth:
            groups.setdefault((c, path[depth]), []).append(i)
    kept = sorted(key for key, items in groups.items() if len(items) >= min_items)
    expected = [-1] * n
    for k, key in enumerate(kept):
        for i in groups[key]:
            expected[i] = k
    assert fine.tolist() == expected


def test_primary_parent_takes_the_first_pointer_and_a_cycle_is_an_error() -> None:
    edges = torch.tensor([[1, 2, 2, 3], [0, 1, 0, 2]])  # node 2 has parents 1 (first), 0
    assert primary_parent(4, edges).tolist() == [0, 0, 1, 2]
    with pytest.raises(ValueError, match="cycle"):
        primary_lineage(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="depth"):
        subtree_classes(torch.zeros(2).long(), torch.zeros(2, 1).long(), torch.tensor([0]),
                        depth=0, min_items=1)  # fmt: skip


def _tree_data(classes: int = 10, subtrees: int = 4, items: int = 8) -> FewShotData:
    """A hierarchy: root 0 -> a node per class (depth 1) -> ``subtrees`` nodes each
    (depth 2) -> ``items`` leaves each (depth 3), half of them labelled (the rest are
    unlabelled items, like ``meta.train_per_class``'s synsets); subtree 0 of every class
    holds two leaves fewer (dropped by a larger ``subtree_min_items``). Features carry
    the subtree's random mean."""
    gen = torch.Generator().manual_seed(0)
    parent, node_class, y = [0], [-1], [-1]
    for c in range(classes):
        top = len(parent)
        parent.append(0), node_class.append(c), y.append(-1)
        for s in range(subtrees):
            sub = len(parent)
            parent.append(top), node_class.append(c), y.append(-1)
            for leaf in range(items - (2 if s == 0 else 0)):
                parent.append(sub), node_class.append(c), y.append(c if leaf % 2 else -1)
    parent_t = torch.tensor(parent)
    n = parent_t.numel()
    child = torch.arange(1, n)
    edge_index = torch.cat(
        [torch.stack([child, parent_t[1:]]), torch.stack([parent_t[1:], child])], 1
    )
    means = torch.randn(n, 8, generator=gen)[parent_t]  # a leaf's subtree's mean
    return FewShotData(
        x=means + 0.5 * torch.randn(n, 8, generator=gen),
        y=torch.tensor(y),
        edge_index=edge_index,
        class_names=[f"c{i}" for i in range(classes)],
        node_class=torch.tensor(node_class),
        lineage=primary_lineage(parent_t),
    )


def _config(tmp_path: Path, *overrides: str) -> TrainConfig:
    small = [
        "encoder.kind=mlp", "encoder.dim=8", "encoder.hidden=16", "meta.ways=3",
        "meta.shots=2", "meta.queries=2", "meta.val_classes=3", "meta.test_classes=3",
        "meta.val_episodes=4", "meta.test_episodes=4", "meta.inner_steps=1",
        "meta.steps=2", "meta.meta_batch=2", "loop.progress=false",
        f"output.run_dir={tmp_path}",
    ]  # fmt: skip
    return load_config(WORDNET_CONFIG, [*small, *overrides])


def test_subtree_episodes_never_hold_validation_or_test_items_and_have_exact_counts(
    tmp_path: Path,
) -> None:
    data = _tree_data()
    trainer = MetaTrainer(
        _config(tmp_path, "meta.train_tasks=subtree", "meta.subtree_depth=2"), data
    )
    sampler = trainer.samplers["train"]
    assert trainer.splits.train.numel() == 4
    assert sampler.classes.numel() == 4 * 4  # every class cut into its 4 subtrees
    episodes = sampler.sample(300, generator=0)
    assert episodes.support.shape == (300, 3, 2) and episodes.query.shape == (300, 3, 2)
    drawn = torch.cat([episodes.support, episodes.query], dim=2)  # [E, n, k + q]
    held_out = torch.cat([trainer.splits.val, trainer.splits.test])
    assert node_in(data.node_class, drawn, trainer.splits.train)
    assert not bool(torch.isin(data.node_class[drawn], held_out).any())
    val_test = torch.cat([trainer.samplers[s].table.flatten() for s in ("val", "test")])
    assert not bool(torch.isin(drawn, val_test[val_test >= 0]).any())
    # each row's items are its fine class's, distinct within the episode
    fine = sampler_labels(trainer)
    assert torch.equal(fine[drawn], episodes.classes.unsqueeze(-1).expand_as(drawn))
    flat = drawn.flatten(1)
    assert bool((flat.sort(1).values.diff(dim=1) != 0).all())
    # unlabelled items of meta-train classes are drawn too (they carry no y)
    assert bool((data.y[drawn] == -1).any())
    # and a step of MAML runs on them
    assert trainer.train_step()["train_loss"] > 0


def node_in(node_class: torch.Tensor, drawn: torch.Tensor, classes: torch.Tensor) -> bool:
    return bool(torch.isin(node_class[drawn], classes).all())


def sampler_labels(trainer: MetaTrainer) -> torch.Tensor:
    labels, _ = trainer._train_labels()
    return labels


def test_each_subtree_setting_has_its_effect(tmp_path: Path) -> None:
    data = _tree_data()

    def train_classes(*overrides: str) -> int:
        return MetaTrainer(_config(tmp_path, *overrides), data).samplers["train"].classes.numel()

    assert train_classes() == 4  # meta.train_tasks: classes, the 4 meta-train classes
    assert train_classes("meta.train_tasks=subtree", "meta.subtree_depth=1") == 4
    assert train_classes("meta.train_tasks=subtree", "meta.subtree_depth=2") == 16
    # subtree 0 of each class has 6 leaves: 8 items kept only of the other three
    assert train_classes("meta.train_tasks=subtree", "meta.subtree_depth=2",
                         "meta.subtree_min_items=8") == 12  # fmt: skip
    # classes mode draws labelled items only; subtree mode the unlabelled ones too
    plain = MetaTrainer(_config(tmp_path), data).samplers["train"]
    assert bool((data.y[plain.table[plain.table >= 0]] >= 0).all())


def test_too_few_subtrees_or_no_hierarchy_is_a_value_error(tmp_path: Path) -> None:
    data = _tree_data()
    deep = _config(tmp_path, "meta.train_tasks=subtree", "meta.subtree_depth=9")
    with pytest.raises(ValueError, match=r"meta\.subtree_depth=9"):
        MetaTrainer(deep, data)
    bare = FewShotData(x=data.x, y=data.y, edge_index=None, class_names=data.class_names)
    with pytest.raises(ValueError, match=r"meta\.train_tasks"):
        MetaTrainer(_config(tmp_path, "meta.train_tasks=subtree"), bare)
    with pytest.raises(ValueError, match="node_class must equal y"):
        FewShotData(x=data.x, y=data.y, edge_index=None, class_names=data.class_names,
                    node_class=torch.zeros_like(data.y))  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["meta.train_tasks=lexfile"], "meta.train_tasks"),
        (["meta.train_tasks=subtree", "meta.subtree_depth=0"], "meta.subtree_depth"),
        (["meta.train_tasks=subtree", "meta.subtree_min_items=3"], "meta.subtree_min_items"),
        (["meta.train_tasks=subtree", "meta.train_per_class=-1"], "meta.train_per_class"),
        (["meta.train_per_class=100"], "meta.train_per_class"),
        (["meta.train_tasks=subtree", "data.name=sbm"], "meta.train_tasks"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_setting(
    overrides: list[str], key: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        _config(tmp_path, *overrides)
    assert isinstance(err.value, ValueError)
