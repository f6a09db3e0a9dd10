r"""The sparse, fused step for free embedding tables — the WordNet hot path.

A step over ``B`` relations with ``K`` negatives each touches at most ``B (K + 2)``
rows of an ``[N, d]`` table. The generic step (encoder forward, autograd through
the gather, a dense optimiser over the whole table) pays for all ``N`` rows and
for autograd's bookkeeping; this one does only what the update needs:

1. gather anchors ``u [B, d]`` and candidates ``c [B, 1 + K, d]`` (positive first);
2. the fused relation softmax (:func:`~contrastkit.functional.relation_loss.
   relation_softmax_loss`) and its hand-written backward, gradients taken with
   respect to the gathered rows only;
3. per-row gradient sums with ``index_add_`` (a row drawn twice gets both);
4. the update, applied only to the touched rows (or in one pass over the table
   when at least ~40 % of its rows are touched — cheaper than finding them):

   * Poincaré ball, curvature :math:`c` (Riemannian SGD with the retraction of
     Nickel & Kiela 2017, which is geoopt's ``RiemannianSGD`` step as well):

     .. math:: x \leftarrow \operatorname{proj}\Big(x - \eta\,
        \frac{(1 - c\|x\|^2)^2}{4}\, g\Big), \qquad
        \operatorname{proj}(x) = x \min\Big(1, \frac{1 - \epsilon}{\sqrt c\, \|x\|}\Big)

     with :math:`\epsilon = 4 \cdot 10^{-3}` by default, geoopt's float32 margin (so
     this step and geoopt's agree). That margin caps every distance from the origin at
     6.2, and with it how deep a hierarchy can be laid out; N&K's :math:`10^{-5}`
     (``loop.ball_eps``) reaches 12.2 but needs their small learning rate: at large
     ones rows are thrown to the boundary, where the metric factor freezes them.
     A float64 table (``encoder.dtype``) may go to :math:`10^{-8}` (19.1); float32
     cannot tell such a rim from 1;
   * Euclidean: plain SGD, :math:`x \leftarrow x - \eta g`.

With an accumulator the update is row-wise (Riemannian) Adagrad instead, PyTorch-
BigGraph's optimiser (:class:`~contrastkit.optim.row_adagrad.RowAdagrad`, whose state
the step shares). The result equals the generic step with ``rsgd`` / ``sgd`` /
``radagrad`` (no momentum, no weight decay) up to float rounding (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from contrastkit._validation import check_non_negative, check_positive
from contrastkit.functional.distances import Distance
from contrastkit.functional.relation_kernels import RELATION_DISTANCES
from contrastkit.functional.relation_loss import relation_softmax_loss
from contrastkit.functional.shared_relation_loss import shared_relation_softmax_loss
from contrastkit.models.embedding import EmbeddingTable

DEFAULT_BALL_EPS = 4e-3  # geoopt's PoincareBall margin for float32
FEATURE_MAJOR_MAX_DIM = 32


class SparseTableStep:
    """Gradients of a relation-softmax loss applied to the touched rows of ``table``.

    Args:
        table: the :class:`~contrastkit.models.embedding.EmbeddingTable` to train
            (Euclidean or Poincaré).
        distance: a distance with a fused kernel (``poincare``, ``sqeuclidean``, ``dot``).
        ball_eps: boundary margin of the Poincaré projection. Default ``4e-3``.
        max_row_step: > 0 caps the Euclidean length of each row's update (the
            summed gradients of a row drawn many times in one batch, e.g. the root
            of a hierarchy, would otherwise throw it to the boundary of the ball,
            where the metric factor freezes it). Default 0: no cap.

    Example:
        >>> t = EmbeddingTable(6, 2, init_scale=0.1, generator=torch.Generator().manual_seed(0))
        >>> from contrastkit.functional.distances import get_distance
        >>> step = SparseTableStep(t, get_distance("sqeuclidean"))
        >>> u, c = torch.tensor([0, 1]), torch.tensor([[2, 3, 4], [3, 4, 5]])
        >>> loss, grads = step.loss_and_grads(u, c, None, 1.0)
        >>> step.apply(step.candidate_rows(u, c, grads), lr=0.1)
        >>> loss.ndim, grads[1].shape
        (0, torch.Size([2, 3, 2]))
    """

    def __init__(
        self,
        table: EmbeddingTable,
        distance: Distance,
        ball_eps: float = DEFAULT_BALL_EPS,
        max_row_step: float = 0.0,
    ) -> None:
        if not isinstance(table, EmbeddingTable):
            raise TypeError(f"table must be an EmbeddingTable, got {type(table).__name__}")
        if distance.name not in RELATION_DISTANCES:
            raise ValueError(
                f"distance must be one of {RELATION_DISTANCES} for the sparse step, "
                f"got {distance.name!r}"
            )
        self.table = table
        self.distance = distance
        self.poincare = table.manifold == "poincare"
        self.curvature = float(table.curvature) if self.poincare else 0.0
        eps = check_positive("ball_eps", ball_eps)
        if eps >= 1.0:
            raise ValueError(f"ball_eps must be < 1, got {ball_eps}")
        self.max_norm = (1.0 - eps) / math.sqrt(self.curvature) if self.poincare else math.inf
        self.max_row_step = check_non_negative("max_row_step", max_row_step)
        n, d = table.weight.shape
        # narrow tables are stored feature-major ([d, N] storage behind the [N, d]
        # parameter): gathering and scatter-adding d planes of N floats is 2-4x faster
        # than rows of d floats (benchmarks/bench_relation_step.py); wide rows stay rows
        self.feature_major = d <= FEATURE_MAJOR_MAX_DIM
        with torch.no_grad():
            w = table.weight.detach()
            if self.feature_major and w.stride() != (1, n):
                table.weight.data = w.t().contiguous().t()
            elif not self.feature_major and not w.is_contiguous():
                table.weight.data = w.contiguous()
        self.store = self.weight.t() if self.feature_major else self.weight  # contiguous
        self.grad = torch.zeros_like(self.store)  # zero between steps: no state to checkpoint
        self.touched = torch.zeros(n, dtype=torch.bool)

    @property
    def weight(self) -> Tensor:
        """The table's parameter data, ``[N, d]`` (updated in place)."""
        return self.table.weight.detach()

    def _gather(self, ids: Tensor) -> Tensor:
        """Rows ``ids [M]`` as ``[M, d]`` (a transposed view when feature-major)."""
        if self.feature_major:
            return torch.gather(self.store, 1, ids.expand(self.store.shape[0], -1)).t()
        return self.store.index_select(0, ids)

    def _add(self, ids: Tensor, rows: Tensor) -> None:
        """``grad[ids] += rows`` (``rows [M, d]``), duplicates accumulating."""
        if self.feature_major:
            # rows gathered feature-major come back as transposed views: .t() is free
            self.grad.scatter_add_(1, ids.expand(self.grad.shape[0], -1), rows.t())
        else:
            self.grad.index_add_(0, ids, rows)

    def loss_and_grads(
        self,
        anchors: Tensor,
        candidates: Tensor,
        mask: Tensor | None,
        temperature: float,
        total: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The loss (detached) and the gradients of ``total(loss)`` (default: the loss;
        the trainer passes its combiner) with respect to the gathered anchor rows
        ``[B, d]`` and candidate rows ``[B, 1 + K, d]``. ``anchors [B]`` and
        ``candidates [B, 1 + K]`` are node ids, the positive in column 0; ``mask``
        ``[B, K]`` marks real negatives."""
        b, n = candidates.shape
        u = self._gather(anchors).requires_grad_()
        flat = self._gather(candidates.reshape(-1))  # [B (1 + K), d]
        # feature-major: a [B, 1 + K, d] view of the [d, B (1 + K)] planes, which the
        # fused kernel reads plane by plane
        c = flat.t().view(-1, b, n).permute(1, 2, 0) if self.feature_major else flat.view(b, n, -1)
        c.requires_grad_()
        with torch.enable_grad():
            loss = relation_softmax_loss(u, c, mask, temperature, self.distance)
            gu, gc = torch.autograd.grad(loss if total is None else total(loss), (u, c))
        return loss.detach(), (gu, gc)

    def shared_loss_and_grads(
        self,
        anchors: Tensor,
        positives: Tensor,
        negatives: Tensor,
        mask: Tensor | None,
        temperature: float,
        total: Callable[[Tensor], Tensor] | None = None,
        own: Tensor | None = None,
        own_mask: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """As :meth:`loss_and_grads` with negatives shared by groups of relations
        (PyTorch-BigGraph's batching): relation ``i`` uses ``negatives[i // m]``,
        ``m = ceil(B / G)`` for ``negatives [G, K]``; ``mask [B, K]``; and, if given,
        its ``own [B, H]`` negatives too (``own_mask [B, H]``; mined ones, say). The
        loss is :func:`~contrastkit.functional.shared_relation_loss.
        shared_relation_softmax_loss` (fused, hand-written backward): ``G K + B H`` rows
        gathered instead of ``B (K + H)``. Returns gradients for the anchor, positive,
        shared negative and own negative rows, ``[B, d]``, ``[B, d]``, ``[G, K, d]``
        and ``[B, H, d]`` (the last only with ``own``)."""
        g, k = negatives.shape
        u = self._gather(anchors).requires_grad_()
        p = self._gather(positives).requires_grad_()
        n = self._gather(negatives.reshape(-1)).reshape(g, k, -1).requires_grad_()
        leaves = [u, p, n]
        h = None
        if own is not None:
            h = self._gather(own.reshape(-1)).reshape(*own.shape, -1).requires_grad_()
            leaves.append(h)
        with torch.enable_grad():
            loss = shared_relation_softmax_loss(
                u, p, n, mask, temperature, self.distance, h, own_mask
            )
            grads = torch.autograd.grad(loss if total is None else total(loss), leaves)
        return loss.detach(), tuple(grads)

    @torch.no_grad()
    def apply(
        self,
        rows: list[tuple[Tensor, Tensor]],
        lr: float,
        accumulator: Tensor | None = None,
        eps: float = 1e-10,
    ) -> None:
        """Sum the gradient rows ``[(ids [M], grads [M, d]), ...]`` (duplicates
        accumulate) and update every touched row with learning rate ``lr``: (R)SGD,
        or with ``accumulator [N]`` (:class:`~contrastkit.optim.row_adagrad.RowAdagrad`'s
        ``sum``, updated in place) row-wise (Riemannian) Adagrad with ``eps``."""
        for ids, grads in rows:
            self._add(ids, grads)
        axis = 1 if self.feature_major else 0
        n = self.touched.numel()
        if accumulator is not None and accumulator.shape != (n,):
            raise ValueError(f"accumulator must have shape ({n},), got {tuple(accumulator.shape)}")
        # the accumulator as a row axis of the table's layout: [1, N] or [N, 1]
        acc = None if accumulator is None else accumulator.view((1, n) if axis else (n, 1))
        if 2 * sum(ids.numel() for ids, _ in rows) >= n:
            # >= ~40 % of rows touched (1 - exp(-2 B (K + 2) / N) for uniform draws): one
            # pass over the contiguous table; untouched rows have g = 0 and stay put
            self._update(self.store, self.grad, lr, axis, acc, eps)
            self.grad.zero_()
            return
        for ids, _ in rows:
            self.touched[ids] = True
        index = self.touched.nonzero().squeeze(1)
        x = self.store.index_select(axis, index)
        acc_rows = None if acc is None else acc.index_select(axis, index)
        self._update(x, self.grad.index_select(axis, index), lr, axis, acc_rows, eps)
        self.store.index_copy_(axis, index, x)
        if acc is not None and acc_rows is not None:
            acc.index_copy_(axis, index, acc_rows)
        self.grad.index_fill_(axis, index, 0.0)
        self.touched.index_fill_(0, index, False)

    @staticmethod
    def candidate_rows(
        anchors: Tensor, candidates: Tensor, grads: tuple[Tensor, Tensor]
    ) -> list[tuple[Tensor, Tensor]]:
        """:meth:`apply`'s rows for :meth:`loss_and_grads`' gradients."""
        gu, gc = grads
        flat = candidates.reshape(-1)
        return [(anchors, gu), (flat, gc.reshape(flat.numel(), -1))]

    def _update(
        self, x: Tensor, g: Tensor, lr: float, axis: int, acc: Tensor | None, eps: float
    ) -> None:
        """In place on rows ``x`` with their gradient sums ``g`` and, for Adagrad, their
        accumulators ``acc`` (in place); ``axis`` is the row axis."""
        feat = 1 - axis
        if self.poincare:
            # (1 - k|x|^2)^2 / 4: the inverse metric factor making g the Riemannian gradient
            sq = (x * x).sum(feat, keepdim=True)
            metric = torch.rsub(sq, 1.0, alpha=self.curvature).square_().mul_(0.25)
            scale = metric * -lr
        else:
            metric = None
            scale = torch.full((1, 1), -lr, dtype=x.dtype)
        if acc is not None:
            # row-wise Adagrad: s += |rgrad|_x^2 / d, the Riemannian norm being
            # (1 - k|x|^2)^2 / 4 |g|^2 on the ball; step -lr rgrad / (sqrt(s) + eps)
            square = (g * g).mean(feat, keepdim=True)
            acc.add_(square if metric is None else square.mul_(metric))
            scale = scale / acc.sqrt().add_(eps)
        if self.max_row_step > 0:
            # a row's step is at most max_row_step long: the gradients of a hub (a root
            # that is the positive of a tenth of all relations) sum over the whole batch
            step = g * scale
            length = (step * step).sum(feat, keepdim=True).sqrt_()
            x.addcmul_(step, (self.max_row_step / length.clamp_min_(1e-30)).clamp_max_(1.0))
        else:
            x.addcmul_(g, scale)
        if not self.poincare:
            return
        norm = (x * x).sum(feat, keepdim=True).sqrt_()
        x.mul_(self.max_norm / norm.clamp_min_(self.max_norm))
