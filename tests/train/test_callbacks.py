from __future__ import annotations

import pytest
import torch

from contrastkit.train.callbacks import (
    EarlyStopping,
    NonFiniteError,
    NonFiniteGuard,
    OverfitTracker,
)


def test_guard_skips_and_stops_after_consecutive() -> None:
    guard = NonFiniteGuard(max_consecutive=3)
    assert guard.check(torch.tensor(1.0))
    assert not guard.check(torch.tensor(float("nan")))
    assert not guard.check(torch.tensor(float("inf")))
    assert guard.check(torch.tensor(0.5))  # a finite step resets the run
    assert guard.consecutive == 0 and guard.skipped == 2
    assert not guard.check(torch.tensor(float("nan")))
    assert not guard.check(torch.tensor(float("nan")))
    with pytest.raises(NonFiniteError, match="3 consecutive non-finite steps"):
        guard.check(torch.tensor(float("nan")))


def test_guard_checks_dense_and_sparse_gradients() -> None:
    guard = NonFiniteGuard()
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([0.0, float("nan"), 1.0])
    assert not guard.check(torch.tensor(1.0), [p])
    q = torch.nn.Parameter(torch.zeros(4, 2))
    q.grad = torch.sparse_coo_tensor(
        torch.tensor([[1]]), torch.tensor([[float("inf"), 0.0]]), (4, 2), check_invariants=True
    )
    assert not guard.check(torch.tensor(1.0), [q])
    q.grad = torch.sparse_coo_tensor(
        torch.tensor([[1]]), torch.tensor([[1.0, 0.0]]), (4, 2), check_invariants=True
    )
    assert guard.check(torch.tensor(1.0), [q])


def test_guard_state_round_trip() -> None:
    guard = NonFiniteGuard(5)
    guard.check(torch.tensor(float("nan")))
    other = NonFiniteGuard(5)
    other.load_state_dict(guard.state_dict())
    assert (other.skipped, other.consecutive) == (1, 1)


def test_early_stopping_max_and_min() -> None:
    stop = EarlyStopping(patience=2, mode="max", min_delta=0.01)
    assert not stop.update(0.5, step=1)
    assert not stop.update(0.505, step=2)  # within min_delta: not an improvement
    assert stop.update(0.4, step=3)
    assert stop.best == 0.5 and stop.best_step == 1
    down = EarlyStopping(patience=1, mode="min")
    assert not down.update(3.0)
    assert not down.update(2.0) and down.improved
    assert down.update(2.5)


def test_early_stopping_disabled_and_validation() -> None:
    never = EarlyStopping(patience=0)
    assert not any(never.update(v) for v in [1.0, 0.5, 0.1, 0.0])
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(patience=1, mode="up")  # type: ignore[arg-type]


def test_overfit_tracker_flags_rising_validation_with_falling_training() -> None:
    tracker = OverfitTracker(window=2)
    assert not tracker.update(1.0, 1.0)
    assert not tracker.update(0.8, 0.9)  # both falling: fine
    assert not tracker.update(0.6, 1.0)  # val rose once, window not full of rises
    assert tracker.update(0.4, 1.1)  # val rose twice in a row while train fell
    assert tracker.flagged
    copy = OverfitTracker(window=2)
    copy.load_state_dict(tracker.state_dict())
    assert copy.flagged and copy.val == tracker.val
