"""Datasets: WordNet nouns and the shipped mammal closure, karate club, digits k-NN,
stochastic block models, edge-list/npz/npy files and link-prediction splits; WordNet
glosses as text pairs with a structural false-negative filter."""

from contrastkit.data.closure import (
    NICKEL_KIELA_MAMMAL_EXCLUDE,
    induced_edges,
    subtree_nodes,
    transitive_closure,
    wordnet_closure_graph,
    wordnet_subtree_graph,
)
from contrastkit.data.digits import digits_knn_graph, knn_edge_index
from contrastkit.data.edge_files import (
    load_node_features,
    load_npz,
    read_edge_list,
    save_npz,
    write_edge_list,
)
from contrastkit.data.graph_data import GraphData
from contrastkit.data.karate import karate_club
from contrastkit.data.mammals import load_mammals, write_mammal_resources
from contrastkit.data.sbm import planted_partition, stochastic_block_model
from contrastkit.data.splits import LinkSplit, link_split
from contrastkit.data.wordnet import (
    NOUN_LEXNAMES,
    WordNetNotFoundError,
    WordNetNouns,
    load_wordnet_nouns,
    wordnet_dir,
)
from contrastkit.data.wordnet_structure import StructuralFilter
from contrastkit.data.wordnet_text import (
    TextPairs,
    build_text_pairs,
    load_wordnet_text_pairs,
)

__all__ = [
    "NICKEL_KIELA_MAMMAL_EXCLUDE",
    "NOUN_LEXNAMES",
    "GraphData",
    "LinkSplit",
    "StructuralFilter",
    "TextPairs",
    "WordNetNotFoundError",
    "WordNetNouns",
    "build_text_pairs",
    "digits_knn_graph",
    "induced_edges",
    "karate_club",
    "knn_edge_index",
    "link_split",
    "load_mammals",
    "load_node_features",
    "load_npz",
    "load_wordnet_nouns",
    "load_wordnet_text_pairs",
    "planted_partition",
    "read_edge_list",
    "save_npz",
    "stochastic_block_model",
    "subtree_nodes",
    "transitive_closure",
    "wordnet_closure_graph",
    "wordnet_dir",
    "wordnet_subtree_graph",
    "write_edge_list",
    "write_mammal_resources",
]
