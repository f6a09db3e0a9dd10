"""Memory queue (ring buffer as a pool) and periodic re-mining with state_dict."""

from __future__ import annotations

import pytest
import torch

from contrastkit.mining.memory_queue import MemoryQueue
from contrastkit.mining.miner import mine
from contrastkit.mining.refresh import PeriodicRefresh


def test_queue_fifo_wraps_and_keeps_labels(gen):
    q = MemoryQueue(5, 3, dtype=torch.float64)
    x = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    q.enqueue(x[:3], labels=torch.arange(3), ids=torch.arange(3))
    assert len(q) == 3 and torch.equal(q.embeddings, x[:3])
    q.enqueue(x[3:7], labels=torch.arange(3, 7), ids=torch.arange(3, 7))
    # slots 0..4 hold items 5, 6, 2, 3, 4 (the two oldest were overwritten)
    assert len(q) == 5 and q.labels.tolist() == [5, 6, 2, 3, 4]
    torch.testing.assert_close(q.embeddings, x[[5, 6, 2, 3, 4]])
    q.enqueue(x[:12], labels=torch.arange(12))  # more than the capacity
    assert sorted(q.labels.tolist()) == [7, 8, 9, 10, 11] and (q.ids == -1).all()
    q.enqueue(torch.empty(0, 3, dtype=torch.float64))
    assert len(q) == 5


def test_queue_grad_is_detached_and_state_round_trips(gen):
    q = MemoryQueue(4, 2)
    z = torch.randn(3, 2, generator=gen, requires_grad=True)
    q.enqueue(z * 2, labels=torch.tensor([1, 2, 3]))
    assert not q.embeddings.requires_grad
    q2 = MemoryQueue(4, 2)
    q2.load_state_dict(q.state_dict())
    assert torch.equal(q2.embeddings, q.embeddings) and torch.equal(q2.labels, q.labels)
    q.enqueue(torch.ones(2, 2), labels=torch.tensor([4, 5]))
    q2.enqueue(torch.ones(2, 2), labels=torch.tensor([4, 5]))
    assert torch.equal(q2.labels, q.labels)
    with pytest.raises(ValueError, match="shape"):
        MemoryQueue(5, 2).load_state_dict(q.state_dict())


def test_queue_as_pool_excludes_same_label_and_own_item(gen):
    q = MemoryQueue(50, 4)
    x = torch.randn(50, 4, generator=gen)
    lab = torch.arange(50) % 5
    q.enqueue(x, labels=lab, ids=torch.arange(50))
    anchors = x[:6] + 0.01
    a_lab = torch.tensor([0, 1, 2, 3, 4, 0])
    a_ids = torch.tensor([0, 1, 2, 3, 4, 5])
    res = mine(anchors, q.embeddings, 5, exclusions=q.exclusions(a_lab, a_ids))
    assert res.mask.all()
    assert not (q.labels[res.indices] == a_lab.unsqueeze(1)).any()
    res2 = mine(anchors, q.embeddings, 3, exclusions=q.exclusions(anchor_ids=a_ids))
    assert not (res2.indices == a_ids.unsqueeze(1)).any()


def test_queue_bad_input():
    q = MemoryQueue(3, 2)
    with pytest.raises(ValueError, match="dimension"):
        q.enqueue(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="labels"):
        q.enqueue(torch.zeros(2, 2), labels=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="embeddings"):
        q.enqueue(torch.full((1, 2), float("nan")))
    with pytest.raises(ValueError, match="size"):
        MemoryQueue(0, 2)


def test_periodic_refresh_follows_the_model_and_resumes(gen):
    pool_x = torch.randn(40, 3, generator=gen)
    anchor_x = torch.randn(5, 3, generator=gen)
    weight = {"w": torch.eye(3)}

    def mine_now():
        w = weight["w"]
        return mine(anchor_x @ w, pool_x @ w, 4, "hardest")

    r = PeriodicRefresh(every=2, mine_fn=mine_now)
    first = r.step()
    weight["w"] = torch.randn(3, 3, generator=gen)  # the model moves
    assert torch.equal(r.step().indices, first.indices)  # step 1: cached
    third = r.step()  # step 2: re-mined against the moved model
    assert r.num_refreshes == 2
    assert torch.equal(third.indices, mine_now().indices)
    state = r.state_dict()
    r2 = PeriodicRefresh(every=99, mine_fn=mine_now)
    r2.load_state_dict(state)
    assert r2.every == 2 and r2.steps == 3 and not r2.due()
    assert torch.equal(r2.step().indices, third.indices)  # resumed, not re-mined
    assert r2.num_refreshes == 2 and r2.due()
    assert torch.equal(r2.lookup(torch.tensor([1, 3])).indices, third.indices[[1, 3]])
    with pytest.raises(ValueError, match="every"):
        PeriodicRefresh(0, mine_now)
    with pytest.raises(ValueError, match="nothing"):
        PeriodicRefresh(1, mine_now).lookup(torch.tensor([0]))
