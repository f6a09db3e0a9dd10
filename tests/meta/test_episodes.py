"""The episode sampler: class-disjoint splits, exact shot and query counts, distinct
draws from the right classes, same seed same episodes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.meta.episodes import EpisodeSampler, split_classes


@st.composite
def _problem(draw: st.DrawFn) -> tuple[torch.Tensor, int, int, int, tuple[int, int, int], int]:
    ways = draw(st.integers(1, 4))
    shots = draw(st.integers(1, 4))
    queries = draw(st.integers(1, 5))
    sizes = (
        draw(st.integers(ways, ways + 3)),
        draw(st.integers(ways, 5)),
        draw(st.integers(ways, 5)),
    )
    extra_classes = draw(st.integers(0, 3))
    num_classes = sum(sizes) + extra_classes
    counts = draw(
        st.lists(
            st.integers(shots + queries, shots + queries + 6),
            min_size=num_classes,
            max_size=num_classes,
        )
    )
    unlabelled = draw(st.integers(0, 5))
    ids = draw(st.permutations(list(range(num_classes))))  # class ids in any order
    labels = torch.cat(
        [torch.full((c,), ids[i], dtype=torch.int64) for i, c in enumerate(counts)]
        + [torch.full((unlabelled,), -1, dtype=torch.int64)]
    )
    seed = draw(st.integers(0, 2**20))
    labels = labels[torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(seed))]
    return labels, ways, shots, queries, sizes, seed


@settings(max_examples=60, deadline=None)
@given(_problem(), st.integers(1, 6))
def test_episodes_are_class_disjoint_with_exact_counts(problem: tuple, num_episodes: int) -> None:
    labels, ways, shots, queries, sizes, seed = problem
    splits = split_classes(labels, sizes, generator=seed)
    parts = [set(splits.train.tolist()), set(splits.val.tolist()), set(splits.test.tolist())]
    assert [len(p) for p in parts] == list(sizes)
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert set().union(*parts) <= set(labels[labels >= 0].tolist())
    for name, part in zip(("train", "val", "test"), parts, strict=True):
        sampler = EpisodeSampler(
            labels, getattr(splits, name), ways=ways, shots=shots, queries=queries
        )
        eps = sampler.sample(num_episodes, generator=seed)
        assert eps.support.shape == (num_episodes, ways, shots)
        assert eps.query.shape == (num_episodes, ways, queries)
        for e in range(num_episodes):
            classes = eps.classes[e].tolist()
            assert len(set(classes)) == ways and set(classes) <= part
            items = torch.cat([eps.support[e].reshape(-1), eps.query[e].reshape(-1)])
            assert items.unique().numel() == items.numel()  # no item twice
            # every support and query item belongs to its row's class
            assert torch.equal(labels[eps.support[e]], eps.classes[e, :, None].expand(ways, shots))
            assert torch.equal(labels[eps.query[e]], eps.classes[e, :, None].expand(ways, queries))
        again = sampler.sample(num_episodes, generator=seed)
        assert torch.equal(again.support, eps.support) and torch.equal(again.query, eps.query)


def test_every_item_and_class_is_drawn() -> None:
    """Over many episodes the draws cover the split: each class about equally often."""
    labels = torch.arange(6).repeat_interleave(7)
    sampler = EpisodeSampler(labels, torch.arange(6), ways=2, shots=2, queries=1)
    eps = sampler.sample(3000, generator=0)
    per_class = torch.bincount(eps.classes.reshape(-1), minlength=6).double()
    assert float((per_class / per_class.mean() - 1).abs().max()) < 0.06
    drawn = torch.cat([eps.support.reshape(-1), eps.query.reshape(-1)])
    assert torch.equal(drawn.unique(), torch.arange(42))


def test_episode_labels_are_class_major() -> None:
    labels = torch.arange(4).repeat_interleave(5)
    eps = EpisodeSampler(labels, torch.arange(4), ways=3, shots=2, queries=1).sample(2, generator=0)
    assert eps.support_labels().tolist() == [0, 0, 1, 1, 2, 2]
    assert eps.query_labels().tolist() == [0, 1, 2]
    assert len(eps) == 2 and eps.episode(1).support.shape == (1, 3, 2)


def test_bad_arguments_name_what_is_wrong() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2])
    with pytest.raises(ValueError, match=r"classes \{2: 1\}"):
        EpisodeSampler(labels, torch.tensor([0, 1, 2]), ways=2, shots=2, queries=1)
    with pytest.raises(ValueError, match="ways=4"):
        EpisodeSampler(labels, torch.tensor([0, 1]), ways=4, shots=1, queries=1)
    with pytest.raises(ValueError, match="shots"):
        EpisodeSampler(labels, torch.tensor([0, 1]), ways=2, shots=0, queries=1)
    with pytest.raises(ValueError, match="labelled classes"):
        split_classes(labels, (2, 1, 1))
    with pytest.raises(TypeError, match="int64"):
        split_classes(labels.int(), (1, 1, 1))
