"""Several ``torch.optim`` optimisers stepped, scheduled and checkpointed as one.

:func:`contrastkit.optim.factory.build_optimizer` returns one when a model mixes
sparse-gradient embeddings (SparseAdam, sparse Riemannian optimisers) with dense
parameters, which no single torch optimiser accepts together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch


class CompositeOptimizer(torch.optim.Optimizer):
    """Several optimisers stepped as one; ``param_groups`` are theirs (shared dicts).

    Because the groups are the inner optimisers' own dictionaries, LR schedulers and
    code that edits ``group["lr"]`` act on every inner optimiser.
    """

    def __init__(self, optimizers: Iterable[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)
        super().__init__([g for o in self.optimizers for g in o.param_groups], {})

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.optimizers:
            opt.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        saved = state_dict.get("optimizers") if isinstance(state_dict, Mapping) else None
        if not isinstance(saved, list) or len(saved) != len(self.optimizers):
            raise ValueError(f"state_dict must hold {len(self.optimizers)} optimizer states")
        for opt, state in zip(self.optimizers, saved, strict=True):
            opt.load_state_dict(state)
