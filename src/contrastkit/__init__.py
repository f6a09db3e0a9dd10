"""contrastkit: contrastive and structure-preserving training of embedding spaces."""

from typing import Any

from contrastkit.functional.distances import (
    CosineSimilarity,
    Distance,
    DotProduct,
    L2Distance,
    PoincareDistance,
    SquaredL2Distance,
    get_distance,
)

__version__ = "0.1.0"

__all__ = [
    "CosineSimilarity",
    "Distance",
    "DotProduct",
    "L2Distance",
    "PoincareDistance",
    "SquaredL2Distance",
    "__version__",
    "get_distance",
    "load_encoder",
    "save_encoder",
]


def __getattr__(name: str) -> Any:
    # imported on first use: ``import contrastkit`` stays light
    if name in ("load_encoder", "save_encoder"):
        from contrastkit.models import saved_encoder

        return getattr(saved_encoder, name)
    raise AttributeError(f"module 'contrastkit' has no attribute {name!r}")
