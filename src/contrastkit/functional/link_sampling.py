r"""Uniform sampling of non-edges by vectorised rejection.

Pairs are encoded as keys :math:`k = i N + j`. Each round draws a batch of candidate keys
uniformly from :math:`[0, N^2)` with the caller's ``torch.Generator``, drops those found
(``torch.isin``) among the sorted keys of the true edges — and self-loops — and keeps the
first survivors, so the result is a uniform sample, with replacement, from the
non-edges. The batch size is scaled by the expected acceptance rate, so sparse graphs
need one round; dense graphs need a few.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastkit._validation import check_edge_index, check_positive_int

# cap on candidate keys per round: bounds memory on nearly complete graphs
_MAX_DRAW = 1 << 22


def sample_non_edges(
    edge_index: Tensor,
    num_nodes: int,
    num_samples: int,
    *,
    generator: torch.Generator,
    undirected: bool = False,
    allow_self_loops: bool = False,
    max_rounds: int = 1000,
) -> Tensor:
    r"""Draw ``num_samples`` node pairs uniformly (with replacement) from the non-edges.

    .. math::
        (i, j) \sim \mathcal U\{(i, j) \in [0, N)^2 : (i, j) \notin E,\ i \ne j\}

    Args:
        edge_index: ``[2, E]`` true edges (ids in ``[0, N)``); never modified.
        num_nodes: ``N``.
        num_samples: number of pairs to return (>= 0).
        generator: the ``torch.Generator`` all randomness comes from (same seed, same output).
        undirected: also reject :math:`(j, i)` for every edge :math:`(i, j)` (default False).
        allow_self_loops: allow :math:`i = j` (default False).
        max_rounds: rejection rounds before giving up (default 1000).

    Returns:
        ``LongTensor[2, num_samples]`` on ``edge_index``'s device.

    Raises:
        ValueError: when the graph has no non-edge but ``num_samples > 0``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> sample_non_edges(torch.tensor([[0], [1]]), 3, 4, generator=g).shape
        torch.Size([2, 4])
    """
    check_positive_int("num_nodes", num_nodes, allow_zero=True)
    edge_index = check_edge_index("edge_index", edge_index, num_nodes=num_nodes)
    check_positive_int("num_samples", num_samples, allow_zero=True)
    check_positive_int("max_rounds", max_rounds)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    device = edge_index.device
    if num_samples == 0:
        return torch.zeros((2, 0), dtype=torch.long, device=device)
    n = num_nodes
    src, dst = edge_index[0].long(), edge_index[1].long()
    keys = src * n + dst
    if undirected:
        keys = torch.cat([keys, dst * n + src])
    keys = torch.unique(keys)  # sorted, so isin can binary-search
    forbidden = keys.numel()
    if not allow_self_loops:
        forbidden += n - int((keys // n == keys % n).sum()) if n else 0
    available = n * n - forbidden
    if available <= 0:
        raise ValueError(
            f"num_samples={num_samples} non-edges requested but the graph with "
            f"num_nodes={num_nodes} has none"
        )
    rate = available / (n * n)
    chunks: list[Tensor] = []
    need = num_samples
    for _ in range(max_rounds):
        draw = min(_MAX_DRAW, math.ceil(1.2 * need / rate) + 16)
        cand = torch.randint(0, n * n, (draw,), generator=generator, device=generator.device)
        cand = cand.to(device)
        keep = ~torch.isin(cand, keys, assume_unique=False)
        if not allow_self_loops:
            keep &= cand // n != cand % n
        got = cand[keep][:need]
        chunks.append(got)
        need -= got.numel()
        if need == 0:
            break
    else:
        raise RuntimeError(
            f"sample_non_edges: {need} of {num_samples} pairs still missing after "
            f"max_rounds={max_rounds} rounds"
        )
    out = torch.cat(chunks)
    return torch.stack([out // n, out % n])
