r"""Random negative edges that are not edges: uniform and degree-corrected.

*Uniform*: pairs :math:`(u, v)`, :math:`u \ne v`, drawn uniformly (or with
:math:`u` fixed to given sources) and rejected when :math:`(u, v)` is an edge.
*Degree-corrected*: for each positive edge :math:`(u, v)` a pair
:math:`(u', v')` whose endpoint degrees match within a tolerance,

.. math::
    |\deg u' - \deg u| \le \max(\tau_{abs}, \tau_{rel} \deg u)
    \quad\text{and likewise for } v',

so a link predictor cannot separate positives from negatives by degree alone
(the degree bias of uniform negatives; cf. Kim et al., "Link prediction ...
degree bias", 2023). Candidates come from a window of the degree-sorted node
list found with ``searchsorted``.

Rejection runs in vectorised rounds: only rejected slots are redrawn. With
``exact=True`` rounds continue (up to ``max_rounds``) until every slot holds a
valid pair; slots still empty are reported in the mask. Every function takes a
``torch.Generator`` or seed.

Example:
    >>> ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
    >>> s = random_edge_negatives(ei, 5, num_nodes=4, generator=0)
    >>> s.edge_index.shape, bool(s.mask.all())
    (torch.Size([2, 5]), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_index_range,
    check_length,
    check_non_negative,
    check_positive_int,
    check_tensor,
)
from contrastkit.graph.csr import CSR, degrees, has_edge, to_csr
from contrastkit.graph.rng import as_generator


@dataclass
class EdgeSample:
    """``edge_index [2, S]`` sampled pairs (``-1`` where ``mask`` is False) and ``mask [S]``."""

    edge_index: Tensor
    mask: Tensor


def _graph(graph: CSR | Tensor, num_nodes: int | None) -> CSR:
    if isinstance(graph, CSR):
        return graph
    check_edge_index("graph", graph, num_nodes)
    return to_csr(graph, num_nodes, undirected=True)


def _rounds(
    src: Tensor,
    dst: Tensor,
    draw: Callable[[Tensor | None], tuple[Tensor, Tensor]],
    csr: CSR,
    exact: bool,
    max_rounds: int,
) -> EdgeSample:
    """Fill slots: ``draw(slots)`` proposes ``(src, dst)`` for those slots (``None``:
    all of them); invalid proposals (self-pairs, edges) are redrawn."""
    s, d = draw(None)  # the first round fills every slot; only rejected ones are redrawn
    ok = (s != d) & ~has_edge(csr, s, d)
    src.copy_(s)
    dst.copy_(d)
    todo = (~ok).nonzero().squeeze(1)
    for _ in range(max_rounds - 1 if exact else 0):
        if todo.numel() == 0:
            break
        s, d = draw(todo)
        good = (s != d) & ~has_edge(csr, s, d)
        src[todo[good]], dst[todo[good]] = s[good], d[good]
        ok[todo[good]] = True
        todo = todo[~good]
    src[~ok], dst[~ok] = -1, -1
    return EdgeSample(torch.stack([src, dst]), ok)


def random_edge_negatives(
    graph: CSR | Tensor,
    num_samples: int,
    *,
    num_nodes: int | None = None,
    sources: Tensor | None = None,
    target_probs: Tensor | None = None,
    exact: bool = True,
    max_rounds: int = 100,
    generator: torch.Generator | int | None = None,
) -> EdgeSample:
    """``num_samples`` uniform non-edges (``sources [S]`` fixes the first endpoints,
    e.g. to corrupt the tails of positive edges; then ``num_samples = S``).

    ``graph``: CSR or ``edge_index [2, E]`` (undirected). ``target_probs [N]``
    draws the second endpoints from that distribution instead of uniformly (e.g.
    the unigram^0.75 burn-in distribution of Nickel & Kiela). With ``exact=False``
    a single round is drawn and rejected slots stay masked.
    """
    csr = _graph(graph, num_nodes)
    n = csr.num_nodes
    check_positive_int("num_samples", num_samples, allow_zero=True)
    check_positive_int("max_rounds", max_rounds)
    gen = as_generator(generator)
    if sources is not None:
        check_tensor("sources", sources, ndim=1)
        check_index_range("sources", sources, n)
        if sources.numel() != num_samples:
            raise ValueError(
                f"sources must have num_samples={num_samples} rows, got {sources.numel()}"
            )
        fixed = sources.to(torch.int64).cpu()
    if target_probs is not None:
        check_float_tensor("target_probs", target_probs, ndim=1)
        check_length("target_probs", target_probs, n, "entries (one per node)")
        if num_samples and (bool((target_probs < 0).any()) or float(target_probs.sum()) <= 0):
            raise ValueError("target_probs must be non-negative with a positive sum")
    if n < 2 and num_samples:
        raise ValueError(f"num_nodes must be >= 2 to sample pairs, got {n}")

    cdf: Tensor | None = None
    if target_probs is not None and num_samples:
        # inverse-CDF draws: one O(N) cumsum per call instead of multinomial's O(N)
        # set-up in every rejection round
        cdf = torch.cumsum(target_probs.detach().cpu().to(torch.float64), 0)
        cdf = cdf / cdf[-1]

    def draw(slots: Tensor | None) -> tuple[Tensor, Tensor]:
        m = num_samples if slots is None else slots.numel()
        if sources is None:
            s = torch.randint(n, (m,), generator=gen)
        else:
            s = fixed if slots is None else fixed[slots]
        if cdf is not None:
            r = torch.rand(m, generator=gen, dtype=torch.float64)
            return s, torch.searchsorted(cdf, r, right=True).clamp_max_(n - 1)
        return s, torch.randint(n, (m,), generator=gen)

    src = torch.full((num_samples,), -1, dtype=torch.int64)
    return _rounds(src, src.clone(), draw, csr, exact, max_rounds)


def degree_corrected_negatives(
    graph: CSR | Tensor,
    positive_edges: Tensor,
    *,
    num_nodes: int | None = None,
    rel_tol: float = 0.1,
    abs_tol: float = 1.0,
    exact: bool = True,
    max_rounds: int = 100,
    generator: torch.Generator | int | None = None,
) -> EdgeSample:
    """One non-edge per positive edge ``[2, E]`` with both endpoint degrees within
    ``max(abs_tol, rel_tol * deg)`` of the positive's (degrees in ``graph``,
    undirected; defaults ±10 %, at least ±1)."""
    csr = _graph(graph, num_nodes)
    n = csr.num_nodes
    check_edge_index("positive_edges", positive_edges, n)
    check_non_negative("rel_tol", rel_tol)
    check_non_negative("abs_tol", abs_tol)
    check_positive_int("max_rounds", max_rounds)
    gen = as_generator(generator)
    deg = degrees(csr).to(torch.float64)
    sorted_deg, by_deg = torch.sort(deg, stable=True)
    pe = positive_edges.to(torch.int64).cpu()

    def window(nodes: Tensor) -> tuple[Tensor, Tensor]:
        tol = torch.clamp(rel_tol * deg[nodes], min=abs_tol)
        lo = torch.searchsorted(sorted_deg, deg[nodes] - tol)
        hi = torch.searchsorted(sorted_deg, deg[nodes] + tol, right=True)
        return lo, hi

    (lo_u, hi_u), (lo_v, hi_v) = window(pe[0]), window(pe[1])

    def draw(slots: Tensor | None) -> tuple[Tensor, Tensor]:
        if slots is None:
            slots = torch.arange(pe.shape[1])
        ru = torch.rand(slots.numel(), generator=gen, dtype=torch.float64)
        rv = torch.rand(slots.numel(), generator=gen, dtype=torch.float64)
        iu = lo_u[slots] + (ru * (hi_u[slots] - lo_u[slots])).long()
        iv = lo_v[slots] + (rv * (hi_v[slots] - lo_v[slots])).long()
        return by_deg[iu], by_deg[iv]

    src = torch.full((pe.shape[1],), -1, dtype=torch.int64)
    return _rounds(src, src.clone(), draw, csr, exact, max_rounds)
