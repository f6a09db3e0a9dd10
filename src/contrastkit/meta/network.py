"""The few-shot learner: an MLP or GNN encoder with a linear ``n``-way head.

``embed`` maps an episode's items to embeddings ``[m, d]`` (what ProtoNet compares);
``forward`` adds the head, ``logits = W relu(z) + b`` ``[m, n]`` (what MAML adapts;
``forward(..., features_only=True)`` stops at the head's input, what ANIL's head reads;
``head_input="embedding"`` drops the ``relu``, so the head reads ``z`` itself). A
GNN reads the items' ``hops``-hop neighbourhood, cut out once per episode
(:func:`episode_input`) so each inner step runs message passing on a small subgraph,
not the whole graph; an MLP reads the items' own features.

Example:
    >>> net = FewShotNet(8, ways=5, dim=4, hidden=16)
    >>> inp = episode_input(torch.randn(30, 8), None, torch.arange(10))
    >>> net(inp.x, inp.edge_index, inp.nodes).shape
    torch.Size([10, 5])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_choice, check_float_tensor, check_positive_int
from contrastkit.models.gnn import ConvKind, GNNEncoder
from contrastkit.models.mlp import MLP

EncoderKind = Literal["mlp", "gnn"]
HeadInput = Literal["relu", "embedding"]


@dataclass(frozen=True)
class EpisodeInput:
    """What the network reads for one episode: features ``x [M, F]``, the subgraph
    ``edge_index [2, E']`` over them (``None`` for an MLP) and the rows ``nodes [m]`` of
    ``x`` that are the episode's items, in the episode's order."""

    x: Tensor
    edge_index: Tensor | None
    nodes: Tensor


def episode_input(
    x: Tensor, edge_index: Tensor | None, nodes: Tensor, hops: int = 0
) -> EpisodeInput:
    """The :class:`EpisodeInput` of items ``nodes [m]`` (distinct ids) of a graph with
    features ``x [N, F]``: with ``edge_index`` and ``hops > 0`` their ``hops``-hop
    in-neighbourhood relabelled ``0..M-1`` (PyG's ``k_hop_subgraph``), else their rows."""
    check_float_tensor("x", x, ndim=2)
    if edge_index is None or hops == 0:
        return EpisodeInput(x[nodes], None, torch.arange(nodes.numel()))
    from torch_geometric.utils import k_hop_subgraph

    subset, sub_edges, mapping, _ = k_hop_subgraph(
        nodes, hops, edge_index, relabel_nodes=True, num_nodes=x.shape[0]
    )
    return EpisodeInput(x[subset], sub_edges, mapping)


class FewShotNet(nn.Module):
    """Encoder (``mlp`` or ``gnn``) ``[M, F] -> [m, dim]`` plus a head ``dim -> ways``.

    Args:
        in_dim: feature width ``F``.
        ways: classes per episode (the head's outputs).
        dim: embedding width (default 64).
        hidden: hidden width (default 128).
        layers: encoder layers (default 2; MLP: ``layers - 1`` hidden layers).
        encoder: ``"mlp"`` (default) or ``"gnn"``.
        conv: the GNN's layer, ``"sage"`` (default), ``"gcn"`` or ``"gat"``.
        head_input: what the head reads: ``"relu"`` (default, ``relu(z)``) or
            ``"embedding"`` (``z`` itself: the head is then a linear classifier of the
            very embedding ProtoNet compares, and Proto-MAML's head starts as ProtoNet).
    """

    def __init__(
        self,
        in_dim: int,
        ways: int,
        *,
        dim: int = 64,
        hidden: int = 128,
        layers: int = 2,
        encoder: EncoderKind = "mlp",
        conv: ConvKind = "sage",
        head_input: HeadInput = "relu",
    ) -> None:
        super().__init__()
        check_positive_int("in_dim", in_dim)
        check_positive_int("ways", ways)
        check_positive_int("layers", layers)
        self.kind: EncoderKind = check_choice("encoder", encoder, ("mlp", "gnn"))
        self.head_input: HeadInput = check_choice("head_input", head_input, ("relu", "embedding"))
        self.hops = layers if encoder == "gnn" else 0
        self.encoder: nn.Module
        if encoder == "gnn":
            self.encoder = GNNEncoder(in_dim, hidden, dim, num_layers=layers, conv=conv)
        else:
            self.encoder = MLP(in_dim, [hidden] * (layers - 1), dim)
        self.head = nn.Linear(dim, ways)

    def embed(self, x: Tensor, edge_index: Tensor | None, nodes: Tensor) -> Tensor:
        """Embeddings ``[m, dim]`` of rows ``nodes`` of an :class:`EpisodeInput`."""
        if self.kind == "gnn":
            if edge_index is None:
                raise ValueError("a gnn encoder needs edge_index (the episode's subgraph)")
            return self.encoder(x, edge_index)[nodes]
        return self.encoder(x[nodes])

    def forward(
        self, x: Tensor, edge_index: Tensor | None, nodes: Tensor, features_only: bool = False
    ) -> Tensor:
        """Logits ``[m, ways]``, or with ``features_only`` the head's input ``[m, dim]``
        (``relu(z)`` or ``z``: what ANIL adapts the head on and Proto-MAML averages)."""
        z = self.embed(x, edge_index, nodes)
        h = torch.relu(z) if self.head_input == "relu" else z
        return h if features_only else self.head(h)
