r"""Row-wise (Riemannian) Adagrad: one accumulator per embedding row.

PyTorch-BigGraph trains its embedding tables with row-wise Adagrad (Lerer et al.,
SysML 2019); Bécigneul & Ganea (ICLR 2019) give the Riemannian form, where each row
of a Poincaré table is one component of a product of balls. For row :math:`i` with
(Euclidean) gradient :math:`g_i \in \mathbb{R}^d`:

.. math::

    s_i \leftarrow s_i + \tfrac{1}{d}\,\lVert \tilde g_i \rVert_{x_i}^2, \qquad
    x_i \leftarrow R_{x_i}\!\Big(-\eta\, \frac{\tilde g_i}{\sqrt{s_i} + \epsilon}\Big)

with :math:`\tilde g = g` and :math:`R_x(u) = x + u` for Euclidean parameters; on a
geoopt manifold, :math:`\tilde g` is the Riemannian gradient (``egrad2rgrad``), the
norm is the manifold's (``norm``) and :math:`R` its retraction (``retr``) — on the
Poincaré ball :math:`\lVert\tilde g\rVert_x^2 = \frac{(1 - c\lVert x\rVert^2)^2}{4}
\lVert g\rVert^2`.

Why rows and not elements: a row is one node. A hub (the root of a hierarchy, the
positive of a tenth of all relations) sums large gradients every step and gets a
small step; a leaf seen a few times an epoch keeps a large one. One float per row
instead of one per element is ``d`` times less state. A 1-d parameter's rows are its
elements (plain Adagrad). Sparse gradients (``nn.Embedding(sparse=True)``) update
only their rows. The sparse table step (:mod:`contrastkit.train.table_step`) applies
the same update to the touched rows, reading and writing this optimiser's ``sum``.

Example:
    >>> w = torch.nn.Parameter(torch.ones(3, 2))
    >>> opt = RowAdagrad([w], lr=0.5)
    >>> w.grad = torch.tensor([[2.0, 2.0], [0.0, 0.0], [1.0, -1.0]])
    >>> opt.step()
    >>> w.detach()
    tensor([[0.5000, 0.5000],
            [1.0000, 1.0000],
            [0.5000, 1.5000]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import check_non_negative, check_positive


def row_mean_square(g: Tensor) -> Tensor:
    """``[N]``: the mean of ``g ** 2`` over every dimension but the first."""
    return (g * g).reshape(g.shape[0], -1).mean(1) if g.ndim > 1 else g * g


class RowAdagrad(torch.optim.Optimizer):
    """Row-wise Adagrad; Riemannian on geoopt ``ManifoldParameter`` s.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\\eta` (a Riemannian step length per row on a
            manifold). Default 0.1.
        eps: :math:`\\epsilon` added to :math:`\\sqrt{s}`. Default 1e-10 (torch's Adagrad).
        initial_accumulator_value: :math:`s` before the first step. Default 0.
        weight_decay: :math:`\\lambda`: the (Euclidean) gradient is :math:`g + \\lambda x`
            before the step, as in torch's Adagrad and geoopt's optimisers (a group's
            ``weight_decay`` wins, as ``optim.weight_decay`` sets it). Default 0; sparse
            gradients refuse it, as torch's Adagrad does.

    State per parameter: ``sum`` ``[N]`` (float32), checkpointed with the optimiser.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.1,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        check_positive("lr", lr)
        check_positive("eps", eps)
        check_non_negative("initial_accumulator_value", initial_accumulator_value)
        check_non_negative("weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "eps": eps,
            "initial_accumulator_value": initial_accumulator_value,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                # eager, like torch's Adagrad: the sparse table step shares this tensor
                self.state[p]["sum"] = torch.full(
                    (p.shape[0] if p.ndim else 1,),
                    group["initial_accumulator_value"],
                    dtype=p.dtype,
                    device=p.device,
                )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            decay = float(group.get("weight_decay", 0.0))
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if decay:
                    if grad.is_sparse:
                        raise ValueError(
                            "weight_decay cannot be applied to sparse gradients, got "
                            f"weight_decay={decay}"
                        )
                    grad = grad.add(p, alpha=decay)  # torch's Adagrad: g + lambda x
                self._update(p, grad, self.state[p]["sum"], group["lr"], group["eps"])
        return loss

    @staticmethod
    def _update(p: Tensor, grad: Tensor, total: Tensor, lr: float, eps: float) -> None:
        manifold = getattr(p, "manifold", None)
        if grad.is_sparse:
            grad = grad.coalesce()
            rows, values = grad.indices()[0], grad.values()
            x = p.data.index_select(0, rows)
            total_rows = total.index_select(0, rows)
            step = _row_step(x, values, total_rows, lr, eps, manifold)
            total.index_copy_(0, rows, total_rows)
            p.data.index_copy_(0, rows, step)
            return
        p.data.copy_(_row_step(p.data, grad, total, lr, eps, manifold))


def _row_step(x: Tensor, g: Tensor, total: Tensor, lr: float, eps: float, manifold: Any) -> Tensor:
    """The rows ``x`` after one step with gradient ``g`` (same shape); ``total [M]`` is
    their accumulator, updated in place."""
    x2 = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    g2 = g.reshape(x2.shape)
    if manifold is None:
        total.add_(row_mean_square(g2))
        out = x2 - (lr / total.sqrt().add_(eps)).unsqueeze(1) * g2
        return out.reshape(x.shape)
    rgrad = manifold.egrad2rgrad(x2, g2)
    total.add_(manifold.norm(x2, rgrad).square().reshape(-1) / x2.shape[1])
    out = manifold.retr(x2, -(lr / total.sqrt().add_(eps)).unsqueeze(1) * rgrad)
    return out.reshape(x.shape)
