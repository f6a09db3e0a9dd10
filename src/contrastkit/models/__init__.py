"""Encoders: embedding tables (Euclidean, Poincaré), MLPs, PyG GNNs, a graph
autoencoder and an offline sentence-transformers text encoder; a trained MLP / GNN saved
as a directory and loaded back (``save_encoder`` / ``load_encoder``)."""

from contrastkit.models.autoencoder import GraphAutoencoder
from contrastkit.models.embedding import EmbeddingTable
from contrastkit.models.gnn import GNNEncoder
from contrastkit.models.mlp import MLP
from contrastkit.models.pca_head import PCAHead, pca_basis
from contrastkit.models.saved_encoder import load_encoder, save_encoder
from contrastkit.models.text import TextEncoder, default_model_path

__all__ = [
    "MLP",
    "EmbeddingTable",
    "GNNEncoder",
    "GraphAutoencoder",
    "PCAHead",
    "TextEncoder",
    "default_model_path",
    "load_encoder",
    "pca_basis",
    "save_encoder",
]
