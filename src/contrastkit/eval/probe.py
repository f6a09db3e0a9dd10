r"""Linear probe: multinomial logistic regression on frozen embeddings.

The embeddings are standardised with the training split's mean and standard
deviation, then

.. math::
    \min_{W, b}\; \frac{1}{n}\sum_i \operatorname{CE}(W^\top z_i + b,\, y_i)
    + \frac{\lambda}{2}\|W\|_F^2

is solved to convergence with full-batch L-BFGS (strong Wolfe line search) in
float64. The split is stratified and reproducible from ``seed``: within every
class a random ``test_size`` share (at least one item when the class has two or
more) goes to the test set. Reported: test accuracy and macro-F1 (the mean over
classes present in the test labels or predictions of
:math:`2\,tp / (2\,tp + fp + fn)`, 0 when undefined, as scikit-learn).

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.arange(60) % 3
    >>> noise = 0.1 * torch.randn(60, 3, generator=g, dtype=torch.float64)
    >>> z = torch.nn.functional.one_hot(y).double() + noise
    >>> logistic_probe(z, y, seed=0)["accuracy"]
    1.0

Reference: Alain & Bengio, "Understanding intermediate layers using linear
classifier probes", ICLR workshop 2017.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_length,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_tensor,
)


def stratified_split(
    labels: Tensor, test_size: float = 0.3, *, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Indices ``(train [n_tr], test [n_te])`` of a stratified random split.

    Args:
        labels: ``[N]`` integer class labels.
        test_size: share of every class that goes to the test set, in ``(0, 1)``.
        seed: seed of the split's ``torch.Generator``.
    """
    y = _check_labels(labels)
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}")
    gen = torch.Generator().manual_seed(seed)
    keys = torch.rand(y.numel(), generator=gen, dtype=torch.float64)
    # Random order inside each class: sort by key, then stably by label.
    order = torch.argsort(keys)
    order = order[torch.argsort(y[order], stable=True)]
    counts = torch.bincount(y)
    start = torch.cumsum(counts, 0) - counts
    within = torch.arange(y.numel()) - start[y[order]]
    n_test = torch.floor(test_size * counts.to(torch.float64) + 0.5).to(torch.int64)
    n_test = torch.where(counts >= 2, n_test.clamp(1, None).minimum(counts - 1), 0)
    is_test = within < n_test[y[order]]
    return order[~is_test].sort().values, order[is_test].sort().values


def accuracy_and_macro_f1(pred: Tensor, target: Tensor) -> tuple[float, float]:
    """Accuracy and macro-F1 of integer predictions ``[n]`` against targets ``[n]``."""
    p, t = _check_labels(pred, "pred"), _check_labels(target, "target")
    check_length("pred", p, t.numel())
    if t.numel() == 0:
        raise ValueError("target is empty: accuracy is undefined")
    c = int(max(int(p.max()), int(t.max()))) + 1
    tp = torch.bincount(t[p == t], minlength=c).to(torch.float64)
    n_pred = torch.bincount(p, minlength=c).to(torch.float64)
    n_true = torch.bincount(t, minlength=c).to(torch.float64)
    denom = n_pred + n_true
    present = denom > 0
    f1 = torch.where(present, 2 * tp / denom.clamp_min(1.0), torch.zeros_like(tp))
    return float(tp.sum() / t.numel()), float(f1[present].mean())


def logistic_probe(
    embeddings: Tensor,
    labels: Tensor,
    *,
    test_size: float = 0.3,
    seed: int = 0,
    l2: float = 1e-4,
    max_iter: int = 200,
) -> dict[str, float]:
    """Fit a logistic-regression probe on a stratified split and score the test part.

    Args:
        embeddings: ``[N, d]`` frozen embeddings (detached internally).
        labels: ``[N]`` integer class labels, at least two classes.
        test_size: test share per class; default 0.3.
        seed: split seed; default 0.
        l2: weight decay :math:`\\lambda` on ``W``; default 1e-4.
        max_iter: L-BFGS iterations; default 200.

    Returns:
        ``{"accuracy", "macro_f1", "train_accuracy", "num_test"}``.
    """
    z = check_float_tensor("embeddings", embeddings, ndim=2).detach().to(torch.float64)
    check_finite("embeddings", z)
    y = _check_labels(labels)
    check_length("labels", y, z.shape[0])
    check_non_negative("l2", l2)
    check_positive_int("max_iter", max_iter)
    check_positive("test_size", test_size)
    if int(torch.unique(y).numel()) < 2:
        raise ValueError("labels must contain at least two classes for a probe")
    train, test = stratified_split(y, test_size, seed=seed)
    if test.numel() == 0:
        raise ValueError("the split left no test items: every class needs at least 2 members")
    mean = z[train].mean(0)
    std = z[train].std(0, unbiased=False).clamp_min(1e-12)
    zs = (z - mean) / std
    num_classes = int(y.max()) + 1
    w = torch.zeros(z.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9
    )
    x_tr, y_tr = zs[train], y[train]

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x_tr @ w + b, y_tr) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        pred = (zs @ w + b).argmax(1)
    acc, f1 = accuracy_and_macro_f1(pred[test], y[test])
    train_acc, _ = accuracy_and_macro_f1(pred[train], y[train])
    return {
        "accuracy": acc,
        "macro_f1": f1,
        "train_accuracy": train_acc,
        "num_test": float(test.numel()),
    }


def _check_labels(labels: object, name: str = "labels") -> Tensor:
    y = check_tensor(name, labels, ndim=1)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {y.dtype}")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"{name} must be non-negative class ids, got min {int(y.min())}")
    return y.to(torch.int64)
