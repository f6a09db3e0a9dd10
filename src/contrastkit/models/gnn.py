"""GNN encoders from PyG layers: GCN, GraphSAGE or GAT, with depth, width, dropout,
normalisation and residual connections.

Layer :math:`l` (of ``num_layers``) computes

.. math::
    h^{(l+1)} = \\mathrm{drop}\\big(\\sigma(\\mathrm{norm}(\\mathrm{conv}_l(h^{(l)}, E)))\\big)
        + r\\, P_l h^{(l)},

where ``conv`` is ``GCNConv`` (Kipf & Welling, 2017), ``SAGEConv`` with mean
aggregation (Hamilton et al., 2017) or ``GATConv`` (Veličković et al., 2018;
hidden layers concatenate ``heads`` heads of width ``hidden_dim / heads``, the
last averages them); :math:`r = 1` for ``residual=True`` with :math:`P_l` the
identity or a bias-free linear map. The last layer is the bare convolution.
Messages flow along ``edge_index`` from row 0 to row 1, as in PyG; pass both
directions for an undirected graph. Works unchanged on the relabelled
subgraphs of :mod:`contrastkit.graph.sampling` (take ``out[:batch_size]``).

Example:
    >>> import torch
    >>> enc = GNNEncoder(8, 16, 4, num_layers=2, conv="sage")
    >>> ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    >>> enc(torch.randn(3, 8), ei).shape
    torch.Size([3, 4])
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from contrastkit._validation import (
    check_choice,
    check_edge_index,
    check_float_tensor,
    check_length,
    check_positive_int,
)
from contrastkit.models.mlp import Activation, Norm, check_dropout, make_activation, make_norm

ConvKind = Literal["gcn", "sage", "gat"]


def _make_conv(kind: ConvKind, d_in: int, d_out: int, heads: int, last: bool) -> nn.Module:
    try:
        from torch_geometric.nn import GATConv, GCNConv, SAGEConv
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "GNNEncoder needs torch-geometric: pip install 'contrastkit[graph]'"
        ) from err
    if kind == "gcn":
        return GCNConv(d_in, d_out)
    if kind == "sage":
        return SAGEConv(d_in, d_out, aggr="mean")
    if last:
        return GATConv(d_in, d_out, heads=heads, concat=False)
    return GATConv(d_in, d_out // heads, heads=heads, concat=True)


class GNNEncoder(nn.Module):
    """``forward(x [N, in_dim], edge_index [2, E]) -> [N, out_dim]``.

    Args:
        in_dim, hidden_dim, out_dim: widths.
        num_layers: message-passing layers (default 2; 1 = a single ``in -> out`` conv).
        conv: ``"gcn"``, ``"sage"`` (default) or ``"gat"``.
        heads: attention heads for GAT (``hidden_dim`` must be divisible; default 1).
        dropout: after each hidden activation (default 0).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"`` on hidden layers.
        residual: skip connections around hidden layers (default False).
        activation: hidden non-linearity (default ``"relu"``).

    Attributes:
        init_args: the arguments above as a JSON-able dict, ``type(m)(**m.init_args)``
            rebuilds the module (what :func:`~contrastkit.models.saved_encoder.save_encoder`
            writes).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        *,
        num_layers: int = 2,
        conv: ConvKind = "sage",
        heads: int = 1,
        dropout: float = 0.0,
        norm: Norm = "none",
        residual: bool = False,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        for name, v in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            check_positive_int(name, v)
        check_positive_int("num_layers", num_layers)
        check_positive_int("heads", heads)
        self.conv_kind: ConvKind = check_choice("conv", conv, ("gcn", "sage", "gat"))
        if conv == "gat" and num_layers > 1 and hidden_dim % heads:
            raise ValueError(f"hidden_dim must be divisible by heads={heads}, got {hidden_dim}")
        check_dropout(dropout)
        # what rebuilds this module: type(gnn)(**gnn.init_args) (models/saved_encoder.py)
        self.init_args = {
            "in_dim": in_dim,
            "hidden_dim": hidden_dim,
            "out_dim": out_dim,
            "num_layers": num_layers,
            "conv": conv,
            "heads": heads,
            "dropout": float(dropout),
            "norm": norm,
            "residual": residual,
            "activation": activation,
        }
        self.in_dim, self.out_dim, self.residual = in_dim, out_dim, residual
        widths = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(
            _make_conv(conv, widths[i], widths[i + 1], heads, i == num_layers - 1)
            for i in range(num_layers)
        )
        hidden = widths[1:-1]
        self.norms = nn.ModuleList(make_norm(norm, w) for w in hidden)
        self.skips = nn.ModuleList(
            nn.Linear(widths[i], w, bias=False) if residual and widths[i] != w else nn.Identity()
            for i, w in enumerate(hidden)
        )
        self.act = make_activation(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """``x`` ``[N, in_dim]`` float, ``edge_index`` ``[2, E]`` int64, optional
        ``edge_weight`` ``[E]`` (GCN only) -> ``[N, out_dim]``."""
        check_float_tensor("x", x, ndim=2)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"x must have {self.in_dim} features, got {x.shape[1]}")
        check_edge_index("edge_index", edge_index, x.shape[0])
        extra: tuple[Tensor, ...] = ()
        if edge_weight is not None:
            if self.conv_kind != "gcn":
                raise ValueError(
                    f"edge_weight is only used by conv='gcn', got conv={self.conv_kind!r}"
                )
            check_float_tensor("edge_weight", edge_weight, ndim=1)
            check_length("edge_weight", edge_weight, edge_index.shape[1], "entries")
            extra = (edge_weight,)
        h = x
        for i in range(len(self.convs) - 1):
            z = self.dropout(self.act(self.norms[i](self.convs[i](h, edge_index, *extra))))
            h = z + self.skips[i](h) if self.residual else z
        return self.convs[-1](h, edge_index, *extra)
