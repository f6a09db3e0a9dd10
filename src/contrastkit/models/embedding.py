"""A free embedding table, Euclidean or on the Poincaré ball (through geoopt).

Row :math:`i` is the trainable vector :math:`\\theta_i \\in \\mathbb R^d` or, for
``manifold="poincare"``, a point of the ball
:math:`\\mathbb B^d_c = \\{x : c\\|x\\|^2 < 1\\}` stored as a
``geoopt.ManifoldParameter``, so that geoopt's Riemannian optimisers rescale
the gradient by the inverse metric :math:`((1 - c\\|x\\|^2)/2)^2` and retract
onto the ball. Initialisation is uniform in :math:`[-s, s]^d` with
``init_scale`` :math:`s = 10^{-3}`, as Nickel & Kiela do: every point starts near
the origin, where the ball is nearly flat.

With ``sparse=True`` the lookup returns sparse gradients (only the rows used),
for ``torch.optim.SparseAdam`` / ``geoopt.optim.SparseRiemannianSGD`` on large tables.

Example:
    >>> table = EmbeddingTable(10, 2, manifold="poincare", generator=0)
    >>> table(torch.tensor([1, 3])).shape
    torch.Size([2, 2])

Reference: M. Nickel and D. Kiela, "Poincaré Embeddings for Learning Hierarchical
Representations", NeurIPS 2017; M. Kochurov et al., "Geoopt", 2020.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastkit._validation import check_choice, check_positive, check_positive_int, check_tensor
from contrastkit.functional.distances import project_to_ball
from contrastkit.graph.rng import GeneratorLike, as_generator

Manifold = Literal["euclidean", "poincare"]


class EmbeddingTable(nn.Module):
    """``forward(index) -> weight[index]``.

    Args:
        num_embeddings: rows ``N``.
        dim: columns ``d``.
        manifold: ``"euclidean"`` (default) or ``"poincare"`` (needs geoopt).
        init_scale: half-width of the uniform initialisation (default ``1e-3``).
        sparse: sparse gradients (default False).
        curvature: ``c > 0`` of the ball (default 1).
        dtype: ``torch.float32`` (default) or ``torch.float64``. Near the ball's boundary
            float32 cannot resolve neighbouring points: at 1 - ||x|| = 4e-5
            its rounding is ~3e-3 in hyperbolic distance, and a step of Riemannian
            length below that is lost.
        generator: ``torch.Generator`` or int seed for the initialisation (default seed 0).

    Shapes: ``index`` any shape of int64 in ``[0, N)`` -> ``[*index.shape, d]``.
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        *,
        manifold: Manifold = "euclidean",
        init_scale: float = 1e-3,
        sparse: bool = False,
        curvature: float = 1.0,
        dtype: torch.dtype = torch.float32,
        generator: GeneratorLike | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("num_embeddings", num_embeddings)
        check_positive_int("dim", dim)
        check_positive("init_scale", init_scale)
        check_positive("curvature", curvature)
        self.manifold: Manifold = check_choice("manifold", manifold, ("euclidean", "poincare"))
        self.sparse = sparse
        self.curvature = float(curvature)
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        gen = as_generator(generator)
        # drawn in float32 whatever the dtype, so both start from the same points
        init = ((torch.rand(num_embeddings, dim, generator=gen) * 2 - 1) * init_scale).to(dtype)
        if manifold == "poincare":
            import geoopt

            init = project_to_ball(init, self.curvature)
            ball = geoopt.PoincareBall(c=self.curvature)
            self.weight: nn.Parameter = geoopt.ManifoldParameter(init, manifold=ball)
        else:
            self.weight = nn.Parameter(init)

    @property
    def num_embeddings(self) -> int:
        return int(self.weight.shape[0])

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def forward(self, index: Tensor) -> Tensor:
        check_tensor("index", index)
        if index.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"index must be an int64/int32 tensor, got dtype {index.dtype}")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.num_embeddings):
            raise ValueError(
                f"index has entries outside [0, {self.num_embeddings}): "
                f"min {int(index.min())}, max {int(index.max())}"
            )
        return F.embedding(index, self.weight, sparse=self.sparse)

    @torch.no_grad()
    def project_(self) -> None:
        """Pull every row strictly inside the ball (no-op for Euclidean); call after a
        plain (non-Riemannian) optimiser step."""
        if self.manifold == "poincare":
            self.weight.copy_(project_to_ball(self.weight, self.curvature))

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.dim}, manifold={self.manifold}, sparse={self.sparse}"
