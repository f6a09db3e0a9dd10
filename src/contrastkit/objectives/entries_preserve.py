r"""Objectives that keep a fine-tuned encoder near the model it started from.

Fine-tuning a pretrained sentence encoder on a narrow task can erode what it knew
(general similarity: SimLex-999, Lee-50). Two standard remedies, as config-nameable
objectives (the entry's weight is the strength :math:`\lambda`):

* ``l2sp`` — L2-SP (Li, Grandvalet & Davoine 2018, "Explicit inductive bias for
  transfer learning with convolutional networks"): the squared distance of the
  trainable encoder parameters :math:`w` to the starting point :math:`w^0`,

  .. math::
      \Omega(w) = \sum_j (w_j - w^0_j)^2,\qquad
      \nabla_w\, \lambda\Omega = 2\lambda\,(w - w^0)

  (decay toward the pretrained weights instead of toward 0);
* ``distill`` — embedding self-distillation against the frozen starting model on the
  batch's own texts: with :math:`z_i` the current and :math:`z^0_i` the starting
  model's embedding of row :math:`i` of the batch,

  .. math::
      \mathrm{mse}:\ \frac{1}{U}\sum_i \lVert z_i - z^0_i \rVert^2,\qquad
      \mathrm{cosine}:\ \frac{1}{U}\sum_i \big(1 - \cos(z_i, z^0_i)\big)

  (sentence-transformers' ``MSELoss`` for model distillation, the teacher being the
  model before fine-tuning).

The starting point is taken at the objective's first call — before the first
optimiser step, so after ``loop.init_from`` has loaded its weights — and saved with
the objective's state, so a resumed run keeps the original anchor. ``distill``'s
targets are the encoder's ``embed_all()`` then — a text encoder's
``embed_every_item()``, which covers its training-only texts too — (eval mode, no
gradient; the text encoder's step-0 encoding serves it, its ``start_items()`` saying
that every item is read). Both act on the full
embedding only: Matryoshka training does not repeat them per width (``per_width``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastkit.objectives.batch import Batch
from contrastkit.objectives.registry import Objective, ObjectiveContext, register


def _trainable(encoder: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in encoder.named_parameters() if p.requires_grad]


@dataclass
class L2SPParams:
    pass


class L2SPObjective(Objective):
    """:math:`\\sum_j (w_j - w^0_j)^2` over the encoder's trainable parameters."""

    per_width = False  # a function of the weights, not of the batch's width

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__()
        if ctx.encoder is None:
            raise ValueError("objectives.l2sp needs the run's encoder in its context")
        self._encoder = [ctx.encoder]  # read, never called; not a submodule
        self._start: dict[str, Tensor] = {}

    @property
    def anchored(self) -> bool:
        return bool(self._start)

    def anchor(self) -> None:
        """Take the encoder's current trainable parameters as :math:`w^0`."""
        self._start = {n: p.detach().clone() for n, p in _trainable(self._encoder[0])}

    def forward(self, batch: Batch) -> Tensor:
        if not self._start:
            self.anchor()
        total: Tensor | None = None
        for name, p in _trainable(self._encoder[0]):
            w0 = self._start.get(name)
            if w0 is None:
                raise ValueError(f"objectives.l2sp: parameter {name!r} has no starting value")
            part = (p - w0.to(p.device, p.dtype)).pow(2).sum()
            total = part if total is None else total + part
        if total is None:
            return batch.z.sum() * 0.0
        return total

    def get_extra_state(self) -> dict[str, Any]:
        return {"start": self._start}

    def set_extra_state(self, state: Any) -> None:
        self._start = dict(state.get("start", {})) if isinstance(state, dict) else {}


@register("l2sp", L2SPParams, "L2-SP: squared distance of the weights to the starting ones")
def _l2sp(params: L2SPParams, ctx: ObjectiveContext) -> Objective:
    return L2SPObjective(ctx)


@dataclass
class DistillParams:
    metric: Literal["mse", "cosine"] = "mse"


class DistillObjective(Objective):
    """Distance of the batch rows ``z [U, d]`` to the starting model's embeddings of
    the same items (see the module docstring)."""

    per_width = False  # the full embedding against the full starting embedding

    def __init__(self, params: DistillParams, ctx: ObjectiveContext) -> None:
        super().__init__()
        if ctx.encoder is None or not hasattr(ctx.encoder, "embed_all"):
            raise ValueError("objectives.distill needs an encoder with embed_all()")
        self.metric = params.metric
        self._encoder = [ctx.encoder]
        self._targets: Tensor | None = None  # [N, d] starting embeddings of every item
        self._num_items = ctx.num_items

    @property
    def anchored(self) -> bool:
        return self._targets is not None

    def start_items(self) -> Tensor:
        """The items :meth:`anchor` will embed (every one; none once anchored), so that
        an encoder's step-0 encoding (``prepare_training``) covers them."""
        return torch.arange(0 if self.anchored else self._num_items)

    @torch.no_grad()
    def anchor(self) -> None:
        """Embed every item with the encoder as it is now (the teacher)."""
        encoder = self._encoder[0]
        was_training = encoder.training
        encoder.eval()
        try:
            # a text encoder's embed_all stops at the evaluation's texts; training-only
            # texts (pairs.train_synsets) need targets too
            embed = getattr(encoder, "embed_every_item", None) or encoder.embed_all
            self._targets = embed().detach().clone()  # type: ignore[operator]
        finally:
            encoder.train(was_training)

    def forward(self, batch: Batch) -> Tensor:
        if self._targets is None:
            self.anchor()
        targets = self._targets
        if targets is None:  # pragma: no cover - anchor() always sets it
            raise RuntimeError("objectives.distill: the starting embeddings are missing")
        z = batch.z
        t = targets[batch.items.to(targets.device)].to(z.device, z.dtype)
        if t.shape != z.shape:
            raise ValueError(
                f"objectives.distill: batch rows are {tuple(z.shape)}, the starting "
                f"embeddings {tuple(t.shape)}"
            )
        if self.metric == "mse":
            return (z - t).pow(2).sum(dim=1).mean()
        return (1.0 - F.cosine_similarity(z, t, dim=1)).mean()

    def get_extra_state(self) -> dict[str, Any]:
        return {"targets": self._targets}

    def set_extra_state(self, state: Any) -> None:
        self._targets = state.get("targets") if isinstance(state, dict) else None


@register("distill", DistillParams, "distillation toward the starting model's embeddings")
def _distill(params: DistillParams, ctx: ObjectiveContext) -> Objective:
    return DistillObjective(params, ctx)
