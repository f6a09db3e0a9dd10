r"""Re-mining every N steps: negatives follow the embedding as it moves.

Offline hard negatives go stale as the encoder trains (ANCE, Xiong et al. 2021,
refreshes its index asynchronously for this reason). :class:`PeriodicRefresh`
caches one :class:`~contrastkit.mining.result.MiningResult` for a fixed set of
anchors and calls the user's mining function again when

.. math::
    t - t_{\text{last}} \ge N \quad\text{(or nothing is cached yet)},

where :math:`t` counts :meth:`PeriodicRefresh.step` calls. The mining function
closes over the current model, so it mines against the current embedding. The
step counters and the cached negatives are in :meth:`state_dict`, so a resumed
run neither re-mines early nor trains on negatives from before the restart.

Example:
    >>> calls = []
    >>> def mine_now():
    ...     calls.append(1)
    ...     idx = torch.zeros(2, 1, dtype=torch.long)
    ...     return MiningResult(idx, idx >= 0, torch.zeros(2, 1))
    >>> r = PeriodicRefresh(every=3, mine_fn=mine_now)
    >>> _ = [r.step() for _ in range(7)]
    >>> len(calls)  # steps 0, 3 and 6
    3
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.mining.result import MiningReport, MiningResult


class PeriodicRefresh:
    """Cache of mined negatives, refreshed every ``every`` steps.

    Args:
        every: refresh period ``N`` in steps (``> 0``).
        mine_fn: zero-argument callable returning a fresh :class:`MiningResult`
            for the whole anchor set (it embeds with the current model).
    """

    def __init__(self, every: int, mine_fn: Callable[[], MiningResult]) -> None:
        self.every = check_positive_int("every", every)
        self.mine_fn = mine_fn
        self.steps = 0
        self.last_refresh: int | None = None
        self.num_refreshes = 0
        self._result: MiningResult | None = None

    def due(self) -> bool:
        """True when the next :meth:`step` will re-mine."""
        return self.last_refresh is None or self.steps - self.last_refresh >= self.every

    def refresh(self) -> MiningResult:
        """Re-mine now (outside the schedule)."""
        with torch.no_grad():
            self._result = self.mine_fn()
        self.last_refresh = self.steps
        self.num_refreshes += 1
        return self._result

    def step(self) -> MiningResult:
        """Advance one training step; re-mine if due; return the current negatives."""
        result = self.refresh() if self.due() else self._result
        self.steps += 1
        if result is None:  # cannot happen: due() is True while nothing is cached
            raise RuntimeError("no mining result cached")
        return result

    @property
    def result(self) -> MiningResult | None:
        return self._result

    def lookup(self, rows: Tensor) -> MiningResult:
        """Cached negatives of some anchors (``rows`` into the anchor set)."""
        if self._result is None:
            raise ValueError("nothing mined yet: call step() or refresh() first")
        return self._result.select(rows)

    def state_dict(self) -> dict[str, Any]:
        r = self._result
        return {
            "every": self.every,
            "steps": self.steps,
            "last_refresh": self.last_refresh,
            "num_refreshes": self.num_refreshes,
            "indices": None if r is None else r.indices.clone(),
            "mask": None if r is None else r.mask.clone(),
            "scores": None if r is None else r.scores.clone(),
            "difficulty": None if r is None or r.difficulty is None else r.difficulty.clone(),
            "strategy": None if r is None else r.report.strategy,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.every = check_positive_int("every", int(state["every"]))
        self.steps = int(state["steps"])
        last = state["last_refresh"]
        self.last_refresh = None if last is None else int(last)
        self.num_refreshes = int(state["num_refreshes"])
        if state["indices"] is None:
            self._result = None
            return
        self._result = MiningResult(
            state["indices"],
            state["mask"],
            state["scores"],
            state["difficulty"],
            MiningReport(strategy=str(state["strategy"])),
        )
