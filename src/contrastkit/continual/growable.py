r"""An embedding table that grows as nodes arrive, its optimiser state grown with it.

:meth:`GrowableTable.grow` appends rows: the old rows keep their exact bits (the new
weight is ``cat([old, new])``), and every per-row optimiser state (Adam's moments,
Adagrad's sums, row-wise Adagrad's ``[rows]`` sums) is padded with zeros for the new
rows, so an old row's next update is the one it would have had without the growth.
New rows start at the mean of their already-known neighbours
(:func:`neighbour_mean_init`):

.. math::
    \theta_v = \frac{1}{|K(v)|} \sum_{u \in K(v)} \theta_u + \epsilon_v,
    \qquad \epsilon_v \sim \mathcal U[-s, s]^d

(:math:`K(v)`: the neighbours of :math:`v` that already have rows; the small jitter
keeps two new nodes with the same known neighbours apart); a node
with no known neighbour starts at :math:`\epsilon_v` alone, as a fresh table row does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastkit._validation import check_edge_index, check_positive, check_positive_int

__all__ = ["GrowableTable", "grow_optimizer_state", "neighbour_mean_init"]


def neighbour_mean_init(
    weight: Tensor,
    num_new: int,
    edges: Tensor,
    *,
    init_scale: float,
    generator: torch.Generator,
) -> Tensor:
    """Rows ``[num_new, d]`` for ids ``n..n+num_new-1`` (``n = weight.shape[0]``): the mean
    of their known neighbours (ids ``< n``) along ``edges [2, E]`` (either direction),
    plus uniform jitter in ``[-init_scale, init_scale]``."""
    check_positive_int("num_new", num_new)
    check_positive("init_scale", init_scale)
    n, d = weight.shape
    ei = check_edge_index("edges", edges, n + num_new)
    src = torch.cat([ei[0], ei[1]])
    dst = torch.cat([ei[1], ei[0]])
    keep = (src >= n) & (dst < n)  # a new node and an already-known neighbour
    new, known = src[keep] - n, dst[keep]
    w = weight.detach()
    total = torch.zeros(num_new, d, dtype=w.dtype).index_add_(0, new, w[known])
    count = torch.zeros(num_new, dtype=w.dtype).index_add_(
        0, new, torch.ones_like(new, dtype=w.dtype)
    )
    mean = total / count.clamp_min(1.0).unsqueeze(1)
    jitter = (torch.rand(num_new, d, generator=generator) * 2 - 1) * init_scale
    return mean + jitter.to(w.dtype)


def grow_optimizer_state(
    optimizer: torch.optim.Optimizer, old: nn.Parameter, new: nn.Parameter
) -> None:
    """Point ``optimizer`` at ``new`` instead of ``old`` (``new`` has more rows): state
    tensors with ``old``'s row count are zero-padded to ``new``'s, scalars (``step``) kept."""
    rows_old, rows_new = old.shape[0], new.shape[0]
    for group in optimizer.param_groups:
        group["params"] = [new if p is old else p for p in group["params"]]
    state = optimizer.state.pop(old, None)
    if state is None:
        return
    grown = {}
    for key, value in state.items():
        if isinstance(value, Tensor) and value.dim() >= 1 and value.shape[0] == rows_old:
            pad = value.new_zeros((rows_new - rows_old, *value.shape[1:]))
            grown[key] = torch.cat([value, pad])
        else:
            grown[key] = value
    optimizer.state[new] = grown


class GrowableTable(nn.Module):
    """``forward(index) -> weight[index]`` over a table that :meth:`grow` extends.

    Args:
        num_embeddings: initial rows (may be 0).
        dim: columns ``d``.
        init_scale: half-width of the uniform initialisation of rows with no known
            neighbour (default ``0.1``).
        generator: draws for the initialisation.
    """

    def __init__(
        self, num_embeddings: int, dim: int, *, init_scale: float = 0.1, generator: torch.Generator
    ) -> None:
        super().__init__()
        check_positive_int("num_embeddings", num_embeddings, allow_zero=True)
        check_positive_int("dim", dim)
        self.init_scale = check_positive("init_scale", init_scale)
        init = (torch.rand(num_embeddings, dim, generator=generator) * 2 - 1) * init_scale
        self.weight = nn.Parameter(init)

    @property
    def num_embeddings(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, index: Tensor) -> Tensor:
        return self.weight[index]

    def embed_all(self) -> Tensor:
        return self.weight

    def grow(
        self,
        num_new: int,
        edges: Tensor,
        *,
        generator: torch.Generator,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> Tensor:
        """Append ``num_new`` rows initialised by :func:`neighbour_mean_init` from ``edges``;
        the optimiser (if given) follows. Returns the new rows."""
        rows = neighbour_mean_init(
            self.weight, num_new, edges, init_scale=self.init_scale, generator=generator
        )
        old = self.weight
        self.weight = nn.Parameter(torch.cat([old.detach(), rows]))
        if optimizer is not None:
            grow_optimizer_state(optimizer, old, self.weight)
        return rows

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # a checkpoint of a grown table: take its row count before loading
        key = prefix + "weight"
        if key in state_dict and state_dict[key].shape != self.weight.shape:
            self.weight = nn.Parameter(torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
