"""What a run trains on: the graph, its training relations, and what it is judged by.

:func:`build_task` turns a :class:`~contrastkit.train.config.DataConfig` into a
:class:`GraphTask`:

* ``train_edges`` ``[2, E]`` — the relations iterated over in batches (for a
  hierarchy, the transitive closure, child -> ancestor);
* ``related`` — a CSR of every pair ``(u, w)`` that training must never draw as a
  negative for anchor ``u``: the training relations. Held-out relations are unknown
  to training, so they can be drawn (and mined) as negatives, as PyG's
  ``negative_sampling`` over the training edges does; masking them would leak the
  test set into training. For a hierarchy it is directed, as in Nickel & Kiela
  (2017): the negatives of ``(u, v)`` are the ``w`` with ``(u, w)`` not a relation,
  so ``u``'s descendants *are* negatives for ``u`` — exactly what the directed
  reconstruction ranking asks (an ancestor must outrank a descendant). With
  ``hierarchy.exclude_implied`` it is the transitive closure of the training relations
  instead: an is-a relation is transitive, so a pair that kept relations chain to
  (``u -> w -> v``) is entailed by training data alone and is no negative (a false-
  negative filter that uses no held-out label). With ``hierarchy.exclude_common_ancestors``
  ``= s`` it also holds each ``(u, w)`` with ``w`` an ancestor of at least a share ``s``
  of ``u``'s training descendants (:func:`~contrastkit.data.closure.common_ancestor_pairs`):
  what is above all of ``u``'s kinds is likely above ``u``, so it is kept out of
  ``u``'s negatives and hard pool — another filter that reads only training relations.
  For other graphs it is symmetric;
* ``known`` — the same over all relations, held-out ones included: what the
  evaluation side filters (the validation batch's negatives, ``contrastkit mine``);
* ``eval_edges`` — the relations the reconstruction ranking is computed over;
* ``split`` — held-out positives/negatives for link prediction when
  ``test_fraction > 0``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit.data.closure import common_ancestor_pairs, transitive_closure
from contrastkit.data.graph_data import GraphData
from contrastkit.data.splits import LinkSplit, link_split
from contrastkit.graph.csr import CSR, to_csr
from contrastkit.train.data_config import DataConfig
from contrastkit.train.recipe_config import HierarchyConfig
from contrastkit.typed_config import ConfigError


@dataclass
class GraphTask:
    graph: GraphData
    train_edges: Tensor
    eval_edges: Tensor
    related: CSR
    known: CSR
    split: LinkSplit | None
    hierarchical: bool

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def edge_weights(self, u: Tensor, v: Tensor) -> Tensor | None:
        """The graph's weights of the pairs ``(u [E], v [E])`` (either direction on a
        symmetric graph; 0 for a pair that is no edge), or ``None`` for an unweighted
        graph: one ``searchsorted`` over the sorted edge keys ``u N + v``."""
        weight = self.graph.edge_weight
        if weight is None:
            return None
        edges, n = self.graph.edge_index, self.num_nodes
        if not self.hierarchical:
            edges, weight = torch.cat([edges, edges.flip(0)], 1), torch.cat([weight, weight])
        keys, order = torch.sort(edges[0] * n + edges[1])
        query = u * n + v
        pos = torch.searchsorted(keys, query).clamp_max(max(keys.numel() - 1, 0))
        found = keys[pos] == query
        return torch.where(found, weight[order][pos], torch.zeros((), dtype=weight.dtype))

    def lineage(self) -> CSR:
        """``related`` in either direction: for a hierarchy, each node's ancestors and
        descendants (``related`` holds the ancestors only)."""
        return _symmetric_csr(self.related.to_edge_index(), self.num_nodes)


def load_graph(config: DataConfig, edgelist_hierarchy: bool = False) -> tuple[GraphData, bool]:
    """Load the dataset named by ``config.name``; the flag says whether it is a
    hierarchy (directed child -> ancestor closure) rather than a symmetric graph."""
    name = config.name
    if name == "mammals":
        from contrastkit.data.mammals import load_mammals

        return load_mammals(), True
    if name == "wordnet_nouns":
        from contrastkit.data.closure import wordnet_nouns_graph
        from contrastkit.data.wordnet import load_wordnet_nouns

        nouns = load_wordnet_nouns(config.path)
        try:
            return wordnet_nouns_graph(nouns, config.root), True
        except ValueError:  # the synset is not in this WordNet
            raise ConfigError(f"data.root {config.root!r} is not a WordNet noun synset") from None
    if name == "karate":
        from contrastkit.data.karate import karate_club

        return karate_club(features="identity"), False
    if name == "digits":
        from contrastkit.data.digits import digits_knn_graph

        return digits_knn_graph(k=config.knn), False
    if name == "sbm":
        from contrastkit.data.sbm import planted_partition

        graph = planted_partition(
            config.sbm_nodes, config.sbm_blocks, config.sbm_p_in, config.sbm_p_out
        )
        return graph, False
    from contrastkit.data.edge_files import read_edge_list

    if config.path is None:  # DataConfig validation guarantees this; keeps mypy honest
        raise ConfigError("data.path is required when data.name is 'edgelist'")
    graph = read_edge_list(config.path)
    if not edgelist_hierarchy:
        return graph, False
    # child -> parent relations: the hierarchy is their transitive closure
    closure = transitive_closure(graph.edge_index, graph.num_nodes)
    return dataclasses.replace(graph, edge_index=closure, edge_weight=None), True


def _symmetric_csr(edges: Tensor, num_nodes: int) -> CSR:
    both = torch.cat([edges, edges.flip(0)], dim=1)
    return to_csr(both, num_nodes=num_nodes)


def build_task(
    config: DataConfig, seed: int = 0, hierarchy: HierarchyConfig | None = None
) -> GraphTask:
    """The graph of ``config`` with its training relations and filters; ``hierarchy``
    holds the hierarchy filters, refused (naming the key) when the graph is not one."""
    hierarchy = hierarchy if hierarchy is not None else HierarchyConfig()
    if hierarchy.edgelist and config.name != "edgelist":
        raise ConfigError(
            f"hierarchy.edgelist reads an edge list as a hierarchy; data.name is {config.name!r}"
        )
    graph, hierarchical = load_graph(config, edgelist_hierarchy=hierarchy.edgelist)
    if graph.num_edges == 0:
        raise ConfigError(f"data.name {config.name!r} gave a graph with no edges")
    for key in hierarchy.filters_on():
        if not hierarchical:
            raise ConfigError(
                f"{key} needs a hierarchy (mammals, wordnet_nouns, or an edge list with "
                f"hierarchy.edgelist: true), got data.name {config.name!r}"
            )
    edges = graph.edge_index

    def relations(pairs: Tensor) -> CSR:
        if hierarchical:
            return to_csr(pairs, num_nodes=graph.num_nodes)
        return _symmetric_csr(pairs, graph.num_nodes)

    split: LinkSplit | None = None
    train_edges = edges
    if config.test_fraction > 0:
        split = link_split(
            edges,
            graph.num_nodes,
            val_fraction=0.0,
            test_fraction=config.test_fraction,
            undirected=not hierarchical,
            protocol="nickel_kiela" if hierarchical else "random",
            seed=seed,
        )
        train_edges = split.train_edge_index()
    related = relations(train_edges)
    if hierarchy.exclude_implied:  # hierarchies only, checked above
        related = to_csr(transitive_closure(train_edges, graph.num_nodes), graph.num_nodes)
    if hierarchy.exclude_common_ancestors > 0:  # hierarchies only, as above
        share = hierarchy.exclude_common_ancestors
        inferred = common_ancestor_pairs(train_edges, graph.num_nodes, share)
        related = to_csr(
            torch.cat([related.to_edge_index(), inferred], dim=1), num_nodes=graph.num_nodes
        )
    return GraphTask(
        graph=graph,
        train_edges=train_edges,
        eval_edges=edges if split is None else train_edges,
        related=related,
        known=related if split is None else relations(edges),
        split=split,
        hierarchical=hierarchical,
    )
