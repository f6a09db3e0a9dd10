r"""Forgetting metrics from the accuracy matrix (Chaudhry et al. 2018; Lopez-Paz & Ranzato 2017).

:math:`R_{i,j}` is the metric on task :math:`j` after training task :math:`i`
(:math:`T` tasks, 0-based here), :math:`b_j` the metric of the initial, untrained
model on task :math:`j`:

.. math::
    \text{ACC} = \frac1T \sum_{j} R_{T-1,j}, \qquad
    \text{BWT} = \frac{1}{T-1} \sum_{j<T-1} (R_{T-1,j} - R_{j,j}), \qquad
    \text{FWT} = \frac{1}{T-1} \sum_{j \ge 1} (R_{j-1,j} - b_j),

and the forgetting of task :math:`j < T-1`,
:math:`f_j = \max_{l < T-1} R_{l,j} - R_{T-1,j}`, averaged over :math:`j` (Chaudhry et
al. 2018, "Riemannian walk for incremental learning", eq. 8 at :math:`k = T`).
BWT, FWT and forgetting need :math:`T \ge 2` (NaN otherwise).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["forgetting_metrics"]


def forgetting_metrics(r: Tensor, baseline: Tensor | None = None) -> dict[str, float]:
    """``{"acc", "bwt", "fwt", "forgetting"}`` of ``r [T, T]`` (and ``baseline [T]`` for FWT;
    NaN without it). Every entry of ``r`` is used, including those above the diagonal
    (a task measured before it was trained, for FWT and the forgetting maximum)."""
    if not isinstance(r, Tensor) or r.dim() != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(
            f"r must be a square [T, T] tensor with T >= 1, got {getattr(r, 'shape', r)}"
        )
    r = r.to(torch.float64)
    t = r.shape[0]
    out = {"acc": float(r[-1].mean())}
    if t < 2:
        return {**out, "bwt": math.nan, "fwt": math.nan, "forgetting": math.nan}
    diag = torch.diagonal(r)
    out["bwt"] = float((r[-1, :-1] - diag[:-1]).mean())
    if baseline is not None:
        if baseline.shape != (t,):
            raise ValueError(f"baseline must have shape [{t}], got {tuple(baseline.shape)}")
        upper = torch.diagonal(r, offset=1)  # R[j-1, j]
        out["fwt"] = float((upper - baseline.to(torch.float64)[1:]).mean())
    else:
        out["fwt"] = math.nan
    best = r[:-1, :-1].max(0).values  # max over l < T-1 of R[l, j], for j < T-1
    out["forgetting"] = float((best - r[-1, :-1]).mean())
    return out
