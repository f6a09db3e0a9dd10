"""Pure tensor maths: distances and every objective, as stateless functions."""

from contrastkit.functional.dgi import dgi_logits, dgi_loss, dgi_summary
from contrastkit.functional.distance_preservation import (
    distance_preservation_loss,
    hop_distance_pairs,
)
from contrastkit.functional.distances import (
    CosineSimilarity,
    Distance,
    DotProduct,
    L2Distance,
    PoincareDistance,
    SquaredL2Distance,
    arcosh,
    get_distance,
    project_to_ball,
)
from contrastkit.functional.feature_reconstruction import feature_reconstruction_loss
from contrastkit.functional.info_nce import info_nce, supervised_info_nce
from contrastkit.functional.laplacian import (
    edge_degree,
    inv_sqrt_degree,
    laplacian,
    undirected_edges,
)
from contrastkit.functional.laplacian_eigen import laplacian_eigenpairs, laplacian_eigenvalues
from contrastkit.functional.link import (
    dense_adjacency_reconstruction_loss,
    link_logits,
    link_prediction_loss,
    sparse_adjacency_reconstruction_loss,
)
from contrastkit.functional.link_sampling import sample_non_edges
from contrastkit.functional.mnr import mnr_candidates, multiple_negatives_ranking_loss
from contrastkit.functional.node_classification import node_classification_loss
from contrastkit.functional.pair_contrastive import (
    local_contrastive_loss,
    multi_hop_contrastive_loss,
)
from contrastkit.functional.reduction import reduce_loss
from contrastkit.functional.regularizers import (
    decorrelation_penalty,
    embedding_norm_penalty,
    feature_orthogonality,
    project_norm,
    project_poincare,
    sample_orthogonality,
)
from contrastkit.functional.relation_kernels import (
    RELATION_DISTANCES,
    RelationScores,
    relation_scores,
)
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.functional.sparsity import l1_sparsity
from contrastkit.functional.spectral import laplacian_smoothness
from contrastkit.functional.tiled_info_nce import (
    tile_size_for,
    tiled_info_nce,
    tiled_multiple_negatives_ranking_loss,
)
from contrastkit.functional.triplet import triplet_hinge, triplet_margin_loss
from contrastkit.functional.triplet_batch import (
    batch_all_triplet_loss,
    per_anchor_triplet_loss,
    triplet_row_sums,
)

__all__ = [
    "RELATION_DISTANCES",
    "CosineSimilarity",
    "Distance",
    "DotProduct",
    "L2Distance",
    "PoincareDistance",
    "RelationScores",
    "SquaredL2Distance",
    "arcosh",
    "batch_all_triplet_loss",
    "decorrelation_penalty",
    "dense_adjacency_reconstruction_loss",
    "dgi_logits",
    "dgi_loss",
    "dgi_summary",
    "distance_preservation_loss",
    "edge_degree",
    "embedding_norm_penalty",
    "feature_orthogonality",
    "feature_reconstruction_loss",
    "get_distance",
    "hop_distance_pairs",
    "info_nce",
    "inv_sqrt_degree",
    "l1_sparsity",
    "laplacian",
    "laplacian_eigenpairs",
    "laplacian_eigenvalues",
    "laplacian_smoothness",
    "link_logits",
    "link_prediction_loss",
    "local_contrastive_loss",
    "mnr_candidates",
    "multi_hop_contrastive_loss",
    "multiple_negatives_ranking_loss",
    "node_classification_loss",
    "per_anchor_triplet_loss",
    "project_norm",
    "project_poincare",
    "project_to_ball",
    "reduce_loss",
    "relation_scores",
    "relation_softmax_loss",
    "sample_non_edges",
    "sample_orthogonality",
    "sparse_adjacency_reconstruction_loss",
    "supervised_info_nce",
    "tile_size_for",
    "tiled_info_nce",
    "tiled_multiple_negatives_ranking_loss",
    "triplet_hinge",
    "triplet_margin_loss",
    "triplet_row_sums",
    "undirected_edges",
]
