"""Multi-positive InfoNCE (NT-Xent with labels) against loops and pytorch-metric-learning."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.functional.info_nce import supervised_info_nce
from tests.conftest import tol
from tests.functional.test_info_nce import ref_nll, ref_score


def ref_supervised(a, k, pos, drop, t, name="cosine"):
    """Per-anchor mean over positives of -log(e^s_p / (e^s_p + sum_neg e^s_n)); None if no
    positive."""
    out = []
    for i in range(a.shape[0]):
        s = [ref_score(name, a[i], k[j]) / t for j in range(k.shape[0])]
        negs = [s[j] for j in range(k.shape[0]) if not pos[i][j] and not drop[i][j]]
        terms = [ref_nll(s[j], negs) for j in range(k.shape[0]) if pos[i][j]]
        out.append(sum(terms) / len(terms) if terms else None)
    return out


@pytest.mark.parametrize("name", ["cosine", "sqeuclidean"])
def test_self_contrast_matches_loop(name: str, dtype: torch.dtype, gen: torch.Generator) -> None:
    z = torch.randn(9, 5, generator=gen, dtype=dtype)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 0])
    fn = torch.rand(9, 9, generator=gen) > 0.8
    got = supervised_info_nce(
        z, labels=y, false_negative_mask=fn, temperature=0.4, distance=name, reduction="none"
    )
    pos = [[bool(y[i] == y[j]) and i != j for j in range(9)] for i in range(9)]
    drop = [[bool(fn[i, j]) or i == j for j in range(9)] for i in range(9)]
    want = ref_supervised(z, z, pos, drop, 0.4, name)
    for i in range(9):
        expect = 0.0 if want[i] is None else want[i]
        assert got[i].item() == pytest.approx(
            expect, rel=1e-4 if dtype == torch.float32 else 1e-9, abs=1e-5
        )
    valid = [w for w in want if w is not None]
    mean = supervised_info_nce(z, labels=y, false_negative_mask=fn, temperature=0.4, distance=name)
    assert mean.item() == pytest.approx(sum(valid) / len(valid), rel=1e-4, abs=1e-5)


def test_keys_and_positive_mask(dtype: torch.dtype, gen: torch.Generator) -> None:
    a, k = (
        torch.randn(5, 4, generator=gen, dtype=dtype),
        torch.randn(7, 4, generator=gen, dtype=dtype),
    )
    y, ky = torch.tensor([0, 1, 2, 1, 4]), torch.tensor([0, 1, 1, 2, 3, 3, 0])
    mask = y[:, None] == ky[None]
    by_labels = supervised_info_nce(a, k, labels=y, key_labels=ky, reduction="none")
    by_mask = supervised_info_nce(a, k, positive_mask=mask, reduction="none")
    torch.testing.assert_close(by_labels, by_mask, **tol(dtype))
    want = ref_supervised(a, k, mask.tolist(), [[False] * 7] * 5, 0.07)
    for i in range(5):
        assert by_mask[i].item() == pytest.approx(want[i] or 0.0, rel=1e-4, abs=1e-5)
    # two views with one label vector: key i has labels[i], and is not a self-pair
    k5 = k[:5]
    torch.testing.assert_close(
        supervised_info_nce(a, k5, labels=y),
        supervised_info_nce(a, k5, positive_mask=y[:, None] == y[None]),
        **tol(dtype),
    )


def test_single_positive_reduces_to_info_nce(gen: torch.Generator) -> None:
    from contrastkit.functional.info_nce import info_nce

    a, p = (
        torch.randn(6, 4, generator=gen, dtype=torch.float64),
        torch.randn(6, 4, generator=gen, dtype=torch.float64),
    )
    eye = torch.eye(6, dtype=torch.bool)
    torch.testing.assert_close(supervised_info_nce(a, p, positive_mask=eye), info_nce(a, p))


def test_gradcheck(gen: torch.Generator) -> None:
    z = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    w = torch.rand(6, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda z, t: supervised_info_nce(z, labels=y, temperature=t, weight=w), (z, t)
    )


def test_degenerate(dtype: torch.dtype, gen: torch.Generator) -> None:
    z = torch.randn(4, 3, generator=gen, dtype=dtype, requires_grad=True)
    # all one label: every anchor has positives but no negatives -> loss 0, finite grads
    same = supervised_info_nce(z, labels=torch.zeros(4, dtype=torch.long))
    assert same.item() == 0.0
    (g,) = torch.autograd.grad(same, z)
    assert torch.isfinite(g).all()
    # all distinct labels: no anchor has a positive -> attached zero
    none = supervised_info_nce(z, labels=torch.arange(4))
    assert none.item() == 0.0 and none.requires_grad
    (g,) = torch.autograd.grad(none, z)
    assert torch.isfinite(g).all()
    # zero vectors and B = 1
    zero = torch.zeros(4, 3, dtype=dtype, requires_grad=True)
    loss = supervised_info_nce(zero, labels=torch.tensor([0, 0, 1, 1]))
    assert loss.item() == pytest.approx(math.log(3), rel=1e-5)
    assert torch.isfinite(torch.autograd.grad(loss, zero)[0]).all()
    assert supervised_info_nce(z[:1], labels=torch.zeros(1, dtype=torch.long)).item() == 0.0


def test_bad_input(gen: torch.Generator) -> None:
    z, y = torch.randn(4, 3, generator=gen), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match="labels"):
        supervised_info_nce(z)
    with pytest.raises(ValueError, match="labels"):
        supervised_info_nce(z, labels=y, positive_mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="labels"):
        supervised_info_nce(z, labels=y[:3])
    with pytest.raises(ValueError, match="key_labels"):
        supervised_info_nce(z, torch.randn(5, 3, generator=gen), labels=y)
    with pytest.raises(ValueError, match="key_labels"):
        supervised_info_nce(z, torch.randn(5, 3, generator=gen), labels=y, key_labels=y)
    with pytest.raises(ValueError, match="keys"):
        supervised_info_nce(
            z, torch.randn(5, 2, generator=gen), labels=y, key_labels=torch.zeros(5)
        )
    with pytest.raises(ValueError, match="positive_mask"):
        supervised_info_nce(z, positive_mask=torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="anchors"):
        supervised_info_nce(z[0], labels=y)
    with pytest.raises(ValueError, match="temperature"):
        supervised_info_nce(z, labels=y, temperature=0)


@pytest.mark.peers
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_matches_pml_ntxent_with_labels(temperature: float, gen: torch.Generator) -> None:
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    z = torch.randn(16, 8, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 5, 5, 5, 6])
    want = pml.NTXentLoss(temperature=temperature)(z, y)
    # pml averages over positive pairs: weight each anchor by its number of positives
    counts = ((y[:, None] == y[None]).sum(1) - 1).to(z.dtype)
    got = supervised_info_nce(z, labels=y, temperature=temperature, weight=counts)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # with equal class sizes the two averages coincide
    y2 = torch.arange(16) // 4
    want2 = pml.NTXentLoss(temperature=temperature)(z, y2)
    torch.testing.assert_close(
        supervised_info_nce(z, labels=y2, temperature=temperature), want2, atol=1e-5, rtol=1e-5
    )
    # reference embeddings with their own labels
    k, ky = torch.randn(10, 8, generator=gen, dtype=torch.float64), torch.arange(10) % 7
    want3 = pml.NTXentLoss(temperature=temperature)(z, y, ref_emb=k, ref_labels=ky)
    counts3 = (y[:, None] == ky[None]).sum(1).to(z.dtype)
    got3 = supervised_info_nce(
        z, k, labels=y, key_labels=ky, temperature=temperature, weight=counts3
    )
    torch.testing.assert_close(got3, want3, atol=1e-5, rtol=1e-5)
