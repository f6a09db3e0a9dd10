r"""An inductive GNN encoder for a task stream: message passing over the graph seen so far.

A node's embedding is computed from its own features and those of its known
neighbours, by a :class:`~contrastkit.models.gnn.GNNEncoder` (GraphSAGE, GCN or GAT)
over the stream's growing edge set:

.. math::
    z = \mathrm{GNN}_\theta\big(X_{[0, n_t)},\; E_{\le t}\big),
    \qquad E_{\le t} = \bigcup_{s \le t} \mathrm{train}_s \cup \mathrm{train}_s^{\top}

where :math:`n_t` is the number of nodes of tasks :math:`0..t` (their ids are the
contiguous ``0..n_t-1``, :meth:`~contrastkit.continual.stream.TaskStream.rows_after`)
and :math:`E_{\le t}` the training relations of those tasks in both directions
(deduplicated): messages flow both ways even on a directed stream (WordNet's
child -> ancestor closure), so a new leaf hears from its ancestors and an ancestor
from its new descendants. Held-out relations never carry messages.

Nodes arriving in a later task need no new parameters: :meth:`StreamGNN.attach`
widens the graph to the new task's nodes and relations, and their embeddings follow
from their features and the neighbours they arrive with. A GNN layer's output for a
node depends on the graph around it, so adding an edge changes the embeddings of
both its ends (and, through later layers, their neighbours').

One full-graph pass over the attached nodes per step (the stream's graphs have at
most a few thousand nodes); :meth:`StreamGNN.forward` indexes it by the step's rows,
so ``torch.func.vmap(grad(...))`` over rows gives per-relation gradients (the pass
itself is unbatched; only the gather and its backward are batched).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastkit._validation import check_edge_index, check_float_tensor
from contrastkit.continual.stream import StreamTask
from contrastkit.models.gnn import ConvKind, GNNEncoder

__all__ = ["StreamGNN", "message_graph"]


def message_graph(tasks: Sequence[StreamTask]) -> Tensor:
    """``[2, E]`` the message-passing edges of ``tasks``: their training relations in
    both directions, self-loops and duplicates dropped (sorted by ``(src, dst)``)."""
    if not tasks:
        return torch.empty(2, 0, dtype=torch.int64)
    train = torch.cat([t.train_edges for t in tasks], 1)
    both = torch.cat([train, train.flip(0)], 1)
    both = both[:, both[0] != both[1]]
    return torch.unique(both, dim=1)


class StreamGNN(nn.Module):
    """``forward(rows [...]) -> [..., d]``: the GNN's embeddings of the attached graph's
    nodes, gathered at ``rows`` (ids below :attr:`num_nodes`).

    Args:
        features: ``[N, F]`` float features of every node of the stream (not a
            parameter, not saved: the stream rebuilds them).
        dim, hidden, layers, conv, dropout: the :class:`~contrastkit.models.gnn.GNNEncoder`.
    """

    features: Tensor
    edge_index: Tensor

    def __init__(
        self,
        features: Tensor,
        dim: int,
        *,
        hidden: int = 128,
        layers: int = 2,
        conv: ConvKind = "sage",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_float_tensor("features", features, ndim=2)
        self.gnn = GNNEncoder(
            int(features.shape[1]), hidden, dim, num_layers=layers, conv=conv, dropout=dropout
        )
        self.register_buffer("features", features.float(), persistent=False)
        self.register_buffer("edge_index", torch.empty(2, 0, dtype=torch.int64), persistent=False)
        self.num_nodes = 0

    def attach(self, num_nodes: int, edge_index: Tensor) -> None:
        """Encode the first ``num_nodes`` nodes over ``edge_index [2, E]`` from now on."""
        if not 0 < num_nodes <= self.features.shape[0]:
            raise ValueError(
                f"num_nodes must be in [1, {self.features.shape[0]}] (the featured nodes), "
                f"got {num_nodes}"
            )
        self.edge_index = check_edge_index("edge_index", edge_index, num_nodes)
        self.num_nodes = num_nodes

    def embed_graph(self, num_nodes: int, edge_index: Tensor) -> Tensor:
        """``[num_nodes, d]``: the first ``num_nodes`` nodes over ``edge_index``
        (leaves the attached graph as it is)."""
        return self.gnn(self.features[:num_nodes], edge_index)

    def embed_all(self) -> Tensor:
        """``[num_nodes, d]`` the attached nodes' embeddings."""
        if self.num_nodes == 0:
            raise RuntimeError("StreamGNN has no graph attached yet (attach() first)")
        return self.embed_graph(self.num_nodes, self.edge_index)

    def forward(self, rows: Tensor) -> Tensor:
        return self.embed_all()[rows]
