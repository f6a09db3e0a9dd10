"""Few-shot episodes: class-disjoint splits and an ``n``-way ``k``-shot sampler.

An episode draws ``n`` distinct classes of one split, then ``k + q`` distinct items of
each: the first ``k`` are the *support* set the learner adapts on, the other ``q`` the
*query* set it is scored on. Inside an episode the classes are relabelled
``0..n-1`` in drawing order, so a learner never sees a class's global id. The splits
(meta-train / validation / test) share no class (Vinyals et al. 2016's protocol), so
test accuracy measures adaptation to classes never trained on.

Sampling is vectorised: the items of every class sit in one padded table
``[C, M]`` (``M`` the largest class); a batch of ``E`` episodes draws its classes as
the ``n`` smallest of ``E x C`` random keys and its items as the ``k + q`` smallest
keys of the chosen rows, padding keyed to ``+inf`` — distinct draws without a loop.

Example:
    >>> y = torch.arange(6).repeat_interleave(10)       # 6 classes of 10 items
    >>> splits = split_classes(y, (2, 2, 2), generator=0)
    >>> sampler = EpisodeSampler(y, splits.test, ways=2, shots=3, queries=4)
    >>> ep = sampler.sample(8, generator=0)
    >>> ep.support.shape, ep.query.shape, ep.classes.shape
    (torch.Size([8, 2, 3]), torch.Size([8, 2, 4]), torch.Size([8, 2]))

Reference: O. Vinyals et al., "Matching networks for one shot learning", NeurIPS 2016.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int, check_tensor
from contrastkit.graph.rng import GeneratorLike, as_generator


@dataclass(frozen=True)
class ClassSplits:
    """Disjoint class ids ``[C_s]`` (int64, sorted) of the meta-train, validation and
    test splits."""

    train: Tensor
    val: Tensor
    test: Tensor

    def as_dict(self) -> dict[str, list[int]]:
        return {k: getattr(self, k).tolist() for k in ("train", "val", "test")}


def split_classes(
    labels: Tensor, sizes: Sequence[int], *, generator: GeneratorLike | None = None
) -> ClassSplits:
    """Split the classes present in ``labels`` (``-1`` = unlabelled, ignored) at random
    into meta-train / validation / test sets of ``sizes = (n_train, n_val, n_test)``
    classes (``n_train = -1``: every class left over).

    Args:
        labels: ``[N]`` int64 class per item.
        sizes: three class counts; their sum may not exceed the number of classes.
        generator: ``torch.Generator`` or seed (default seed 0).
    """
    check_tensor("labels", labels, ndim=1)
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be int64, got {labels.dtype}")
    if len(sizes) != 3:
        raise ValueError(f"sizes must be (train, val, test) class counts, got {list(sizes)}")
    classes = torch.unique(labels[labels >= 0])
    n_train, n_val, n_test = (int(s) for s in sizes)
    check_positive_int("sizes[1] (validation classes)", n_val)
    check_positive_int("sizes[2] (test classes)", n_test)
    if n_train == -1:
        n_train = classes.numel() - n_val - n_test
    if n_train <= 0 or n_train + n_val + n_test > classes.numel():
        raise ValueError(
            f"sizes {list(sizes)} need more than the {classes.numel()} labelled classes"
        )
    order = classes[torch.randperm(classes.numel(), generator=as_generator(generator))]
    cut = (n_train, n_train + n_val, n_train + n_val + n_test)
    parts = (order[: cut[0]], order[cut[0] : cut[1]], order[cut[1] : cut[2]])
    return ClassSplits(*(p.sort().values for p in parts))


@dataclass(frozen=True)
class Episodes:
    """A batch of ``E`` episodes.

    Attributes:
        support: ``[E, n, k]`` item ids; row ``c`` holds class ``c``'s support items.
        query: ``[E, n, q]`` item ids.
        classes: ``[E, n]`` the global class of each episode-local label ``0..n-1``.
    """

    support: Tensor
    query: Tensor
    classes: Tensor

    def __len__(self) -> int:
        return int(self.support.shape[0])

    def episode(self, i: int) -> Episodes:
        """Episode ``i`` alone (a batch of one)."""
        return Episodes(self.support[i : i + 1], self.query[i : i + 1], self.classes[i : i + 1])

    @property
    def ways(self) -> int:
        return int(self.support.shape[1])

    def support_labels(self) -> Tensor:
        """``[n k]`` episode-local labels of ``support[i].reshape(-1)`` (class-major)."""
        n, k = self.support.shape[1:]
        return torch.arange(n).repeat_interleave(k)

    def query_labels(self) -> Tensor:
        """``[n q]`` episode-local labels of ``query[i].reshape(-1)``."""
        n, q = self.query.shape[1:]
        return torch.arange(n).repeat_interleave(q)


class EpisodeSampler:
    """Draws ``ways``-way ``shots``-shot episodes with ``queries`` queries per class from
    the items of ``classes`` (one split's classes).

    Args:
        labels: ``[N]`` int64 class of each item (``-1``: never drawn).
        classes: ``[C_s]`` the split's class ids; each needs ``shots + queries`` items.
        ways, shots, queries: ``n``, ``k``, ``q`` (all > 0; ``ways <= C_s``).

    Raises:
        ValueError: a class with fewer than ``shots + queries`` items (named), or more
            ways than classes.
    """

    def __init__(
        self, labels: Tensor, classes: Tensor, *, ways: int, shots: int, queries: int
    ) -> None:
        check_tensor("labels", labels, ndim=1)
        check_tensor("classes", classes, ndim=1)
        self.ways = check_positive_int("ways", ways)
        self.shots = check_positive_int("shots", shots)
        self.queries = check_positive_int("queries", queries)
        classes = torch.unique(classes)
        if self.ways > classes.numel():
            raise ValueError(f"ways={ways} exceeds the split's {classes.numel()} classes")
        # items of the split's classes, grouped by class (a stable sort keeps id order)
        member = torch.isin(labels, classes)
        items = torch.nonzero(member).flatten()
        row = torch.searchsorted(classes, labels[items])
        order = torch.argsort(row, stable=True)
        items, row = items[order], row[order]
        counts = torch.bincount(row, minlength=classes.numel())
        need = self.shots + self.queries
        short = counts < need
        if bool(short.any()):
            bad = {int(c): int(n) for c, n in zip(classes[short], counts[short], strict=True)}
            raise ValueError(
                f"shots + queries = {need} items per class, but classes {bad} "
                "(class: items) have fewer"
            )
        starts = torch.cumsum(counts, 0) - counts
        width = int(counts.max())
        col = torch.arange(items.numel()) - starts[row]
        self.table = torch.full((classes.numel(), width), -1, dtype=torch.int64)
        self.table[row, col] = items  # [C_s, M] item ids, -1 padding
        self.counts = counts
        self.classes = classes

    def sample(self, num_episodes: int, *, generator: GeneratorLike | None = None) -> Episodes:
        """``num_episodes`` independent episodes (the same generator state, the same
        episodes)."""
        e = check_positive_int("num_episodes", num_episodes)
        gen = as_generator(generator)
        c, width = self.table.shape
        # n distinct classes per episode: the n smallest of C uniform keys
        pick = torch.rand(e, c, generator=gen).argsort(dim=1)[:, : self.ways]  # [E, n]
        keys = torch.rand(e, self.ways, width, generator=gen)
        valid = torch.arange(width) < self.counts[pick].unsqueeze(-1)  # [E, n, M]
        keys = keys.masked_fill(~valid, float("inf"))
        need = self.shots + self.queries
        cols = keys.topk(need, dim=2, largest=False).indices  # [E, n, k + q], distinct
        drawn = self.table[pick.unsqueeze(-1), cols]
        return Episodes(
            support=drawn[..., : self.shots],
            query=drawn[..., self.shots :],
            classes=self.classes[pick],
        )
