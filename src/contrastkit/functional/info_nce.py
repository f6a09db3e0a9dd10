r"""InfoNCE with explicit or in-batch negatives, and its multi-positive form.

For an anchor :math:`a_i`, its positive :math:`p_i` and a candidate set :math:`C_i`
(the positive plus negatives), with scores :math:`s(\cdot,\cdot)` where larger means
closer (see :mod:`contrastkit.functional.distances`) and temperature :math:`\tau`:

.. math::
    \ell_i = -\log \frac{\exp(s(a_i, p_i)/\tau)}{\sum_{c \in C_i} \exp(s(a_i, c)/\tau)}
           = \operatorname{logsumexp}_{c \in C_i} \frac{s(a_i, c)}{\tau} - \frac{s(a_i, p_i)}{\tau}.

With cosine scores this is InfoNCE / NT-Xent (van den Oord et al. 2018; Chen et al.
2020); with ``distance="poincare"`` (scores are negative distances) and explicit
negatives it is the distance-softmax loss of Nickel & Kiela (2017). Every path is
computed on logits with ``cross_entropy`` / ``logsumexp``; the plain in-batch path is
one normalisation, one GEMM (the :math:`1/\tau` is folded into the ``[B, d]`` operand)
and one ``cross_entropy``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_length, check_positive
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.functional.reduction import check_reduction, reduce_loss


def check_temperature(temperature: float | Tensor, name: str = "temperature") -> float | Tensor:
    """A positive finite number, or a 0-dim floating tensor (e.g. a learnable
    :class:`~contrastkit.losses.temperature.Temperature`) with a positive value."""
    if isinstance(temperature, Tensor):
        if temperature.dim() != 0:
            raise ValueError(f"{name} must be a 0-dim tensor, got shape {tuple(temperature.shape)}")
        if not temperature.is_floating_point():
            raise TypeError(f"{name} must be floating point, got dtype {temperature.dtype}")
        value = float(temperature.detach())
        if not (value > 0 and value != float("inf")):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        return temperature
    return check_positive(name, temperature)


def check_mask(name: str, mask: Tensor | None, shape: tuple[int, ...]) -> Tensor | None:
    """An optional boolean mask of exactly ``shape``."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor, got dtype {mask.dtype}")
    if tuple(mask.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(mask.shape)}")
    return mask


def check_anchor_positive(anchors: Tensor, positives: Tensor) -> None:
    """``anchors`` and ``positives`` are ``[B, d]`` floating tensors of one shape and dtype."""
    check_float_tensor("anchors", anchors, ndim=2)
    check_float_tensor("positives", positives, ndim=2)
    if positives.shape != anchors.shape:
        raise ValueError(
            f"positives must have the shape of anchors {tuple(anchors.shape)}, "
            f"got {tuple(positives.shape)}"
        )
    if positives.dtype != anchors.dtype:
        raise TypeError(f"positives has dtype {positives.dtype} but anchors {anchors.dtype}")


def check_negatives(negatives: Tensor, anchors: Tensor, ndim: tuple[int, ...] = (3,)) -> None:
    """``negatives`` is ``[B, K, d]`` (or ``[B, d]`` where ``ndim`` allows) matching anchors."""
    check_float_tensor("negatives", negatives, ndim=ndim)
    check_length("negatives", negatives, anchors.shape[0])
    if negatives.shape[-1] != anchors.shape[-1]:
        raise ValueError(
            f"negatives has embedding dimension {negatives.shape[-1]} "
            f"but anchors has {anchors.shape[-1]}"
        )
    if negatives.dtype != anchors.dtype:
        raise TypeError(f"negatives has dtype {negatives.dtype} but anchors {anchors.dtype}")


def pairwise_logits(
    dist: Distance,
    x: Tensor,
    y: Tensor,
    scale: float | Tensor,
    names: tuple[str, str] = ("anchors", "positives"),
) -> Tensor:
    """``scale * score(x_i, y_j)`` as ``[N, M]``; for inner-product distances the scale
    multiplies the ``[N, d]`` operand, so the only ``[N, M]`` pass is the GEMM itself."""
    if dist.is_inner_product:
        return (dist.prepare(x) * scale) @ dist.prepare(y).T
    return dist.score_pairwise(x, y, names=names) * scale


def info_nce(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    *,
    negative_mask: Tensor | None = None,
    false_negative_mask: Tensor | None = None,
    temperature: float | Tensor = 0.07,
    distance: str | Distance = "cosine",
    symmetric: bool = False,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""InfoNCE with explicit per-anchor negatives or with in-batch negatives.

    * ``negatives`` given (``[B, K, d]``): :math:`C_i = \{p_i\} \cup \{n_{ik}\}_k`. Entries
      with ``negative_mask[i, k] == False`` (missing) or ``false_negative_mask[i, k] ==
      True`` (known false negatives) are dropped from :math:`C_i`.
    * ``negatives=None``: in-batch, :math:`C_i = \{p_1, \dots, p_B\}` (logits ``[B, B]``,
      target on the diagonal); ``false_negative_mask [B, B]`` drops entries (its diagonal
      is ignored). ``symmetric=True`` averages this with the key-to-anchor direction,
      :math:`\tfrac12(\ell_i + \ell'_i)` where :math:`\ell'_i` is the loss of :math:`p_i`
      against :math:`\{a_1..a_B\}` (CLIP).

    An anchor whose negatives are all dropped keeps only its positive, so its loss is
    exactly :math:`-\log 1 = 0` and it still counts in the ``mean`` (finite, no NaN).

    Args:
        anchors: ``[B, d]``. positives: ``[B, d]``. negatives: ``[B, K, d]`` or ``None``.
        negative_mask: bool ``[B, K]``, True = a real negative (explicit negatives only).
        false_negative_mask: bool ``[B, K]`` or ``[B, B]``, True = exclude.
        temperature: float or 0-dim tensor > 0 (learnable). Default 0.07.
        distance: name or :class:`Distance`. Default ``"cosine"``.
        symmetric: in-batch only. Default False.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. weight: optional ``[B]`` >= 0.

    Returns:
        scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> a, p = torch.randn(8, 16), torch.randn(8, 16)
        >>> info_nce(a, p, temperature=0.1).shape
        torch.Size([])
    """
    check_anchor_positive(anchors, positives)
    reduction = check_reduction(reduction)
    inv_t = 1.0 / check_temperature(temperature)
    dist = get_distance(distance)
    b = anchors.shape[0]
    if negatives is not None:
        check_negatives(negatives, anchors)
        if symmetric:
            raise ValueError("symmetric=True needs in-batch negatives (negatives=None)")
        k = negatives.shape[1]
        keep = check_mask("negative_mask", negative_mask, (b, k))
        fn = check_mask("false_negative_mask", false_negative_mask, (b, k))
        if dist.is_inner_product:
            # normalise each operand once; [B, K] scores by one batched matrix-vector product
            q = dist.prepare(anchors) * inv_t
            pos = (q * dist.prepare(positives)).sum(-1)
            neg = torch.bmm(dist.prepare(negatives), q.unsqueeze(-1)).squeeze(-1)
        else:
            pos = dist.score_paired(anchors, positives, names=("anchors", "positives")) * inv_t
            neg = (
                dist.score_paired(anchors.unsqueeze(1), negatives, names=("anchors", "negatives"))
                * inv_t
            )
        drop = fn if keep is None else (~keep if fn is None else ~keep | fn)
        if drop is not None:
            neg = neg.masked_fill(drop, float("-inf"))
        logits = torch.cat([pos.unsqueeze(1), neg], dim=1)
        target = torch.zeros(b, dtype=torch.long, device=anchors.device)
        return reduce_loss(F.cross_entropy(logits, target, reduction="none"), reduction, weight)
    if negative_mask is not None:
        raise ValueError("negative_mask applies to explicit negatives; got negatives=None")
    fn = check_mask("false_negative_mask", false_negative_mask, (b, b))
    logits = pairwise_logits(dist, anchors, positives, inv_t)
    if fn is not None:
        eye = torch.eye(b, dtype=torch.bool, device=fn.device)
        logits = logits.masked_fill(fn & ~eye, float("-inf"))
    target = torch.arange(b, device=anchors.device)
    if not symmetric and weight is None and b > 0:
        # the hot path: nothing between the GEMM and cross_entropy
        return F.cross_entropy(logits, target, reduction=reduction)
    losses = F.cross_entropy(logits, target, reduction="none")
    if symmetric:
        losses = 0.5 * (losses + F.cross_entropy(logits.T, target, reduction="none"))
    return reduce_loss(losses, reduction, weight)


def supervised_info_nce(
    anchors: Tensor,
    keys: Tensor | None = None,
    *,
    labels: Tensor | None = None,
    key_labels: Tensor | None = None,
    positive_mask: Tensor | None = None,
    false_negative_mask: Tensor | None = None,
    temperature: float | Tensor = 0.07,
    distance: str | Distance = "cosine",
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Multi-positive InfoNCE (NT-Xent with labels): each positive against the negatives.

    With logits :math:`S = s(a, k)/\tau` (``[B, M]``), positives :math:`P(i)` and
    negatives :math:`N(i)` (candidates that are neither positive nor excluded):

    .. math::
        \ell_i = \frac{1}{|P(i)|}\sum_{j \in P(i)} -\log
            \frac{e^{S_{ij}}}{e^{S_{ij}} + \sum_{n \in N(i)} e^{S_{in}}}
          = \frac{1}{|P(i)|}\sum_{j \in P(i)}
            \operatorname{softplus}\big(\operatorname{logsumexp}_{n \in N(i)} S_{in} - S_{ij}\big).

    Other positives are *not* in the denominator (the variant of pytorch-metric-learning's
    ``NTXentLoss`` with labels; SupCon's :math:`L^{sup}_{out}` would include them).
    Anchors are averaged over their own positives (SupCon style); pytorch-metric-learning
    averages over all positive *pairs* instead — pass ``weight=`` the per-anchor positive
    counts to get exactly that. An anchor without positives is left out of the
    ``mean``/``sum`` (0 under ``"none"``); one without negatives has loss 0.

    Args:
        anchors: ``[B, d]``. keys: ``[M, d]``, or ``None`` to contrast ``anchors`` with
            themselves (self-pairs excluded, SimCLR/SupCon with views concatenated).
        labels: ``[B]`` integer labels; positives are keys with an equal label.
        key_labels: ``[M]`` labels of ``keys`` (default ``labels``, needs ``M == B``).
        positive_mask: bool ``[B, M]`` instead of labels (exactly one of the two).
        false_negative_mask: bool ``[B, M]``, True = exclude from the negatives.
        temperature, distance, reduction, weight: as in :func:`info_nce`.

    Returns:
        scalar, or ``[B]`` for ``reduction="none"``.

    Example:
        >>> z, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
        >>> float(supervised_info_nce(z, labels=y)) > 0
        True
    """
    check_float_tensor("anchors", anchors, ndim=2)
    self_keys = keys is None
    keys_t = anchors if keys is None else keys
    if not self_keys:
        check_float_tensor("keys", keys_t, ndim=2)
        if keys_t.shape[1] != anchors.shape[1] or keys_t.dtype != anchors.dtype:
            raise ValueError(
                f"keys must be [M, {anchors.shape[1]}] of dtype {anchors.dtype}, "
                f"got {tuple(keys_t.shape)} {keys_t.dtype}"
            )
    reduction = check_reduction(reduction)
    inv_t = 1.0 / check_temperature(temperature)
    dist = get_distance(distance)
    b, m = anchors.shape[0], keys_t.shape[0]
    if (labels is None) == (positive_mask is None):
        raise ValueError("give exactly one of labels and positive_mask")
    if positive_mask is not None:
        check_mask("positive_mask", positive_mask, (b, m))
        positive = positive_mask
    else:
        positive = _label_mask(labels, key_labels, b, m)
    drop = check_mask("false_negative_mask", false_negative_mask, (b, m))
    if self_keys:
        eye = torch.eye(b, dtype=torch.bool, device=anchors.device)
        positive = positive & ~eye
        drop = eye if drop is None else drop | eye
    negative = ~positive if drop is None else ~(positive | drop)
    logits = pairwise_logits(dist, anchors, keys_t, inv_t, ("anchors", "keys"))
    # a finite floor instead of -inf keeps the backward of an all-masked row free of NaN
    floor = torch.finfo(logits.dtype).min
    neg_lse = torch.logsumexp(logits.masked_fill(~negative, floor), dim=1, keepdim=True)
    pair = F.softplus(neg_lse - logits)
    counts = positive.sum(1)
    per_anchor = (pair * positive.to(pair.dtype)).sum(1) / counts.clamp_min(1).to(pair.dtype)
    return reduce_loss(per_anchor, reduction, weight, valid=counts > 0)


def _label_mask(labels: Tensor | None, key_labels: Tensor | None, b: int, m: int) -> Tensor:
    """``labels[i] == key_labels[j]`` as bool ``[B, M]``."""
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.shape[0] != b:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-d tensor of length {b}, got {shape}")
    if key_labels is None:
        if m != b:
            raise ValueError(f"key_labels is required when keys has {m} rows != {b} anchors")
        key_labels = labels
    elif not isinstance(key_labels, Tensor) or key_labels.dim() != 1 or key_labels.shape[0] != m:
        shape = tuple(key_labels.shape) if isinstance(key_labels, Tensor) else key_labels
        raise ValueError(f"key_labels must be a 1-d tensor of length {m}, got {shape}")
    return labels.unsqueeze(1) == key_labels.unsqueeze(0)
