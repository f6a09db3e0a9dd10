"""Optimisers as a library: one factory over ``torch.optim`` and geoopt, row-wise
(Riemannian) Adagrad, a composite of dense and sparse optimisers, and state resets."""

from contrastkit.optim.composite import CompositeOptimizer
from contrastkit.optim.factory import OptimizerConfig, build_optimizer, clip_gradients
from contrastkit.optim.restart import reset_optimizer_state
from contrastkit.optim.row_adagrad import RowAdagrad

__all__ = [
    "CompositeOptimizer",
    "OptimizerConfig",
    "RowAdagrad",
    "build_optimizer",
    "clip_gradients",
    "reset_optimizer_state",
]
