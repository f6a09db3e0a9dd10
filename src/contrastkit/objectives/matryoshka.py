r"""Matryoshka representation learning: any objective at nested widths.

Kusupati et al. (2022), "Matryoshka Representation Learning"; sentence-transformers'
``MatryoshkaLoss``. For widths :math:`d_1 > \dots > d_m` and weights :math:`w_i`,

.. math::
    L_{MRL}(z) = \sum_{i=1}^{m} w_i\, L\big(z_{:, :d_i}\big),

the wrapped objective :math:`L` evaluated on the first :math:`d_i` coordinates of
every row of the batch's ``z [U, d]`` (cosine objectives renormalise what they
score, so each prefix is trained as an embedding of its own). Any objective composes:
MNR, InfoNCE, triplet, with in-batch and mined negatives, and gradient caching (the
wrapper is a function of ``z`` alone). A width ``>= d`` is the full embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from contrastkit.objectives.batch import Batch
from contrastkit.objectives.registry import Objective


class MatryoshkaObjective(Objective):
    """``sum_i weights[i] * inner(batch with z[:, :dims[i]])`` (see the module docstring)."""

    def __init__(self, inner: Objective, dims: Sequence[int], weights: Sequence[float]) -> None:
        super().__init__()
        if not dims:
            raise ValueError("dims must name at least one width, got []")
        if len(weights) != len(dims):
            raise ValueError(f"weights must have {len(dims)} entries, got {len(weights)}")
        if any(int(d) <= 0 for d in dims):
            raise ValueError(f"dims must be > 0, got {list(dims)}")
        self.inner = inner
        self.dims = [int(d) for d in dims]
        self.weights = [float(w) for w in weights]
        self.needs = inner.needs  # type: ignore[misc]
        self.owns_temperature = inner.owns_temperature

    @property
    def temperature(self) -> object:
        """The wrapped objective's own temperature (the step clamps a learnable one)."""
        return getattr(self.inner, "temperature", None)

    def forward(self, batch: Batch) -> Tensor:
        total: Tensor | None = None
        for d, w in zip(self.dims, self.weights, strict=True):
            if w == 0:
                continue
            part = self.inner(batch.with_z(batch.z[:, :d]))
            total = w * part if total is None else total + w * part
        if total is None:  # every weight 0: the config refuses it; keep the graph valid
            return batch.z.sum() * 0.0
        return total


def wrap_matryoshka(
    objectives: nn.ModuleDict, dims: Sequence[int], weights: Sequence[float]
) -> nn.ModuleDict:
    """Every objective of ``objectives`` wrapped in :class:`MatryoshkaObjective`,
    except those with ``per_width = False`` (penalties on the weights or on the full
    embedding: summing them once per width would only rescale them)."""
    return nn.ModuleDict(
        {
            name: MatryoshkaObjective(obj, dims, weights)  # type: ignore[arg-type]
            if getattr(obj, "per_width", True)
            else obj
            for name, obj in objectives.items()
        }
    )
