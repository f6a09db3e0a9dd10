"""Feature reconstruction (MSE, BCE, CE): loops, torch equivalents, masks, gradcheck, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastkit.functional.feature_reconstruction import feature_reconstruction_loss
from tests.conftest import tol

D = torch.float64


def ref_per_node(pred, target, kind, feature_reduction="mean", pos_weight=1.0):
    out = []
    for i in range(pred.shape[0]):
        if kind == "ce":
            logits = pred[i].double().tolist()
            lse = math.log(sum(math.exp(v) for v in logits))
            if target.dim() == 1:
                out.append(lse - logits[int(target[i])])
            else:
                out.append(
                    sum(-float(t) * (v - lse) for t, v in zip(target[i], logits, strict=True))
                )
            continue
        vals = []
        for f in range(pred.shape[1]):
            x, y = float(pred[i, f]), float(target[i, f])
            if kind == "mse":
                vals.append((x - y) ** 2)
            else:
                log_p = -math.log1p(math.exp(-x))
                log_not_p = -math.log1p(math.exp(x))
                vals.append(-(pos_weight * y * log_p + (1 - y) * log_not_p))
        out.append(sum(vals) / (len(vals) if feature_reduction == "mean" else 1))
    return torch.tensor(out, dtype=D)


def _data(kind, gen, dtype, n=6, f=4):
    pred = torch.randn(n, f, generator=gen, dtype=dtype)
    if kind == "mse":
        return pred, torch.randn(n, f, generator=gen, dtype=dtype)
    if kind == "bce":
        return pred, (torch.rand(n, f, generator=gen) > 0.6).to(dtype)
    return pred, torch.randint(0, f, (n,), generator=gen)


@pytest.mark.parametrize("kind", ["mse", "bce", "ce"])
@pytest.mark.parametrize("feature_reduction", ["mean", "sum"])
def test_matches_brute_force_with_mask_and_weight(kind, feature_reduction, dtype, gen):
    pred, target = _data(kind, gen, dtype)
    mask = torch.tensor([True, False, True, True, False, True])
    w = torch.rand(6, generator=gen, dtype=dtype)
    per = ref_per_node(pred, target, kind, feature_reduction)
    none = feature_reconstruction_loss(
        pred,
        target,
        kind,
        node_mask=mask,
        weight=w,
        reduction="none",
        feature_reduction=feature_reduction,
    )
    want_none = torch.where(mask, per * w.double(), torch.zeros_like(per))
    torch.testing.assert_close(none.double(), want_none, **tol(dtype))
    mean = feature_reconstruction_loss(
        pred, target, kind, node_mask=mask, weight=w, feature_reduction=feature_reduction
    )
    want = want_none.sum() / (w.double() * mask).sum()
    torch.testing.assert_close(mean.double(), want, **tol(dtype))
    total = feature_reconstruction_loss(
        pred, target, kind, reduction="sum", feature_reduction=feature_reduction
    )
    torch.testing.assert_close(total.double(), per.sum(), **tol(dtype))


def test_equals_torch_losses(gen):
    pred, target = _data("mse", gen, torch.float32)
    torch.testing.assert_close(feature_reconstruction_loss(pred, target), F.mse_loss(pred, target))
    pred, target = _data("bce", gen, torch.float32)
    torch.testing.assert_close(
        feature_reconstruction_loss(pred, target, "bce"),
        F.binary_cross_entropy_with_logits(pred, target),
    )
    pw = torch.tensor([1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(
        feature_reconstruction_loss(pred, target, "bce", pos_weight=pw),
        F.binary_cross_entropy_with_logits(pred, target, pos_weight=pw),
    )
    pred, target = _data("ce", gen, torch.float32)
    torch.testing.assert_close(
        feature_reconstruction_loss(pred, target, "ce", label_smoothing=0.1),
        F.cross_entropy(pred, target, label_smoothing=0.1),
    )


def test_soft_targets_and_scalar_pos_weight(gen):
    pred = torch.randn(5, 3, generator=gen, dtype=D)
    soft = torch.softmax(torch.randn(5, 3, generator=gen, dtype=D), 1)
    got = feature_reconstruction_loss(pred, soft, "ce", reduction="none")
    torch.testing.assert_close(got, ref_per_node(pred, soft, "ce"))
    binary = (torch.rand(5, 3, generator=gen) > 0.5).to(D)
    got = feature_reconstruction_loss(pred, binary, "bce", pos_weight=2.5, reduction="none")
    torch.testing.assert_close(got, ref_per_node(pred, binary, "bce", pos_weight=2.5))


@pytest.mark.parametrize("kind", ["mse", "bce", "ce"])
def test_gradcheck(kind, gen):
    pred, target = _data(kind, gen, D, n=4, f=3)
    pred.requires_grad_()
    mask = torch.tensor([True, True, False, True])
    w = torch.rand(4, generator=gen, dtype=D)

    def fn(p):
        return feature_reconstruction_loss(p, target, kind, node_mask=mask, weight=w)

    assert torch.autograd.gradcheck(fn, (pred,), fast_mode=True)
    if kind == "ce":
        soft = torch.softmax(torch.randn(4, 3, generator=gen, dtype=D), 1)
        assert torch.autograd.gradcheck(
            lambda p: feature_reconstruction_loss(p, soft, "ce"), (pred,)
        )


@pytest.mark.parametrize("kind", ["mse", "bce", "ce"])
def test_all_masked_empty_and_extreme(kind, gen):
    pred, target = _data(kind, gen, torch.float32)
    pred.requires_grad_()
    loss = feature_reconstruction_loss(
        pred, target, kind, node_mask=torch.zeros(6, dtype=torch.bool)
    )
    assert loss.item() == 0.0 and loss.requires_grad
    (grad,) = torch.autograd.grad(loss, pred)
    assert torch.equal(grad, torch.zeros_like(pred))
    empty = feature_reconstruction_loss(pred[:0], target[:0], kind)
    assert empty.item() == 0.0 and empty.requires_grad
    big = feature_reconstruction_loss(1e4 * pred, target, kind)
    assert torch.isfinite(big)


def test_zero_features():
    pred, target = torch.zeros(3, 0, requires_grad=True), torch.zeros(3, 0)
    for kind in ["mse", "bce"]:
        loss = feature_reconstruction_loss(pred, target, kind)
        assert loss.item() == 0.0 and not torch.isnan(loss)


def test_bad_inputs():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="kind"):
        feature_reconstruction_loss(x, x, "l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target"):
        feature_reconstruction_loss(x, x[:, :2])
    with pytest.raises(ValueError, match="pred"):
        feature_reconstruction_loss(x[0], x[0])
    with pytest.raises(ValueError, match="target"):
        feature_reconstruction_loss(x, torch.tensor([0, 1, 3, 0]), "ce")
    with pytest.raises(ValueError, match="target"):
        feature_reconstruction_loss(x, torch.tensor([0, 1, 2]), "ce")
    with pytest.raises(TypeError, match="target"):
        feature_reconstruction_loss(x, torch.tensor([0.0, 1.0, 2.0, 0.0]), "ce")
    with pytest.raises(ValueError, match="target"):
        feature_reconstruction_loss(x, torch.tensor([0, 1, 2, 0]), "mse")
    with pytest.raises(ValueError, match="node_mask"):
        feature_reconstruction_loss(x, x, node_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="node_mask"):
        feature_reconstruction_loss(x, x, node_mask=torch.ones(4))
    with pytest.raises(ValueError, match="weight"):
        feature_reconstruction_loss(x, x, weight=torch.ones(5))
    with pytest.raises(ValueError, match="pos_weight"):
        feature_reconstruction_loss(x, x.sigmoid(), "bce", pos_weight=torch.ones(2))
    with pytest.raises(ValueError, match="pos_weight"):
        feature_reconstruction_loss(x, x.sigmoid(), "bce", pos_weight=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        feature_reconstruction_loss(x, torch.tensor([0, 1, 2, 0]), "ce", label_smoothing=1.5)
    with pytest.raises(ValueError, match="feature_reduction"):
        feature_reconstruction_loss(x, x, feature_reduction="max")  # type: ignore[arg-type]
