"""contrastkit: contrastive and structure-preserving training of embedding spaces."""

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
]
