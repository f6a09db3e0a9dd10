r"""``nn.Module`` wrappers for link prediction and adjacency reconstruction.

Logits are :math:`x_{ij} = s(z_i, z_j)/\tau + b` (see :mod:`contrastkit.functional.link`).
The temperature is a float or a learnable, log-parameterised
:class:`~contrastkit.losses.temperature.Temperature`; the bias may be learnable too (with
a distance it is the radius of the Fermi-Dirac decoder). The sparse reconstruction loss
can own a seeded ``torch.Generator`` for its negative sampling, whose state travels in
``state_dict()`` so that a resumed run draws the same negatives.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_positive, check_positive_int
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.info_nce import check_temperature
from contrastkit.functional.link import (
    dense_adjacency_reconstruction_loss,
    link_prediction_loss,
    sparse_adjacency_reconstruction_loss,
)
from contrastkit.functional.reduction import check_reduction
from contrastkit.losses.temperature import Temperature


class _LogitHead(nn.Module):
    """Distance, temperature (fixed or learnable) and bias (fixed or learnable)."""

    def __init__(
        self,
        distance: str | Distance,
        temperature: float | Temperature,
        learnable_temperature: bool,
        bias: float,
        learnable_bias: bool,
        reduction: str,
    ) -> None:
        super().__init__()
        self.distance = get_distance(distance)
        self.reduction = check_reduction(reduction)
        self.temperature: float | Temperature
        if isinstance(temperature, Temperature):
            self.temperature = temperature
        else:
            value = float(check_temperature(temperature))
            self.temperature = (
                Temperature(value, min_value=min(value, 0.01), max_value=max(value, 100.0))
                if learnable_temperature
                else value
            )
        if isinstance(bias, bool) or not isinstance(bias, (int, float)):
            raise TypeError(f"bias must be a number, got {type(bias).__name__}")
        if learnable_bias:
            self.bias: float | nn.Parameter = nn.Parameter(torch.tensor(float(bias)))
        else:
            self.bias = float(bias)

    def _logit_options(self) -> dict[str, Any]:
        t = self.temperature() if isinstance(self.temperature, Temperature) else self.temperature
        return {"distance": self.distance, "temperature": t, "bias": self.bias}

    def extra_repr(self) -> str:
        t = self.temperature if isinstance(self.temperature, float) else "learnable"
        b = self.bias if isinstance(self.bias, float) else "learnable"
        return f"distance={self.distance!r}, temperature={t}, bias={b}"


class LinkPredictionLoss(_LogitHead):
    r"""Pooled binary cross-entropy of edges against non-edges.

    Args:
        distance: name or :class:`Distance`. Default ``"dot"``.
        temperature: float > 0 or a :class:`Temperature`. Default 1.0 (use ~0.1 for cosine).
        learnable_temperature: wrap a float temperature in a learnable :class:`Temperature`
            (bounds ``[min(τ, 0.01), max(τ, 100)]``). Default False.
        bias: :math:`b`. Default 0.0.
        learnable_bias: make :math:`b` an ``nn.Parameter``. Default False.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.

    Shapes (forward): ``z [N, d]``, ``pos_edge_index [2, E_+]``, ``neg_edge_index
    [2, E_-]``, ``pos_edge_weight [E_+]``, ``neg_edge_weight [E_-]``. Returns a scalar or
    ``[E_+ + E_-]``.

    Example:
        >>> import torch
        >>> loss = LinkPredictionLoss("cosine", temperature=0.1, learnable_temperature=True)
        >>> pos, neg = torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0], [3]])
        >>> loss(torch.randn(4, 8), pos, neg).shape
        torch.Size([])
    """

    def __init__(
        self,
        distance: str | Distance = "dot",
        *,
        temperature: float | Temperature = 1.0,
        learnable_temperature: bool = False,
        bias: float = 0.0,
        learnable_bias: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            distance, temperature, learnable_temperature, bias, learnable_bias, reduction
        )

    def forward(
        self,
        z: Tensor,
        pos_edge_index: Tensor,
        neg_edge_index: Tensor,
        *,
        pos_edge_weight: Tensor | None = None,
        neg_edge_weight: Tensor | None = None,
    ) -> Tensor:
        return link_prediction_loss(
            z,
            pos_edge_index,
            neg_edge_index,
            reduction=self.reduction,
            pos_edge_weight=pos_edge_weight,
            neg_edge_weight=neg_edge_weight,
            **self._logit_options(),
        )


class DenseAdjacencyReconstructionLoss(_LogitHead):
    r"""BCE between :math:`\sigma(S(Z, Z)/\tau + b)` and the full adjacency (GAE, Kipf &
    Welling 2016); :math:`O(N^2)` memory.

    Args:
        pos_weight: float > 0, ``"auto"`` (#zeros / #ones) or None. Default None.
        include_diagonal: count :math:`A_{ii}`. Default True.
        distance, temperature, learnable_temperature, bias, learnable_bias, reduction: as
            in :class:`LinkPredictionLoss`.

    Shapes (forward): ``z [N, d]``; ``adjacency [N, N]`` or ``edge_index [2, E]``;
    ``weight [N, N]``. Returns a scalar or ``[N, N]``.

    Example:
        >>> import torch
        >>> loss = DenseAdjacencyReconstructionLoss(pos_weight="auto")
        >>> loss(torch.randn(4, 2), edge_index=torch.tensor([[0, 1], [1, 0]])).shape
        torch.Size([])
    """

    def __init__(
        self,
        pos_weight: float | Literal["auto"] | None = None,
        *,
        include_diagonal: bool = True,
        distance: str | Distance = "dot",
        temperature: float | Temperature = 1.0,
        learnable_temperature: bool = False,
        bias: float = 0.0,
        learnable_bias: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            distance, temperature, learnable_temperature, bias, learnable_bias, reduction
        )
        if pos_weight is not None and pos_weight != "auto":
            pos_weight = check_positive("pos_weight", pos_weight)
        self.pos_weight = pos_weight
        self.include_diagonal = bool(include_diagonal)

    def forward(
        self,
        z: Tensor,
        adjacency: Tensor | None = None,
        *,
        edge_index: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        return dense_adjacency_reconstruction_loss(
            z,
            adjacency,
            edge_index=edge_index,
            pos_weight=self.pos_weight,
            include_diagonal=self.include_diagonal,
            reduction=self.reduction,
            weight=weight,
            **self._logit_options(),
        )


class SparseAdjacencyReconstructionLoss(_LogitHead):
    r"""Graph auto-encoder loss on the edges plus non-edges, PyG ``GAE.recon_loss`` style:
    mean BCE over the edges plus mean BCE over the non-edges.

    Args:
        num_neg_samples: non-edges drawn per call when none are given; default None (one
            per edge).
        seed: seed of the module's own ``torch.Generator`` (its state is part of
            ``state_dict()``); default None (then pass ``generator`` or ``neg_edge_index``).
        undirected: reject both directions of every edge when sampling. Default False.
        distance, temperature, learnable_temperature, bias, learnable_bias, reduction: as
            in :class:`LinkPredictionLoss`.

    Shapes (forward): ``z [N, d]``, ``edge_index [2, E_+]``, ``neg_edge_index [2, E_-]`` or
    None. Returns a scalar or ``[E_+ + E_-]``.

    Example:
        >>> import torch
        >>> loss = SparseAdjacencyReconstructionLoss(seed=0)
        >>> loss(torch.randn(5, 3), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([])
    """

    def __init__(
        self,
        num_neg_samples: int | None = None,
        *,
        seed: int | None = None,
        undirected: bool = False,
        distance: str | Distance = "dot",
        temperature: float | Temperature = 1.0,
        learnable_temperature: bool = False,
        bias: float = 0.0,
        learnable_bias: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            distance, temperature, learnable_temperature, bias, learnable_bias, reduction
        )
        if num_neg_samples is not None:
            check_positive_int("num_neg_samples", num_neg_samples, allow_zero=True)
        self.num_neg_samples = num_neg_samples
        self.undirected = bool(undirected)
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(
                check_positive_int("seed", seed, allow_zero=True)
            )

    def forward(
        self,
        z: Tensor,
        edge_index: Tensor,
        neg_edge_index: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        sampling = neg_edge_index is None
        return sparse_adjacency_reconstruction_loss(
            z,
            edge_index,
            neg_edge_index,
            num_neg_samples=self.num_neg_samples if sampling else None,
            generator=generator if generator is not None else self.generator,
            undirected=self.undirected,
            reduction=self.reduction,
            **self._logit_options(),
        )

    def get_extra_state(self) -> dict[str, Any]:
        return {} if self.generator is None else {"generator_state": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if "generator_state" in state:
            if self.generator is None:
                self.generator = torch.Generator()
            self.generator.set_state(state["generator_state"])
