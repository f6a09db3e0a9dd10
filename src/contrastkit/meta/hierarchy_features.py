r"""Few-shot node features from a trained hierarchy embedding: the rows of a
``contrastkit train`` run, looked up by synset name.

A relation run over WordNet (e.g. ``configs/nouns_poincare_d10.yaml``, or any run whose
task names its items — ``contrastkit export`` writes the same rows and ids) embeds
every synset it trained on; :func:`run_embedding_features` restores that run's
encoder from its last checkpoint (:meth:`~contrastkit.train.trainer.Trainer.restore`),
takes its embeddings of every item and picks, for each requested name (``dog.n.01``),
the row of the item of that name.

A Poincaré-ball run (``encoder.manifold: poincare``) is mapped to the tangent space at
the origin by the logarithmic map (curvature :math:`-1`)

.. math::
    \log_0(x) = \operatorname{artanh}(\lVert x \rVert)\, \frac{x}{\lVert x \rVert},
    \qquad \lVert \log_0(x) \rVert = \tfrac12\, d_{\mathbb B}(0, x),

computed in float64 and then cast to float32. Why: the few-shot encoders (MLP, GNN)
are Euclidean — linear layers, sums, means — and the ball is not a vector space:
its rows crowd against the rim (half the nouns of the d10 recipe lie within
:math:`4 \cdot 10^{-5}` of it), where Euclidean differences vanish while hyperbolic
distances grow without bound. :math:`\log_0` keeps each row's direction (its
subtree) and turns its hyperbolic distance from the origin (its depth in the
hierarchy) into a Euclidean norm, so that what the embedding learnt stays readable
by linear maps; it is the standard bridge from a hyperbolic embedding to Euclidean
layers (Ganea et al. 2018, "Hyperbolic neural networks"; Chami et al. 2019, HGCN).
Euclidean runs' rows are taken as they are.

Names the run does not hold: ``missing="error"`` (default) raises a ``ValueError``
that counts them and names the first few; ``missing="zero"`` gives them the zero row
(the origin of the ball, the centre of the tangent space: no information), e.g. for a
run over a subtree (mammals) read by few-shot classes outside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from contrastkit._validation import check_choice

__all__ = ["poincare_log0", "run_embedding_features", "run_embedding_rows"]

MissingPolicy = Literal["error", "zero"]


def poincare_log0(x: Tensor) -> Tensor:
    r"""``[..., d]`` points of the Poincaré ball -> tangent vectors at the origin,
    :math:`\log_0(x) = \operatorname{artanh}(\lVert x\rVert)\, x / \lVert x\rVert`
    (in float64; norms clamped just inside the ball, float64's ``1 - 1e-15``)."""
    x64 = x.to(torch.float64)
    norm = x64.norm(dim=-1, keepdim=True)
    scale = torch.atanh(norm.clamp(max=1.0 - 1e-15)) / norm.clamp_min(1e-300)
    # artanh(r)/r -> 1 as r -> 0: the origin maps to itself
    return x64 * torch.where(norm > 0, scale, torch.ones_like(scale))


def run_embedding_rows(run_dir: str | os.PathLike[str]) -> tuple[Tensor, list[str], bool]:
    """``(z [N, d], names, poincare)``: the trained embeddings of every item of the run in
    ``run_dir`` (its last checkpoint), their names, and whether they lie in the
    Poincaré ball."""
    from contrastkit.train.trainer import Trainer
    from contrastkit.typed_config import ConfigError

    path = Path(run_dir)
    if not (path / "config.yaml").is_file():
        raise ConfigError(
            f"meta.features_run {str(path)!r} is not a contrastkit run directory (no config.yaml)"
        )
    trainer = Trainer.restore(path)
    names = trainer.task.item_names
    if names is None:
        raise ValueError(
            f"meta.features_run {str(path)!r}: its task has no item names to match synsets by"
        )
    with torch.no_grad():
        z = trainer.encoder.embed_all().detach()
    if z.shape[0] != len(names):
        raise ValueError(f"meta.features_run {str(path)!r}: {z.shape[0]} rows, {len(names)} names")
    return z, list(names), trainer.config.encoder.manifold == "poincare"


def run_embedding_features(
    run_dir: str | os.PathLike[str],
    names: Sequence[str],
    *,
    missing: MissingPolicy = "error",
) -> Tensor:
    """``[len(names), d]`` float32 features: the run's row of each name (``log_0`` of it
    for a Poincaré run; module docstring), zero rows for names it lacks when
    ``missing="zero"``."""
    check_choice("missing", missing, ("error", "zero"))
    z, run_names, poincare = run_embedding_rows(run_dir)
    if poincare:
        z = poincare_log0(z)
    index = {name: i for i, name in enumerate(run_names)}
    rows = torch.tensor([index.get(n, -1) for n in names], dtype=torch.int64)
    absent = rows < 0
    if bool(absent.any()) and missing == "error":
        lacking = [names[i] for i in torch.nonzero(absent).flatten()[:5].tolist()]
        raise ValueError(
            f"meta.features_run {str(run_dir)!r} has no row for {int(absent.sum())} of "
            f"{len(names)} synsets (e.g. {', '.join(lacking)}); train it on a graph that "
            "holds them, or set meta.features_missing: zero"
        )
    x = torch.where(absent.unsqueeze(1), torch.zeros(()), z[rows.clamp_min(0)].to(torch.float64))
    return x.to(torch.float32)
