"""GradNorm: adapt loss weights so that every objective trains a shared layer at a similar rate.

With shared parameters :math:`W` (typically the last shared layer), weights
:math:`w_i` (start at 1), initial losses :math:`L_i(0)` and asymmetry :math:`\\alpha`:

.. math::

    G_i = \\lVert \\nabla_W\\, w_i L_i \\rVert_2, \\quad
    \\bar G = \\tfrac1K \\sum_i G_i, \\quad
    r_i = \\frac{L_i / L_i(0)}{\\tfrac1K \\sum_j L_j / L_j(0)}

.. math::

    L_\\text{grad} = \\sum_i \\big| G_i - \\operatorname{sg}[\\bar G\\, r_i^{\\alpha}] \\big|

Only :math:`w` descends :math:`L_\\text{grad}` (with this module's own optimiser),
after which the weights are renormalised to :math:`\\sum_i w_i = K`. The model is
trained on :math:`\\sum_i w_i L_i` with the weights of the current step held fixed.
Because :math:`G_i = w_i \\lVert \\nabla_W L_i \\rVert` exactly (:math:`w_i > 0`),
the gradient of :math:`L_\\text{grad}` with respect to :math:`w` is obtained from the
true per-objective gradient norms without a second-order graph through the
network (a test checks it against the ``create_graph`` formulation). Chen et al.,
"GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask
Networks", ICML 2018.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from contrastkit.losses.gradnorm import GradNormWeighting
    >>> shared = nn.Linear(4, 4)
    >>> gn = GradNormWeighting(["a", "b"], shared.parameters(), alpha=1.5)
    >>> h = shared(torch.randn(8, 4))
    >>> out = gn({"a": h.pow(2).mean(), "b": 10 * h.abs().mean()})
    >>> out.total.backward()
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_choice, check_non_negative, check_positive
from contrastkit.losses.weighting import LossWeighting


class GradNormWeighting(LossWeighting):
    """GradNorm loss weights on ``shared_parameters`` (updated in ``forward`` while training).

    Args:
        names: the objectives.
        shared_parameters: the layer whose gradient norms are balanced, e.g.
            ``model.encoder[-1].parameters()``; not registered in this module.
        alpha: restoring force :math:`\\alpha \\ge 0` (paper: 0.12–3; default 1.5).
        lr: learning rate of the weight optimiser (default 0.025).
        optimizer: ``"adam"`` (default) or ``"sgd"`` for the weights.
        min_weight: floor applied before renormalising (keeps weights positive).

    In ``eval()`` mode or under ``torch.no_grad()`` the weights are only applied.
    Keep :attr:`loss_weights` out of the model's optimiser: it has its own
    (:meth:`trainable_parameters` is empty).

    An objective whose weight the update pushed down to ``min_weight`` is reported by
    :meth:`at_floor`, and a ``UserWarning`` naming it and the floor is emitted when it
    reaches the floor (once, until it leaves it again): GradNorm then has effectively
    switched that objective off.
    """

    initial_losses: Tensor
    has_initial: Tensor

    def __init__(
        self,
        names: Sequence[str],
        shared_parameters: Iterable[Tensor],
        *,
        alpha: float = 1.5,
        lr: float = 0.025,
        optimizer: Literal["adam", "sgd"] = "adam",
        min_weight: float = 1e-3,
    ) -> None:
        super().__init__(names)
        if isinstance(shared_parameters, Tensor):
            shared_parameters = [shared_parameters]
        self._shared = [p for p in shared_parameters if p.requires_grad]
        if not self._shared:
            raise ValueError("shared_parameters must contain at least one tensor requiring grad")
        self.alpha = check_non_negative("alpha", alpha)
        self.min_weight = check_positive("min_weight", min_weight)
        check_positive("lr", lr)
        k = len(self.names)
        self.loss_weights = nn.Parameter(torch.ones(k))
        self.register_buffer("initial_losses", torch.zeros(k))
        self.register_buffer("has_initial", torch.zeros((), dtype=torch.bool))
        kind = check_choice("optimizer", optimizer, ("adam", "sgd"))
        cls = torch.optim.Adam if kind == "adam" else torch.optim.SGD
        self.optimizer = cls([self.loss_weights], lr=lr)
        self.last_grad_norms: Tensor | None = None
        # Which weights the floor held up at the last update (host-side: K is small).
        self._at_floor = [False] * k

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Empty: :attr:`loss_weights` are trained by this module's own optimiser."""
        return []

    def at_floor(self) -> list[str]:
        """The objectives whose weight sat at ``min_weight`` after the last update."""
        return [n for n, floored in zip(self.names, self._at_floor, strict=True) if floored]

    def grad_norms(self, losses: Tensor) -> Tensor:
        """``[K]`` norms :math:`\\lVert \\nabla_W L_i \\rVert_2` (graph of ``losses`` kept)."""
        norms = []
        for i in range(losses.numel()):  # one backward per objective: K is small
            grads = torch.autograd.grad(
                losses[i], self._shared, retain_graph=True, allow_unused=True
            )
            sq = [g.pow(2).sum() for g in grads if g is not None]
            norms.append(torch.stack(sq).sum().sqrt() if sq else losses.new_zeros(()))
        return torch.stack(norms).to(losses.dtype)

    def weights(self, losses: Tensor, priorities: Tensor) -> tuple[Tensor, Tensor]:
        current = self.loss_weights.detach().to(losses.dtype).clone() * priorities
        if self.training and torch.is_grad_enabled() and losses.requires_grad:
            self._update(losses, priorities)
        return current, losses.new_zeros(())

    def _update(self, losses: Tensor, priorities: Tensor) -> None:
        raw = losses.detach()
        if not bool(torch.isfinite(raw).all()):
            return  # a non-finite step would corrupt the weights and their optimiser state
        if not bool(self.has_initial):
            self.initial_losses.copy_(raw.to(self.initial_losses.dtype))
            self.has_initial.fill_(True)
        norms = self.grad_norms(losses * priorities).detach()
        self.last_grad_norms = norms
        w = self.loss_weights
        g = w * norms.to(w.dtype)
        # Safe ratio: an objective that started at 0 counts as trained at the mean rate.
        init = self.initial_losses.to(raw.dtype)
        ratio = torch.where(init > 0, raw / init.clamp_min(torch.finfo(raw.dtype).tiny), 1.0)
        mean_ratio = ratio.mean()
        rel = torch.where(mean_ratio > 0, ratio / mean_ratio, torch.ones_like(ratio))
        target = (g.mean() * rel.to(w.dtype).pow(self.alpha)).detach()
        grad_loss = (g - target).abs().sum()
        (grad_w,) = torch.autograd.grad(grad_loss, w)
        w.grad = grad_w
        self.optimizer.step()
        w.grad = None
        with torch.no_grad():
            floored = (w <= self.min_weight).tolist()
            w.clamp_(min=self.min_weight)
            w.mul_(len(self.names) / w.sum())
        self._report_floor(floored)

    def _report_floor(self, floored: list[bool]) -> None:
        for name, now, before in zip(self.names, floored, self._at_floor, strict=True):
            if now and not before:
                warnings.warn(
                    f"GradNorm weight of objective {name!r} fell to the floor "
                    f"min_weight={self.min_weight:g}: the objective is effectively "
                    "switched off (lower alpha or lr, or raise min_weight)",
                    UserWarning,
                    stacklevel=2,
                )
        self._at_floor = floored

    def get_extra_state(self) -> dict[str, Any]:
        state = super().get_extra_state()
        state["optimizer"] = self.optimizer.state_dict()
        state["at_floor"] = list(self._at_floor)
        return state

    def set_extra_state(self, state: Any) -> None:
        super().set_extra_state(state)
        if isinstance(state, Mapping) and "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if isinstance(state, Mapping) and "at_floor" in state:
            floored = [bool(f) for f in state["at_floor"]]
            if len(floored) != len(self.names):
                raise ValueError(
                    f"state_dict['at_floor'] has {len(floored)} entries, expected {len(self.names)}"
                )
            self._at_floor = floored
