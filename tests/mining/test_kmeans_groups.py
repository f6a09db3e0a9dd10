"""k-means and per-group top-k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastkit.mining.groups import group_topk
from contrastkit.mining.kmeans import assign_clusters, kmeans


def test_kmeans_recovers_blobs_and_is_seeded(gen):
    centers = torch.tensor([[6.0, 0.0], [-6.0, 0.0], [0.0, 6.0]])
    lab = torch.arange(3).repeat_interleave(40)
    x = centers[lab] + 0.5 * torch.randn(120, 2, generator=gen)
    a, ca = kmeans(x, 3, distance="sqeuclidean", generator=torch.Generator().manual_seed(1))
    b, _ = kmeans(x, 3, distance="sqeuclidean", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    # a perfect clustering up to relabelling
    pairs = set(zip(lab.tolist(), a.tolist(), strict=True))
    assert len(pairs) == 3
    assert torch.equal(assign_clusters(x, ca, "sqeuclidean", memory_budget=4_000), a)


def test_kmeans_memmap_and_cosine(tmp_path, gen):
    x = torch.randn(200, 5, generator=gen)
    np.save(tmp_path / "x.npy", x.numpy())
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    a, c = kmeans(mm, 4, generator=torch.Generator().manual_seed(0), memory_budget=20_000)
    b, _ = kmeans(x, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    torch.testing.assert_close(c.norm(dim=1), torch.ones(4))
    with pytest.raises(ValueError, match="num_clusters"):
        kmeans(x, 0)


def test_group_topk_matches_reference(gen):
    q = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    x = torch.randn(90, 4, generator=gen, dtype=torch.float64)
    groups = torch.randint(0, 5, (90,), generator=gen)
    top = group_topk(q, x, groups, 7, distance="dot", memory_budget=3_000)
    s = q @ x.T
    for r in range(6):
        per = []
        for g in range(5):
            idx = torch.nonzero(groups == g).squeeze(1)
            order = idx[s[r, idx].argsort(descending=True)]
            per += [(rank, -float(s[r, j]), int(j)) for rank, j in enumerate(order[:2])]
        expect = [j for _, _, j in sorted(per)[:7]]
        assert top.indices[r].tolist() == expect


def test_group_topk_random_within_is_seeded_and_masks(gen):
    q = torch.randn(3, 2, generator=gen)
    x = torch.randn(5, 2, generator=gen)
    groups = torch.tensor([0, 0, 1, 1, 1])
    a = group_topk(q, x, groups, 8, within="random", generator=torch.Generator().manual_seed(4))
    b = group_topk(q, x, groups, 8, within="random", generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.indices, b.indices)
    # per_group = ceil(8 / 2) = 4 -> group 0 gives 2, group 1 gives 3: 5 real, 3 empty
    assert ((a.indices >= 0).sum(1) == 5).all() and torch.isinf(a.keys[:, 5:]).all()
    with pytest.raises(ValueError, match="groups"):
        group_topk(q, x, groups[:4], 2)
