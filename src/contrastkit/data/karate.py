"""Zachary's karate club (34 members, 78 friendships), from networkx's bundled copy.

Labels ``y`` are the two factions after the split (0 = ``Mr. Hi``, 1 = ``Officer``);
``edge_index`` stores each friendship in both directions (156 columns), as PyG does.

Example:
    >>> g = karate_club()
    >>> g.num_nodes, g.num_edges, g.y.bincount().tolist()
    (34, 156, [17, 17])

Reference: W. W. Zachary, "An information flow model for conflict and fission in
small groups", J. Anthropological Research 33(4), 1977.
"""

from __future__ import annotations

from typing import Literal

import torch

from contrastkit._validation import check_choice
from contrastkit.data.graph_data import GraphData

KarateFeatures = Literal["none", "identity", "degree"]


def karate_club(features: KarateFeatures = "none") -> GraphData:
    """Load the karate club graph.

    Args:
        features: ``"none"`` (default, ``x=None``), ``"identity"`` (``x = I_34``) or
            ``"degree"`` (``x[i] = [deg(i)]``, float32).

    Returns:
        :class:`GraphData` with ``edge_index`` ``[2, 156]``, ``y`` ``[34]``, names ``"0".."33"``.
    """
    check_choice("features", features, ("none", "identity", "degree"))
    try:
        import networkx as nx
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("karate_club needs networkx: pip install 'contrastkit[graph]'") from err
    nxg = nx.karate_club_graph()
    pairs = torch.tensor(list(nxg.edges()), dtype=torch.int64).t()
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
    order = torch.argsort(edge_index[0] * 34 + edge_index[1])
    edge_index = edge_index[:, order]
    club = [nxg.nodes[i]["club"] for i in range(nxg.number_of_nodes())]
    y = torch.tensor([0 if c == "Mr. Hi" else 1 for c in club], dtype=torch.int64)
    n = nxg.number_of_nodes()
    x = None
    if features == "identity":
        x = torch.eye(n)
    elif features == "degree":
        x = torch.bincount(edge_index[0], minlength=n).to(torch.float32).unsqueeze(1)
    return GraphData(
        edge_index=edge_index,
        num_nodes=n,
        x=x,
        y=y,
        names=[str(i) for i in range(n)],
        label_names=["Mr. Hi", "Officer"],
        meta={"source": "networkx.karate_club_graph"},
    )
