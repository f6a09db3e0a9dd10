r"""In-batch contrastive losses over the candidates of every rank.

The objectives of :mod:`~contrastkit.objectives.entries_contrastive` whose negatives
are the batch's other pairs (in-batch InfoNCE, symmetric, multi-positive; MNR) take
this path when a process group is running and ``distributed.gather`` is ``local`` or
``full``. The candidates come from :func:`~contrastkit.dist.in_batch.gather_in_batch`
in the single-process layout, so with query rows :math:`q` (this rank's anchors, or
all of them) the logits are the rows :math:`q` of the single-process ``[W B, C]``
matrix and every mask is computed from global ids and labels:

.. math:: \ell_m = \operatorname{logsumexp}_{c \notin F_m} S_{mc} - S_{m, q_m},
   \qquad F_m = \{c \ne q_m : \mathrm{id}(p_c) \in \{\mathrm{id}(p_{q_m}),
   \mathrm{id}(a_{q_m})\} \ \lor\ y(p_c) = y(a_{q_m}) \ge 0\}

(the anchor's positive item or its own item, or the same label), or the pair is
forbidden by the batch's rule (``Batch.forbidden`` on global item ids: a text task's
structural filter, which one process reads from ``false_negatives [U, U]``) — as the
single-process ``in_batch_false_negatives``; a hard-negative column is dropped when
its slot is empty, is the anchor's positive or own item, carries the anchor's label
or is a forbidden pair. The loss is the mean over the query rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit.dist.in_batch import InBatchView
from contrastkit.functional.distances import Distance
from contrastkit.functional.info_nce import pairwise_logits, supervised_info_nce


def in_batch_mask(view: InBatchView, rows: Tensor, cols: Tensor | None = None) -> Tensor:
    """``[len(rows), len(cols)]`` True where positive column ``c`` is a false negative
    of the anchor at global row ``i`` (its positive item, its own item, its label, or a
    pair the batch's rule forbids);
    the anchor's own column is never set. ``cols`` defaults to every row."""
    cols = torch.arange(view.num_rows, device=rows.device) if cols is None else cols
    pid = view.positive_ids
    same = pid[rows].unsqueeze(1) == pid[cols].unsqueeze(0)
    same |= view.anchor_ids[rows].unsqueeze(1) == pid[cols].unsqueeze(0)
    if view.forbidden is not None:
        same |= view.forbidden(view.anchor_ids[rows], pid[cols]).to(same.device)
    if view.anchor_labels is not None and view.positive_labels is not None:
        a = view.anchor_labels[rows].unsqueeze(1)
        same |= (a == view.positive_labels[cols].unsqueeze(0)) & (a >= 0)
    return same & (rows.unsqueeze(1) != cols.unsqueeze(0))


def hard_negative_mask(view: InBatchView, rows: Tensor) -> Tensor:
    """``[len(rows), K N]`` True where hard-negative column ``h N + j`` (row ``j``'s
    ``h``-th negative, sentence-transformers' order) may not be a negative of the
    anchor at global row ``i``: an empty slot, its positive or own item, its label, or
    a pair the batch's rule forbids."""
    cols = view.negative_ids.t().reshape(-1)
    valid = view.negative_mask.t().reshape(-1)
    bad = ~valid.unsqueeze(0) | (cols.unsqueeze(0) == view.positive_ids[rows].unsqueeze(1))
    bad |= cols.unsqueeze(0) == view.anchor_ids[rows].unsqueeze(1)
    if view.forbidden is not None:
        bad |= view.forbidden(view.anchor_ids[rows], cols).to(bad.device)
    if view.anchor_labels is not None and view.negative_labels is not None:
        a = view.anchor_labels[rows].unsqueeze(1)
        bad |= (view.negative_labels.t().reshape(-1).unsqueeze(0) == a) & (a >= 0)
    return bad


def _reverse(
    view: InBatchView, distance: Distance, scale: float | Tensor, fn: Tensor | None
) -> Tensor:
    """The positive-to-anchor direction of the query rows' positives: ``[M]`` losses of
    ``p_{q_m}`` against every anchor (CLIP's second term), masked with ``fn[i, q_m]``."""
    q = view.query
    logits = pairwise_logits(distance, view.all_anchors, view.positives[q], scale).T  # [M, N]
    if fn is not None:
        logits = logits.masked_fill(fn, float("-inf"))
    return F.cross_entropy(logits, q, reduction="none")


def gathered_info_nce(
    view: InBatchView, temperature: float | Tensor, distance: Distance, symmetric: bool
) -> Tensor:
    """In-batch InfoNCE over the gathered candidates (mean over the query rows)."""
    q = view.query
    inv_t = 1.0 / temperature
    logits = pairwise_logits(distance, view.anchors, view.positives, inv_t)  # [M, N]
    logits = logits.masked_fill(in_batch_mask(view, q), float("-inf"))
    losses = F.cross_entropy(logits, q, reduction="none")
    if symmetric:
        all_rows = torch.arange(view.num_rows, device=q.device)
        fn_rev = in_batch_mask(view, all_rows, q).T  # [M, N]: fn[i, q_m]
        losses = 0.5 * (losses + _reverse(view, distance, inv_t, fn_rev))
    return losses.mean()


def gathered_supervised_info_nce(
    view: InBatchView, temperature: float | Tensor, distance: Distance
) -> Tensor:
    """Multi-positive InfoNCE over the gathered keys: each same-label key (and the
    anchor's own) is a positive; another copy of the anchor's positive item is
    neither positive nor negative."""
    labels_a, labels_p = view.anchor_labels, view.positive_labels
    if labels_a is None or labels_p is None:
        raise ValueError("objectives.infonce.multi_positive needs a batch with labels")
    q = view.query
    a = labels_a[q].unsqueeze(1)
    cols = torch.arange(view.num_rows, device=q.device)
    positive = ((a == labels_p.unsqueeze(0)) & (a >= 0)) | (q.unsqueeze(1) == cols.unsqueeze(0))
    same_item = view.positive_ids[q].unsqueeze(1) == view.positive_ids.unsqueeze(0)
    return supervised_info_nce(
        view.anchors,
        view.positives,
        positive_mask=positive,
        false_negative_mask=same_item & ~positive,
        temperature=temperature,
        distance=distance,
    )


def gathered_mnr(view: InBatchView, scale: float, distance: Distance, symmetric: bool) -> Tensor:
    """MNR over the gathered candidates ``[positives; hard-negative columns]``."""
    q = view.query
    n, k = view.negative_ids.shape
    candidates = view.positives
    fn = in_batch_mask(view, q)
    if k:
        d = view.positives.shape[1]
        candidates = torch.cat([view.positives, view.negatives.transpose(0, 1).reshape(k * n, d)])
        fn = torch.cat([fn, hard_negative_mask(view, q)], dim=1)
    logits = pairwise_logits(distance, view.anchors, candidates, scale)
    logits = logits.masked_fill(fn, float("-inf"))
    losses = F.cross_entropy(logits, q, reduction="none")
    if symmetric:
        all_rows = torch.arange(n, device=q.device)
        fn_rev = in_batch_mask(view, all_rows, q).T
        losses = 0.5 * (losses + _reverse(view, distance, scale, fn_rev))
    return losses.mean()
