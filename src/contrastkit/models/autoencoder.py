"""Graph autoencoder: a GNN encoder, a feature decoder and an inner-product edge decoder.

.. math::
    Z = \\mathrm{GNN}(X, E),\\qquad \\hat X = \\mathrm{MLP}(Z),\\qquad
    \\hat A_{uv} = \\sigma(z_u^\\top z_v),

The edge decoder returns the *logits* :math:`z_u^\\top z_v` so that losses can
use ``F.binary_cross_entropy_with_logits`` (never ``log(sigmoid)``); the
feature reconstruction losses live in :mod:`contrastkit.functional`.

Example:
    >>> import torch
    >>> gae = GraphAutoencoder.build(in_dim=8, hidden_dim=16, latent_dim=4)
    >>> ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    >>> z, x_hat = gae(torch.randn(3, 8), ei)
    >>> z.shape, x_hat.shape, gae.decode_edges(z, ei).shape
    (torch.Size([3, 4]), torch.Size([3, 8]), torch.Size([3]))

Reference: T. N. Kipf and M. Welling, "Variational Graph Auto-Encoders", NeurIPS
workshop on Bayesian Deep Learning, 2016; Hou et al., "GraphMAE", KDD 2022 (feature
reconstruction).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from contrastkit._validation import check_edge_index, check_float_tensor
from contrastkit.models.gnn import ConvKind, GNNEncoder
from contrastkit.models.mlp import MLP, Norm


class GraphAutoencoder(nn.Module):
    """Wraps any ``encoder(x, edge_index) -> z`` and a ``feature_decoder(z) -> x_hat``.

    Args:
        encoder: module mapping ``(x [N, F], edge_index [2, E])`` to ``z [N, d]``.
        feature_decoder: module mapping ``z [N, d]`` to ``x_hat [N, F]``, or ``None`` for an
            edge-only autoencoder (``forward`` then returns ``x_hat = None``).
    """

    def __init__(self, encoder: nn.Module, feature_decoder: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.feature_decoder = feature_decoder

    @classmethod
    def build(
        cls,
        in_dim: int,
        hidden_dim: int,
        latent_dim: int,
        *,
        num_layers: int = 2,
        conv: ConvKind = "gcn",
        decoder_hidden: Sequence[int] = (),
        dropout: float = 0.0,
        norm: Norm = "none",
        decode_features: bool = True,
    ) -> GraphAutoencoder:
        """A :class:`~contrastkit.models.gnn.GNNEncoder` (default 2 GCN layers, as in GAE)
        plus an MLP decoder ``latent_dim -> decoder_hidden -> in_dim``."""
        encoder = GNNEncoder(
            in_dim, hidden_dim, latent_dim, num_layers=num_layers, conv=conv,
            dropout=dropout, norm=norm,
        )  # fmt: skip
        decoder = MLP(latent_dim, decoder_hidden, in_dim) if decode_features else None
        return cls(encoder, decoder)

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """``z`` ``[N, d]``."""
        return self.encoder(x, edge_index)

    def decode_features(self, z: Tensor) -> Tensor:
        """``x_hat`` ``[N, F]`` from ``z`` ``[N, d]``."""
        if self.feature_decoder is None:
            raise ValueError("this autoencoder was built without a feature decoder")
        return self.feature_decoder(z)

    @staticmethod
    def decode_edges(z: Tensor, edge_index: Tensor) -> Tensor:
        """Edge logits ``[E]``: ``<z[u], z[v]>`` for each column ``(u, v)`` of ``edge_index``."""
        check_float_tensor("z", z, ndim=2)
        check_edge_index("edge_index", edge_index, z.shape[0])
        return (z[edge_index[0]] * z[edge_index[1]]).sum(dim=-1)

    def forward(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(z [N, d], x_hat [N, F] or None)``."""
        z = self.encode(x, edge_index)
        x_hat = self.feature_decoder(z) if self.feature_decoder is not None else None
        return z, x_hat
