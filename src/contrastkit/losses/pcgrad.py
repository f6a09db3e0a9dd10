"""PCGrad: project away the conflicting components of per-objective gradients.

For each objective :math:`i` and, in a random order, every other objective
:math:`j`, if :math:`g_i^{PC} \\cdot g_j < 0`:

.. math::

    g_i^{PC} \\leftarrow g_i^{PC} - \\frac{g_i^{PC} \\cdot g_j}{\\lVert g_j \\rVert^2}\\, g_j

and the update is :math:`\\sum_i g_i^{PC}` (or the mean). All objectives are
projected at once: round :math:`r` projects every :math:`g_i^{PC}` onto the
:math:`r`-th partner of its own random permutation. Since each :math:`g_i^{PC} =
\\sum_k A_{ik} g_k`, the :math:`K - 1` rounds update the :math:`K \\times K` matrix
:math:`A` using the Gram matrix :math:`G G^\\top`, and the result is :math:`A G`: two
matmuls over the parameters in all. With two objectives the projected
gradients never conflict (:math:`g_1^{PC}\\cdot g_2^{PC} = -c(1-\\cos^2\\theta) \\ge
0` for :math:`c = g_1\\cdot g_2 < 0`); with more, each :math:`g_i^{PC}` is
non-conflicting with the last gradient it was projected on. Yu et al., "Gradient
Surgery for Multi-Task Learning", NeurIPS 2020.

Example:
    >>> import torch
    >>> from contrastkit.losses.pcgrad import pcgrad
    >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    >>> pcgrad(g, reduction="none", generator=torch.Generator().manual_seed(0))
    tensor([[0.5000, 0.5000],
            [0.0000, 1.0000]])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice, check_positive_int

PCGradReduction = Literal["sum", "mean", "none"]


def _as_matrix(grads: Tensor | Sequence[Tensor]) -> Tensor:
    if isinstance(grads, Tensor):
        if grads.dim() != 2:
            raise ValueError(
                f"grads must be [K, P] or a list of K tensors, got shape {tuple(grads.shape)}"
            )
        return grads
    if not isinstance(grads, Sequence) or len(grads) == 0:
        raise ValueError(
            f"grads must be a non-empty list of per-objective gradients, got {grads!r}"
        )
    flat = []
    for i, g in enumerate(grads):
        if not isinstance(g, Tensor) or not g.is_floating_point():
            raise TypeError(f"grads[{i}] must be a floating-point tensor, got {type(g).__name__}")
        flat.append(g.reshape(-1))
    if len({f.numel() for f in flat}) != 1:
        raise ValueError(
            f"grads must all have the same number of elements, got {[f.numel() for f in flat]}"
        )
    return torch.stack(flat)


def projection_order(num_objectives: int, *, generator: torch.Generator | None = None) -> Tensor:
    """``[K, K-1]`` LongTensor: row ``i`` lists the other objectives in projection order.

    A uniformly random permutation per row when ``generator`` is given, else index order.
    """
    k = check_positive_int("num_objectives", num_objectives)
    if generator is None:
        keys = torch.arange(k, dtype=torch.float64).expand(k, k).clone()
    else:
        keys = torch.rand((k, k), generator=generator, dtype=torch.float64, device=generator.device)
    keys.fill_diagonal_(float("inf"))  # each objective's own gradient sorts last and is dropped
    return keys.argsort(dim=1)[:, : k - 1]


def pcgrad(
    grads: Tensor | Sequence[Tensor],
    *,
    reduction: PCGradReduction = "sum",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Project conflicting per-objective gradients (Yu et al. 2020).

    Args:
        grads: ``[K, P]`` flattened gradients, or a list of ``K`` tensors with equal numel.
        reduction: ``"sum"`` (default, as in the paper) / ``"mean"`` of the projected
            gradients ``-> [P]``, or ``"none"`` ``-> [K, P]``.
        generator: order of the projections; ``None`` projects in index order
            (deterministic, no randomness consumed).

    Returns:
        ``[P]`` or ``[K, P]``, dtype of ``grads``. Zero gradients are never projected on.
    """
    check_choice("reduction", reduction, ("sum", "mean", "none"))
    g = _as_matrix(grads)
    k = g.shape[0]
    if not g.is_floating_point():
        raise TypeError(f"grads must be floating point, got dtype {g.dtype}")
    order = projection_order(k, generator=generator).to(g.device)
    # Every projected gradient stays a combination of the originals, g_i^PC = sum_k A_ik g_k,
    # so the whole procedure runs on the K x K Gram matrix; the [K, P] data is read by
    # exactly two matmuls (Gram and A @ G), whatever the number of rounds.
    gram = (g @ g.T).to(torch.float64)
    sq_norm = gram.diagonal()
    coeffs = torch.eye(k, dtype=torch.float64, device=g.device)
    rows = torch.arange(k, device=g.device)
    for r in range(k - 1):  # K - 1 rounds, vectorised over objectives
        partner = order[:, r]
        dot = (coeffs * gram[:, partner].T).sum(dim=1)  # g_i^PC . g_partner(i)
        nj = sq_norm[partner]
        coef = torch.where((dot < 0) & (nj > 0), dot / torch.where(nj > 0, nj, 1.0), 0.0)
        coeffs = coeffs.index_put((rows, partner), -coef, accumulate=True)
    if reduction == "none":
        return coeffs.to(g.dtype) @ g
    weights = coeffs.sum(dim=0) / (k if reduction == "mean" else 1)
    return weights.to(g.dtype) @ g


class PCGrad:
    """Optimiser wrapper: per-objective gradients, projection, ``.grad`` written, inner step.

    Args:
        optimizer: any ``torch.optim.Optimizer`` over the model parameters.
        reduction: ``"sum"`` (default) or ``"mean"`` of the projected gradients.
        generator: projection order (state saved in :meth:`state_dict`).
        reduce: called on the ``[K, P]`` per-objective gradients, in place, before the
            projection (data parallelism: their mean over ranks, so that every rank
            projects the gradients of the combined batch); ``None``: none.

    Usage::

        opt = PCGrad(torch.optim.Adam(model.parameters(), lr=1e-3), generator=g)
        opt.zero_grad()
        opt.pc_backward({"infonce": l1, "spectral": l2})
        opt.step()

    Gradients are handled as one flattened ``[K, P]`` matrix (sparse gradients are
    densified), so memory is ``K`` times the parameter count.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        reduction: Literal["sum", "mean"] = "sum",
        generator: torch.Generator | None = None,
        reduce: Callable[[Tensor], Any] | None = None,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.reduction: Literal["sum", "mean"] = check_choice(
            "reduction", reduction, ("sum", "mean")
        )
        self.generator = generator
        self.reduce = reduce

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def _params(self) -> list[Tensor]:
        return [
            p for group in self.optimizer.param_groups for p in group["params"] if p.requires_grad
        ]

    def pc_backward(self, losses: Mapping[str, Tensor] | Sequence[Tensor]) -> Tensor:
        """Write the projected, reduced gradient of ``losses`` into each ``param.grad``.

        Returns that gradient flattened, ``[P]`` (P = total parameter count).
        """
        values = list(losses.values()) if isinstance(losses, Mapping) else list(losses)
        if len(values) == 0:
            raise ValueError("losses must contain at least one scalar loss")
        params = self._params()
        sizes = [p.numel() for p in params]
        dtype = functools.reduce(torch.promote_types, [p.dtype for p in params])
        # One preallocated [K, P] matrix: no per-objective concatenation copies.
        flat = torch.zeros(len(values), sum(sizes), dtype=dtype, device=params[0].device)
        for i, loss in enumerate(values):
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise ValueError(f"losses[{i}] must be a scalar tensor, got {loss!r}")
            grads = torch.autograd.grad(
                loss.reshape(()), params, retain_graph=i < len(values) - 1, allow_unused=True
            )
            for gr, chunk in zip(grads, flat[i].split(sizes), strict=True):
                if gr is not None:
                    chunk.copy_(gr.to_dense().reshape(-1))
        if self.reduce is not None:
            self.reduce(flat)
        combined = pcgrad(flat, reduction=self.reduction, generator=self.generator)
        for p, chunk in zip(params, combined.split(sizes), strict=True):
            p.grad = chunk.view_as(p).to(p.dtype).clone()
        return combined

    def step(self) -> None:
        self.optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"optimizer": self.optimizer.state_dict()}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        if "optimizer" not in state_dict:
            raise ValueError("state_dict for PCGrad is missing key 'optimizer'")
        self.optimizer.load_state_dict(state_dict["optimizer"])
        if self.generator is not None and "generator" in state_dict:
            self.generator.set_state(state_dict["generator"])
