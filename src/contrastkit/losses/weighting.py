"""Base of the multi-objective loss weightings: a dict of scalar losses in, total and report out.

Every weighting computes

.. math::

    L = \\sum_i w_i\\, L_i + R(\\theta)

where :math:`w_i` combines a user *priority* :math:`p_i` (from
:meth:`LossWeighting.set_priorities`, e.g. a loss-weight schedule or a curriculum
stage; default 1) with the method's own factor, and :math:`R` is an optional
regulariser (the :math:`\\log\\sigma` terms of uncertainty weighting). The
per-component report is computed with a single device-to-host copy.

Example:
    >>> import torch
    >>> from contrastkit.losses.combine import FixedWeighting
    >>> out = FixedWeighting({"infonce": 1.0, "local": 0.1})(
    ...     {"infonce": torch.tensor(2.0), "local": torch.tensor(3.0)})
    >>> round(float(out.total), 4), round(out.components["local"].weighted, 4)
    (2.3, 0.3)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from contrastkit._validation import check_non_negative


class LossComponent(NamedTuple):
    """One objective in the report: raw loss, effective weight, weighted contribution."""

    loss: float
    weight: float
    weighted: float


class CombinedLoss(NamedTuple):
    """``total``: scalar tensor to back-propagate; ``components``: ``{name: LossComponent}``."""

    total: Tensor
    components: dict[str, LossComponent]


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """A non-empty sequence of distinct objective names."""
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(f"names must be a non-empty sequence of objective names, got {names!r}")
    out = tuple(names)
    for n in out:
        if not isinstance(n, str):
            raise TypeError(f"names must contain str, got {n!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"names must be distinct, got {list(out)}")
    return out


def stack_losses(losses: Mapping[str, Tensor], names: Sequence[str]) -> Tensor:
    """Stack ``losses`` in the order of ``names`` into a ``[K]`` tensor (keeps the graph).

    Raises ``ValueError`` naming ``losses`` when the keys differ from ``names`` or a
    value is not a scalar floating-point tensor.
    """
    if not isinstance(losses, Mapping) or len(losses) == 0:
        raise ValueError(
            f"losses must be a non-empty mapping of name to scalar loss, got {losses!r}"
        )
    if set(losses) != set(names):
        raise ValueError(
            f"losses must have exactly the objectives {sorted(names)}, got {sorted(losses)}"
        )
    values = []
    for n in names:
        v = losses[n]
        if not isinstance(v, Tensor) or not v.is_floating_point() or v.numel() != 1:
            raise ValueError(f"losses[{n!r}] must be a scalar floating-point tensor, got {v!r}")
        values.append(v.reshape(()))
    dtype = values[0].dtype
    for v in values[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    return torch.stack([v.to(dtype) for v in values])


class LossWeighting(nn.Module, ABC):
    """Abstract weighting of named scalar losses; subclasses implement :meth:`weights`.

    Args:
        names: the objectives, in a fixed order (every call must pass exactly these).
    """

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = check_names(names)
        self._priorities = dict.fromkeys(self.names, 1.0)

    @property
    def priorities(self) -> dict[str, float]:
        return dict(self._priorities)

    def set_priorities(self, priorities: Mapping[str, float]) -> None:
        """Set user weights :math:`p_i` (any subset of :attr:`names`, each >= 0)."""
        if not isinstance(priorities, Mapping):
            raise TypeError(f"priorities must be a mapping, got {type(priorities).__name__}")
        new = dict(self._priorities)  # validate everything before changing anything
        for name, p in priorities.items():
            if name not in new:
                raise ValueError(f"priorities has unknown objective {name!r}; known: {self.names}")
            new[name] = check_non_negative(f"priorities[{name!r}]", p)
        self._priorities = new

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters of this weighting that the *model's* optimiser must train.

        Empty by default (fixed and magnitude weights have none; GradNorm trains its
        weights with its own optimiser); uncertainty weighting returns its
        log-variances. Add them to the model's optimiser, without weight decay.
        """
        return []

    @abstractmethod
    def weights(self, losses: Tensor, priorities: Tensor) -> tuple[Tensor, Tensor]:
        """Effective weights ``[K]`` and a scalar regulariser for stacked ``losses`` ``[K]``."""

    def forward(self, losses: Mapping[str, Tensor]) -> CombinedLoss:
        """Combine ``{name: scalar loss}`` into the total and a per-component report."""
        stacked = stack_losses(losses, self.names)
        prio = torch.tensor(
            [self._priorities[n] for n in self.names], dtype=stacked.dtype, device=stacked.device
        )
        w, extra = self.weights(stacked, prio)
        contributions = w * stacked
        total = contributions.sum() + extra
        report = torch.stack([t.detach().to(stacked.dtype) for t in (stacked, w, contributions)])
        rows = report.tolist()
        components = {
            n: LossComponent(rows[0][i], rows[1][i], rows[2][i]) for i, n in enumerate(self.names)
        }
        return CombinedLoss(total, components)

    def get_extra_state(self) -> dict[str, Any]:
        return {"names": list(self.names), "priorities": dict(self._priorities)}

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, Mapping) or list(state.get("names", [])) != list(self.names):
            raise ValueError(f"state_dict was saved for other objectives than {list(self.names)}")
        self.set_priorities(state.get("priorities", {}))
