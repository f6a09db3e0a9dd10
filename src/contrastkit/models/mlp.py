"""Multi-layer perceptron with optional normalisation, dropout and residual connections.

Hidden layer :math:`l` computes

.. math::
    h_{l+1} = \\mathrm{drop}(\\sigma(\\mathrm{norm}(W_l h_l + b_l))) + r\\, P_l h_l,

with :math:`r = 1` for ``residual=True`` (else 0), :math:`P_l` the identity
when the widths agree and a bias-free linear map otherwise; the output layer
is a plain affine map :math:`W_L h_L + b_L`.

Example:
    >>> import torch
    >>> mlp = MLP(16, [32, 32], 8, norm="layer", residual=True)
    >>> mlp(torch.randn(4, 16)).shape
    torch.Size([4, 8])
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

from torch import Tensor, nn

from contrastkit._validation import check_choice, check_float_tensor, check_positive_int

Activation = Literal["relu", "gelu", "tanh", "silu", "leaky_relu", "elu"]
Norm = Literal["none", "batch", "layer"]
ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "tanh", "silu", "leaky_relu", "elu")
NORMS: tuple[str, ...] = ("none", "batch", "layer")


def make_activation(name: Activation) -> nn.Module:
    """The activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    check_choice("activation", name, ACTIVATIONS)
    return {
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "silu": nn.SiLU,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
    }[name]()


def make_norm(name: Norm, width: int) -> nn.Module:
    """``BatchNorm1d``, ``LayerNorm`` or identity over ``width`` features."""
    check_choice("norm", name, NORMS)
    if name == "batch":
        return nn.BatchNorm1d(width)
    if name == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


def check_dropout(dropout: float) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
        raise TypeError(f"dropout must be a number, got {type(dropout).__name__}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    return float(dropout)


class MLP(nn.Module):
    """Feed-forward encoder ``[N, in_dim] -> [N, out_dim]``.

    Args:
        in_dim: input width.
        hidden_dims: widths of the hidden layers (may be empty: a single linear map).
        out_dim: output width.
        activation: one of :data:`ACTIVATIONS` (default ``"relu"``).
        dropout: after each hidden activation (default 0).
        norm: ``"none"`` (default), ``"batch"`` or ``"layer"``, before the activation.
        residual: add a skip connection around each hidden layer (default False).
        bias: affine layers carry a bias (default True).

    Attributes:
        init_args: the arguments above as a JSON-able dict, ``type(m)(**m.init_args)``
            rebuilds the module (what :func:`~contrastkit.models.saved_encoder.save_encoder`
            writes).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        *,
        activation: Activation = "relu",
        dropout: float = 0.0,
        norm: Norm = "none",
        residual: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("in_dim", in_dim)
        check_positive_int("out_dim", out_dim)
        for i, h in enumerate(hidden_dims):
            check_positive_int(f"hidden_dims[{i}]", h)
        check_choice("norm", norm, NORMS)
        check_dropout(dropout)
        # what rebuilds this module: type(mlp)(**mlp.init_args) (models/saved_encoder.py)
        self.init_args = {
            "in_dim": in_dim,
            "hidden_dims": list(hidden_dims),
            "out_dim": out_dim,
            "activation": activation,
            "dropout": float(dropout),
            "norm": norm,
            "residual": residual,
            "bias": bias,
        }
        self.in_dim, self.out_dim, self.residual = in_dim, out_dim, residual
        widths = [in_dim, *hidden_dims]
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in pairwise(widths))
        self.norms = nn.ModuleList(make_norm(norm, b) for b in widths[1:])
        self.skips = nn.ModuleList(
            nn.Linear(a, b, bias=False) if residual and a != b else nn.Identity()
            for a, b in pairwise(widths)
        )
        self.act = make_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(widths[-1], out_dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``[..., in_dim]`` float -> ``[..., out_dim]``."""
        check_float_tensor("x", x)
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"x must have {self.in_dim} features, got {x.shape[-1]}")
        h = x
        for lin, norm, skip in zip(self.linears, self.norms, self.skips, strict=True):
            z = self.dropout(self.act(norm(lin(h))))
            h = z + skip(h) if self.residual else z
        return self.out(h)
