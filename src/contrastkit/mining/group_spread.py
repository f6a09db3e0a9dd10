r"""Negatives spread over groups of nodes (k-means clusters, categories).

:class:`NodeGroups` holds the groups as one sorted node order with per-group offsets.
:func:`spread_over_groups` gives slot ``j`` of each anchor a node drawn uniformly from
the ``(j mod C)``-th group of the anchor's own random order of the ``C`` groups, so
``K`` negatives come from ``min(K, C)`` groups and no group gets two more than another
(:class:`~contrastkit.mining.strategies.ClusterSpread` with ``within="random"``);
:func:`fill_from_other_groups` redraws unfilled slots uniformly among the nodes of the
groups other than the anchor's (``category``'s fallback). Draws reject the anchor and
its relations for up to ``max_rounds`` rounds, vectorised over all slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit.graph.csr import CSR
from contrastkit.mining.edge_sampling import _rounds


@dataclass(frozen=True)
class NodeGroups:
    """Nodes grouped (clusters, categories): ``label [N]`` compact group ids in
    ``[0, G)``, ``order [N]`` node ids sorted by group, group ``g`` owning
    ``order[start[g]:start[g] + size[g]]`` (every group non-empty)."""

    label: Tensor
    order: Tensor
    start: Tensor
    size: Tensor

    @classmethod
    def from_labels(cls, labels: Tensor) -> NodeGroups:
        """Groups of ``labels [N]`` (any integer ids; empty ones are dropped)."""
        _, label = torch.unique(labels.cpu(), return_inverse=True)
        order = torch.sort(label, stable=True).indices
        size = torch.bincount(label)
        return cls(label, order, torch.cumsum(size, 0) - size, size)

    @property
    def num_groups(self) -> int:
        return int(self.size.numel())


def spread_over_groups(
    u: Tensor,
    k: int,
    groups: NodeGroups,
    exclude_own: bool,
    *,
    related: CSR,
    generator: torch.Generator,
    max_rounds: int,
) -> tuple[Tensor, Tensor]:
    """Slot ``j`` of anchor ``b`` draws uniformly (rejecting ``u`` and relations)
    from the ``(j mod C)``-th group of a random order of the ``C`` groups (the
    anchor's own last and left out with ``exclude_own``). ``([B, k], mask [B, k])``."""
    b, g = u.numel(), groups.num_groups
    avail = g - 1 if exclude_own else g
    if avail == 0 or b == 0:
        return u.new_zeros(b, k), torch.zeros(b, k, dtype=torch.bool)
    keys = torch.rand(b, g, generator=generator)
    if exclude_own:
        keys.scatter_(1, groups.label[u].unsqueeze(1), 2.0)  # sorts last
    slot_group = keys.argsort(1)[:, torch.arange(k) % avail].reshape(-1)  # [B k]
    src = u.repeat_interleave(k)

    def draw(slots: Tensor | None) -> tuple[Tensor, Tensor]:
        grp = slot_group if slots is None else slot_group[slots]
        r = torch.rand(grp.numel(), generator=generator, dtype=torch.float64)
        size = groups.size[grp]
        pos = groups.start[grp] + (r * size).long().clamp_max(size - 1)
        return (src if slots is None else src[slots]), groups.order[pos]

    sample = _rounds(src.clone(), src.clone(), draw, related, True, max_rounds)
    return sample.edge_index[1].clamp_min(0).view(b, k), sample.mask.view(b, k)


def fill_from_other_groups(
    u: Tensor,
    neg: Tensor,
    mask: Tensor,
    groups: NodeGroups,
    *,
    related: CSR,
    generator: torch.Generator,
    max_rounds: int,
) -> int:
    """Redraw the unfilled slots (``~mask``) of ``neg [B, k]`` in place, uniformly among
    the nodes of the groups other than anchor ``u``'s (rejecting ``u`` and relations;
    ``mask`` updated); returns how many slots were redrawn (0 with a single group)."""
    missing = (~mask).nonzero(as_tuple=True)
    if not (missing[0].numel() and groups.num_groups > 1):
        return 0
    # uniform among the other categories' nodes: skip the anchor's own segment
    src = u[missing[0]]
    own = groups.label[src]
    others = groups.label.numel() - groups.size[own]

    def draw(slots: Tensor | None) -> tuple[Tensor, Tensor]:
        s = slice(None) if slots is None else slots
        r = torch.rand(src[s].numel(), generator=generator, dtype=torch.float64)
        pos = (r * others[s]).long().clamp_max(others[s] - 1)
        pos = torch.where(pos >= groups.start[own[s]], pos + groups.size[own[s]], pos)
        return src[s], groups.order[pos]

    fill = _rounds(src.clone(), src.clone(), draw, related, True, max_rounds)
    neg[missing] = fill.edge_index[1].clamp_min(0)
    mask[missing] = fill.mask
    return int(missing[0].numel())
