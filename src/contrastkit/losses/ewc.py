r"""Elastic weight consolidation (Kirkpatrick et al. 2017) with a Fisher estimated from data.

After a task, :meth:`EWC.consolidate` estimates the diagonal (empirical) Fisher
:math:`F` at the current parameters :math:`\theta^*` and stores both; later the
penalty

.. math::

    \Omega(\theta) = \sum_{l} \frac{\lambda_l}{2} \sum_{i \in l} F_i (\theta_i - \theta^*_i)^2

keeps parameters that mattered for earlier tasks near their old values. Layers
:math:`l` are modules: a parameter's layer is its name without the last
component (``"encoder.0.weight"`` belongs to ``"encoder.0"``). Per-layer base
strengths come from ``layer_lambdas`` (longest matching name prefix, matched on
whole components) or ``lambda_``; ``adaptive`` then rescales them by the layer's
mean Fisher :math:`\bar F_l`:

* ``"none"``: :math:`\lambda_l` = base;
* ``"fisher_mean"``: :math:`\lambda_l = \text{base} \cdot s \cdot \bar F_l` with
  :math:`s` = ``adaptive_scale`` = 1000 (the original design's rule: higher Fisher,
  higher :math:`\lambda`);
* ``"normalize"``: :math:`\lambda_l = \text{base} / \bar F_l` (each layer's Fisher
  rescaled to mean 1, so layers whose gradients are tiny are not ignored;
  :math:`\lambda_l = 0` when :math:`\bar F_l = 0`).

Several tasks: ``consolidation="online"`` (default) keeps one Fisher and one
anchor, :math:`F \leftarrow \gamma F + F_{new}`, :math:`\theta^* \leftarrow \theta_{new}`
(online EWC, Schwarz et al. 2018; :math:`\gamma = 1` is the running sum);
``"separate"`` keeps one penalty per task, exactly Kirkpatrick's sum (memory
grows with the number of tasks).

Embedding tables (Schwarz et al.'s online mode over a growing table): a parameter's
Fisher may be *row-level*, ``[rows]`` for a ``[rows, d]`` parameter (one importance
per row, :func:`~contrastkit.continual.row_fisher.row_fisher`), so that the Fisher of a
:math:`10^6 \times d` table costs :math:`10^6` numbers, not another table; its term is
:math:`\sum_r F_r \lVert \theta_r - \theta^*_r \rVert^2`. A parameter that has grown
rows since it was anchored (a :class:`~contrastkit.continual.growable.GrowableTable`)
is penalised on its first, anchored rows; online consolidation pads the old Fisher
with zeros for rows added since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_choice, check_non_negative, check_positive
from contrastkit.losses.fisher import LossFn, diagonal_fisher, trainable_parameters

AdaptiveRule = Literal["none", "fisher_mean", "normalize"]
Consolidation = Literal["online", "separate"]


def _pad_rows(old: Tensor, shape: torch.Size) -> Tensor:
    """``old`` zero-padded along rows to ``shape`` (a table grown since ``old`` was taken)."""
    if old.shape == shape:
        return old
    if old.dim() == 0 or old.shape[1:] != shape[1:] or old.shape[0] > shape[0]:
        raise ValueError(f"fisher shape {tuple(shape)} does not extend {tuple(old.shape)}")
    return torch.cat([old, old.new_zeros((shape[0] - old.shape[0], *old.shape[1:]))])


def _layer(name: str) -> str:
    return name.rpartition(".")[0]


class EWC:
    r"""Elastic weight consolidation penalty with per-layer and Fisher-adapted :math:`\lambda`.

    Args:
        lambda_: base strength for parameters no ``layer_lambdas`` prefix matches. Default 1.0.
        layer_lambdas: ``{name prefix: λ}``; ``"enc"`` matches ``"enc.weight"`` and
            ``"enc.0.bias"`` but not ``"encoder.weight"``; the longest match wins.
        adaptive: ``"none"`` (default), ``"fisher_mean"`` or ``"normalize"`` (module docstring).
        adaptive_scale: :math:`s` of ``"fisher_mean"``. Default 1000 (original design).
        consolidation: ``"online"`` (default) or ``"separate"``.
        gamma: decay :math:`\gamma \in [0, 1]` of the online Fisher. Default 1.0.

    Example:
        >>> model = nn.Linear(3, 1)
        >>> data = [(torch.randn(8, 3), torch.randn(8, 1))]
        >>> mse = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])
        >>> ewc = EWC(100.0)
        >>> _ = ewc.consolidate(model, data, mse)
        >>> ewc.penalty(model).item()
        0.0
    """

    def __init__(
        self,
        lambda_: float = 1.0,
        *,
        layer_lambdas: Mapping[str, float] | None = None,
        adaptive: AdaptiveRule = "none",
        adaptive_scale: float = 1000.0,
        consolidation: Consolidation = "online",
        gamma: float = 1.0,
    ) -> None:
        self._configure(lambda_, layer_lambdas, adaptive, adaptive_scale, consolidation, gamma)
        self.num_consolidated = 0
        self._fishers: list[dict[str, Tensor]] = []
        self._anchors: list[dict[str, Tensor]] = []
        self._lambdas: list[dict[str, float]] = []

    def _configure(
        self,
        lambda_: float,
        layer_lambdas: Mapping[str, float] | None,
        adaptive: str,
        adaptive_scale: float,
        consolidation: str,
        gamma: float,
    ) -> None:
        self.lambda_ = check_non_negative("lambda_", lambda_)
        self.layer_lambdas = {
            str(k): check_non_negative(f"layer_lambdas[{k!r}]", v)
            for k, v in (layer_lambdas or {}).items()
        }
        self.adaptive: AdaptiveRule = check_choice(
            "adaptive", adaptive, ("none", "fisher_mean", "normalize")
        )
        self.adaptive_scale = check_positive("adaptive_scale", adaptive_scale)
        self.consolidation: Consolidation = check_choice(
            "consolidation", consolidation, ("online", "separate")
        )
        self.gamma = check_non_negative("gamma", gamma)
        if self.gamma > 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")

    def base_lambda(self, name: str) -> float:
        """The base λ of parameter ``name`` (longest matching ``layer_lambdas`` prefix)."""
        best, best_len = self.lambda_, -1
        for prefix, lam in self.layer_lambdas.items():
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = lam, len(prefix)
        return best

    def _effective(self, fisher: Mapping[str, Tensor]) -> dict[str, float]:
        if self.adaptive == "none":
            return {n: self.base_lambda(n) for n in fisher}
        sums: dict[str, float] = {}
        sizes: dict[str, int] = {}
        for n, f in fisher.items():
            sums[_layer(n)] = sums.get(_layer(n), 0.0) + float(f.sum())
            sizes[_layer(n)] = sizes.get(_layer(n), 0) + f.numel()
        out = {}
        for n in fisher:
            mean = sums[_layer(n)] / max(sizes[_layer(n)], 1)
            if self.adaptive == "fisher_mean":
                out[n] = self.base_lambda(n) * self.adaptive_scale * mean
            else:
                out[n] = self.base_lambda(n) / mean if mean > 0 else 0.0
        return out

    def lambdas(self) -> list[dict[str, float]]:
        """The effective λ of every parameter, one dict per stored penalty."""
        return [dict(lam) for lam in self._lambdas]

    def consolidate(
        self,
        model: nn.Module,
        batches: Iterable[Any],
        loss_fn: LossFn,
        *,
        per_sample: bool = False,
        max_batches: int | None = None,
    ) -> dict[str, Tensor]:
        """Estimate the Fisher at the current parameters (:func:`diagonal_fisher`) and anchor them.

        Returns the new task's Fisher ``{name: F}``.
        """
        fisher = diagonal_fisher(
            model, batches, loss_fn, per_sample=per_sample, max_batches=max_batches
        )
        self.add_task(fisher, {n: p.detach() for n, p in trainable_parameters(model).items()})
        return fisher

    def add_task(self, fisher: Mapping[str, Tensor], anchor: Mapping[str, Tensor]) -> None:
        """Consolidate a task from a given Fisher and anchor (same names and shapes)."""
        self._check_pair(fisher, anchor)
        new_f = {n: f.detach().clone() for n, f in fisher.items()}
        new_a = {n: a.detach().clone() for n, a in anchor.items()}
        if self.consolidation == "online" and self._fishers:
            old = self._fishers[0]
            if set(old) != set(new_f):
                raise ValueError("fisher must name the same parameters as the earlier tasks")
            new_f = {n: self.gamma * _pad_rows(old[n], f.shape) + f for n, f in new_f.items()}
            self._fishers, self._anchors = [], []
        self._fishers.append(new_f)
        self._anchors.append(new_a)
        self.num_consolidated += 1
        self._lambdas = [self._effective(f) for f in self._fishers]

    def _check_pair(self, fisher: Mapping[str, Tensor], anchor: Mapping[str, Tensor]) -> None:
        if set(fisher) != set(anchor):
            only = sorted(set(fisher) ^ set(anchor))
            raise ValueError(f"fisher and anchor must name the same parameters, got {only}")
        for n, f in fisher.items():
            row_level = anchor[n].dim() >= 2 and tuple(f.shape) == tuple(anchor[n].shape[:1])
            if f.shape != anchor[n].shape and not row_level:
                raise ValueError(
                    f"fisher[{n!r}] has shape {tuple(f.shape)}, anchor {tuple(anchor[n].shape)}"
                )
            if f.numel() and bool((f < 0).any()):
                raise ValueError(f"fisher[{n!r}] must be non-negative, got min {float(f.min())}")

    def penalty(self, model: nn.Module) -> Tensor:
        """:math:`\\Omega(\\theta)` at the model's parameters; an attached 0 before any task."""
        params = dict(model.named_parameters())
        total: Tensor | None = None
        for fisher, anchor, lams in zip(self._fishers, self._anchors, self._lambdas, strict=True):
            for n, f in fisher.items():
                if n not in params:
                    raise ValueError(f"model has no parameter {n!r} recorded by EWC")
                p: Tensor = params[n]
                a = anchor[n]
                grown = p.shape == a.shape or (
                    p.dim() >= 1 and p.shape[1:] == a.shape[1:] and p.shape[0] >= a.shape[0]
                )
                if not grown:
                    shapes = f"{tuple(p.shape)}, EWC recorded {tuple(a.shape)}"
                    raise ValueError(f"parameter {n!r} has shape {shapes}")
                if lams[n] == 0.0:
                    continue
                p = p[: a.shape[0]]  # rows added since the anchor are free
                sq = (p - a).square()
                if f.shape != a.shape:  # row-level: one importance per row
                    sq = sq.flatten(1).sum(1)
                term = (f * sq).sum() * (0.5 * lams[n])
                total = term if total is None else total + term
        if total is None:
            zeros = [p.sum() * 0.0 for p in params.values() if p.requires_grad]
            return torch.stack(zeros).sum() if zeros else torch.zeros(())
        return total

    __call__ = penalty

    def state_dict(self) -> dict[str, Any]:
        """Configuration, Fisher(s) and anchor(s); safe for ``torch.load(weights_only=True)``."""
        return {
            "lambda_": self.lambda_,
            "layer_lambdas": dict(self.layer_lambdas),
            "adaptive": self.adaptive,
            "adaptive_scale": self.adaptive_scale,
            "consolidation": self.consolidation,
            "gamma": self.gamma,
            "num_consolidated": self.num_consolidated,
            "fishers": [dict(f) for f in self._fishers],
            "anchors": [dict(a) for a in self._anchors],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (the saved configuration replaces the current one)."""
        missing = {"lambda_", "fishers", "anchors", "consolidation"} - set(state)
        if missing:
            raise ValueError(f"state is missing keys {sorted(missing)}")
        fishers, anchors = list(state["fishers"]), list(state["anchors"])
        if len(fishers) != len(anchors):
            raise ValueError(f"state has {len(fishers)} fishers but {len(anchors)} anchors")
        for fisher, anchor in zip(fishers, anchors, strict=True):
            self._check_pair(fisher, anchor)
        self._configure(
            state["lambda_"],
            state.get("layer_lambdas"),
            state.get("adaptive", "none"),
            state.get("adaptive_scale", 1000.0),
            state["consolidation"],
            state.get("gamma", 1.0),
        )
        self._fishers = [{n: f.detach().clone() for n, f in fi.items()} for fi in fishers]
        self._anchors = [{n: a.detach().clone() for n, a in an.items()} for an in anchors]
        self._lambdas = [self._effective(f) for f in self._fishers]
        self.num_consolidated = int(state.get("num_consolidated", len(fishers)))
