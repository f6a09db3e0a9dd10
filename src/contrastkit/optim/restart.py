"""Warm restarts of an optimiser's state (``optim.restart_epochs``).

Adagrad's step for a row is :math:`\\eta\\, g_t / \\sqrt{\\sum_{s \\le t} g_s^2}`: every
gradient the row has ever had shrinks every later step. Two uses of a reset:

* after a burn-in (Nickel & Kiela's 20 epochs at lr/100 with 5 negatives from the
  degree distribution), whose gradients would otherwise damp the main phase's steps
  as if those epochs had been taken at the full rate;
* a warm restart late in a run (Loshchilov & Hutter's SGDR, for Adagrad's implicit
  decay), when the accumulated steps have become too small to move the rows.

:func:`reset_optimizer_state` puts an optimiser's state back to a fresh one's, in
place: Adagrad-family accumulators (``sum``) to their initial value and their step
count to 0; every other optimiser's per-parameter state (Adam's moments, momentum
buffers) is dropped, which torch and geoopt optimisers re-create at their next step
exactly as on their first. Hyper-parameters (``param_groups``) are untouched.

Example:
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = torch.optim.Adagrad([w], lr=0.1)
    >>> w.grad = torch.ones(2); opt.step()
    >>> reset_optimizer_state(opt)
    >>> opt.state[w]["sum"]
    tensor([0., 0.])
"""

from __future__ import annotations

import torch

from contrastkit.optim.composite import CompositeOptimizer


def _optimizers(optimizer: torch.optim.Optimizer) -> list[torch.optim.Optimizer]:
    """The optimisers inside a :class:`CompositeOptimizer`, or ``[optimizer]``."""
    if isinstance(optimizer, CompositeOptimizer):
        return optimizer.optimizers
    return [optimizer]


@torch.no_grad()
def reset_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Reset ``optimizer``'s per-parameter state to a fresh optimiser's, in place."""
    for opt in _optimizers(optimizer):
        for group in opt.param_groups:
            initial = float(group.get("initial_accumulator_value", 0.0))
            for p in group["params"]:
                state = opt.state.get(p)
                if not state:
                    continue
                if "sum" in state:
                    # Adagrad family: state made at construction, read at every step;
                    # in place, so that holders of the tensor (the sparse table step) see it
                    state["sum"].fill_(initial)
                    step = state.get("step")
                    if isinstance(step, torch.Tensor):
                        step.zero_()
                    elif step is not None:
                        state["step"] = 0
                else:
                    # made lazily at the first step (Adam, momentum): drop it
                    opt.state[p] = {}
