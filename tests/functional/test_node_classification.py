"""Masked node classification: cross-entropy by hand, masking, unlabelled nodes, the head."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from contrastkit.functional.node_classification import node_classification_loss
from contrastkit.losses.node_classification import NodeClassificationLoss
from tests.conftest import tol


def _by_hand(logits: torch.Tensor, labels: torch.Tensor, keep: list[int], eps: float) -> float:
    c = logits.shape[1]
    terms = []
    for i in keep:
        logp = [float(v) for v in torch.log_softmax(logits[i].double(), 0)]
        nll = -logp[int(labels[i])]
        terms.append((1 - eps) * nll + eps * -sum(logp) / c)
    return sum(terms) / len(terms)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_equals_cross_entropy_by_hand(gen: torch.Generator, dtype: torch.dtype, eps: float) -> None:
    logits = torch.randn(10, 4, generator=gen, dtype=dtype)
    labels = torch.randint(0, 4, (10,), generator=gen)
    labels[2] = -1
    mask = torch.tensor([1, 1, 1, 0, 1, 0, 1, 1, 0, 1], dtype=torch.bool)
    keep = [i for i in range(10) if mask[i] and labels[i] >= 0]
    out = node_classification_loss(logits, labels, mask, label_smoothing=eps)
    assert out.item() == pytest.approx(_by_hand(logits, labels, keep, eps), rel=tol(dtype)["rtol"])
    want = F.cross_entropy(logits[keep], labels[keep], label_smoothing=eps)
    torch.testing.assert_close(out, want, **tol(dtype))
    # the library convention of ignore_index, for any negative label
    ignored = torch.where(mask & (labels >= 0), labels, torch.full_like(labels, -100))
    torch.testing.assert_close(
        out, F.cross_entropy(logits, ignored, label_smoothing=eps), **tol(dtype)
    )


def test_no_mask_reductions_and_unlabelled(gen: torch.Generator) -> None:
    logits = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 2, -1, 1, -5, 0, 2, 1])
    keep = labels >= 0
    per_node = node_classification_loss(logits, labels, reduction="none")
    want = F.cross_entropy(logits[keep], labels[keep], reduction="none")
    assert per_node.shape == (8,) and not per_node[~keep].any()
    torch.testing.assert_close(per_node[keep], want)
    torch.testing.assert_close(
        node_classification_loss(logits, labels, reduction="sum"), want.sum()
    )
    torch.testing.assert_close(node_classification_loss(logits, labels), want.mean())
    int32 = node_classification_loss(logits, labels.int())
    torch.testing.assert_close(int32, want.mean())


def test_gradients_reach_only_kept_rows(gen: torch.Generator) -> None:
    logits = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, -1, 1, 0])
    mask = torch.tensor([True, False, True, True, False, True])
    node_classification_loss(logits, labels, mask).backward()
    assert logits.grad is not None
    assert not logits.grad[[1, 3, 4]].any() and logits.grad[[0, 2, 5]].abs().sum(1).gt(0).all()
    # a softmax gradient sums to zero over the classes
    torch.testing.assert_close(logits.grad.sum(1), torch.zeros(6, dtype=torch.float64))


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_gradcheck(gen: torch.Generator, eps: float) -> None:
    logits = torch.randn(7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([3, 0, -1, 2, 1, 1, 0])
    mask = torch.tensor([True, True, True, False, True, True, False])
    for reduction in ("mean", "sum", "none"):

        def fn(x: torch.Tensor, r: str = reduction) -> torch.Tensor:
            return node_classification_loss(x, labels, mask, label_smoothing=eps, reduction=r)  # type: ignore[arg-type]

        assert torch.autograd.gradcheck(fn, (logits,))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_mask_is_attached_zero(gen: torch.Generator, reduction: str) -> None:
    logits = torch.randn(5, 3, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1])
    for mask, lab in (
        (torch.zeros(5, dtype=torch.bool), labels),
        (None, torch.full((5,), -1)),
    ):
        out = node_classification_loss(logits, lab, mask, reduction=reduction)  # type: ignore[arg-type]
        assert out.item() == 0.0 and out.requires_grad and not math.isnan(out.item())
        (grad,) = torch.autograd.grad(out, logits)
        assert not grad.any()
    empty = node_classification_loss(torch.zeros(0, 3, requires_grad=True), torch.zeros(0).long())
    assert empty.item() == 0.0 and empty.requires_grad


def test_module_head(gen: torch.Generator) -> None:
    z = torch.randn(12, 5, generator=gen)
    labels = torch.randint(0, 3, (12,), generator=gen)
    mask = torch.arange(12) < 8
    a = NodeClassificationLoss(
        5, 3, label_smoothing=0.1, generator=torch.Generator().manual_seed(0)
    )
    b = NodeClassificationLoss(
        5, 3, label_smoothing=0.1, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(a.head.weight, b.head.weight)
    assert a.head.weight.abs().max().item() <= 1 / math.sqrt(5)
    logits = z @ a.head.weight.T + a.head.bias
    torch.testing.assert_close(a.logits(z), logits)
    torch.testing.assert_close(
        a(z, labels, mask), node_classification_loss(logits, labels, mask, label_smoothing=0.1)
    )
    a(z, labels, mask).backward()
    assert a.head.weight.grad is not None and a.head.weight.grad.abs().sum() > 0
    assert "label_smoothing=0.1" in repr(a)
    no_bias = NodeClassificationLoss(5, 3, bias=False, reduction="none")
    assert no_bias.head.bias is None and no_bias(z, labels).shape == (12,)


def test_module_dropout_only_in_training(gen: torch.Generator) -> None:
    z = torch.randn(50, 8, generator=gen)
    labels = torch.randint(0, 2, (50,), generator=gen)
    head = NodeClassificationLoss(8, 2, dropout=0.5)
    torch.manual_seed(0)
    train_a, train_b = head(z, labels), head(z, labels)
    assert not torch.isclose(train_a, train_b)
    head.eval()
    torch.testing.assert_close(head(z, labels), node_classification_loss(head.head(z), labels))


def test_bad_inputs_name_the_argument() -> None:
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="logits"):
        node_classification_loss(torch.randn(4), labels)
    with pytest.raises(TypeError, match="logits"):
        node_classification_loss(logits.long(), labels)
    with pytest.raises(TypeError, match="labels"):
        node_classification_loss(logits, labels.float())
    with pytest.raises(ValueError, match="labels"):
        node_classification_loss(logits, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="labels"):
        node_classification_loss(logits, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(TypeError, match="mask"):
        node_classification_loss(logits, labels, torch.tensor([1, 0, 1, 0]))
    with pytest.raises(ValueError, match="mask"):
        node_classification_loss(logits, labels, torch.tensor([True, False]))
    with pytest.raises(ValueError, match="label_smoothing"):
        node_classification_loss(logits, labels, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        node_classification_loss(logits, labels, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim"):
        NodeClassificationLoss(0, 3)
    with pytest.raises(ValueError, match="num_classes"):
        NodeClassificationLoss(4, 0)
    with pytest.raises(ValueError, match="dropout"):
        NodeClassificationLoss(4, 3, dropout=1.0)
    with pytest.raises(ValueError, match="z"):
        NodeClassificationLoss(4, 3)(torch.randn(5, 2), torch.zeros(5).long())


@pytest.mark.parametrize(
    "module",
    ["contrastkit.functional.node_classification", "contrastkit.losses.node_classification"],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
