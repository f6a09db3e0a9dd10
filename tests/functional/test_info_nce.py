"""InfoNCE (explicit, in-batch, symmetric) against brute-force loops, autograd and peers."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit.functional.info_nce import info_nce
from tests.conftest import tol

DISTANCES = ["cosine", "dot", "sqeuclidean", "poincare"]


def ref_score(name: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """Score (larger = closer) of two 1-d vectors, written out per formula."""
    xs, ys = x.tolist(), y.tolist()
    dot = sum(a * b for a, b in zip(xs, ys, strict=True))
    nx, ny = math.sqrt(sum(a * a for a in xs)), math.sqrt(sum(b * b for b in ys))
    sq = sum((a - b) ** 2 for a, b in zip(xs, ys, strict=True))
    if name == "cosine":
        return dot / (max(nx, 1e-8) * max(ny, 1e-8))
    if name == "dot":
        return dot
    if name == "sqeuclidean":
        return -sq
    if name == "poincare":
        return -math.acosh(1 + 2 * sq / ((1 - nx * nx) * (1 - ny * ny)))
    raise AssertionError(name)


def ref_nll(pos: float, others: list[float]) -> float:
    """-log softmax of ``pos`` among ``[pos] + others`` (max-shifted, as a loop)."""
    m = max([pos, *others])
    z = math.exp(pos - m) + sum(math.exp(o - m) for o in others)
    return -(pos - m - math.log(z))


def make(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, ball: bool = False):
    x = torch.randn(*shape, generator=gen, dtype=dtype)
    return x * 0.3 / math.sqrt(shape[-1]) if ball else x


@pytest.mark.parametrize("name", DISTANCES)
def test_explicit_negatives_match_loop(name: str, dtype: torch.dtype, gen: torch.Generator) -> None:
    b, k, d, t = 5, 4, 6, 0.5
    ball = name == "poincare"
    a, p, n = (
        make(gen, b, d, dtype=dtype, ball=ball),
        make(gen, b, d, dtype=dtype, ball=ball),
        make(gen, b, k, d, dtype=dtype, ball=ball),
    )
    keep = torch.rand(b, k, generator=gen) > 0.3
    fn = torch.rand(b, k, generator=gen) > 0.7
    got = info_nce(
        a,
        p,
        n,
        negative_mask=keep,
        false_negative_mask=fn,
        temperature=t,
        distance=name,
        reduction="none",
    )
    for i in range(b):
        others = [
            ref_score(name, a[i], n[i, j]) / t for j in range(k) if keep[i, j] and not fn[i, j]
        ]
        want = ref_nll(ref_score(name, a[i], p[i]) / t, others)
        assert got[i].item() == pytest.approx(
            want, rel=1e-4 if dtype == torch.float32 else 1e-9, abs=1e-5
        )


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize("symmetric", [False, True])
def test_in_batch_matches_loop(
    name: str, symmetric: bool, dtype: torch.dtype, gen: torch.Generator
) -> None:
    b, d, t = 6, 5, 0.3
    ball = name == "poincare"
    a, p = make(gen, b, d, dtype=dtype, ball=ball), make(gen, b, d, dtype=dtype, ball=ball)
    fn = torch.rand(b, b, generator=gen) > 0.6
    got = info_nce(
        a,
        p,
        false_negative_mask=fn,
        temperature=t,
        distance=name,
        symmetric=symmetric,
        reduction="none",
    )
    for i in range(b):
        s = [ref_score(name, a[i], p[j]) / t for j in range(b)]
        row = ref_nll(s[i], [s[j] for j in range(b) if j != i and not fn[i, j]])
        if symmetric:
            c = [ref_score(name, a[j], p[i]) / t for j in range(b)]
            row = 0.5 * (row + ref_nll(c[i], [c[j] for j in range(b) if j != i and not fn[j, i]]))
        assert got[i].item() == pytest.approx(
            row, rel=1e-4 if dtype == torch.float32 else 1e-9, abs=1e-5
        )


def test_reductions_and_weights(dtype: torch.dtype, gen: torch.Generator) -> None:
    a, p = make(gen, 7, 4, dtype=dtype), make(gen, 7, 4, dtype=dtype)
    w = torch.rand(7, generator=gen, dtype=dtype)
    per = info_nce(a, p, reduction="none")
    torch.testing.assert_close(info_nce(a, p), per.mean(), **tol(dtype))
    torch.testing.assert_close(info_nce(a, p, reduction="sum"), per.sum(), **tol(dtype))
    torch.testing.assert_close(info_nce(a, p, weight=w), (w * per).sum() / w.sum(), **tol(dtype))
    torch.testing.assert_close(info_nce(a, p, weight=w, reduction="none"), w * per, **tol(dtype))


def test_in_batch_is_cross_entropy_of_scaled_cosine(gen: torch.Generator) -> None:
    a, p = make(gen, 9, 8), make(gen, 9, 8)
    logits = (
        torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(p, dim=1).T / 0.07
    )
    want = torch.nn.functional.cross_entropy(logits, torch.arange(9))
    torch.testing.assert_close(info_nce(a, p), want)


@pytest.mark.parametrize("name", DISTANCES)
def test_gradcheck(name: str, gen: torch.Generator) -> None:
    ball = name == "poincare"
    a, p = make(gen, 4, 3, ball=ball).requires_grad_(), make(gen, 4, 3, ball=ball).requires_grad_()
    n = make(gen, 4, 2, 3, ball=ball).requires_grad_()
    keep = torch.tensor([[True, False], [True, True], [False, False], [True, True]])
    t = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    w = torch.rand(4, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, p, n, t: info_nce(
            a, p, n, negative_mask=keep, temperature=t, distance=name, weight=w
        ),
        (a, p, n, t),
    )
    fn = torch.eye(4, dtype=torch.bool).roll(1, 0)
    assert torch.autograd.gradcheck(
        lambda a, p, t: info_nce(
            a, p, temperature=t, distance=name, symmetric=True, false_negative_mask=fn
        ),
        (a, p, t),
    )


def _cos_grad(a: list[float], b: list[float], g: float) -> tuple[list[float], list[float]]:
    """The original design's hand-derived cosine-similarity gradient (section 1.1)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    ga = [g * (b[i] / (na * nb) - a[i] * dot / (na**3 * nb)) for i in range(len(a))]
    gb = [g * (a[i] / (na * nb) - b[i] * dot / (na * nb**3)) for i in range(len(a))]
    return ga, gb


def test_hand_derived_gradients_match_autograd(gen: torch.Generator) -> None:
    """Seed section 1.1: d loss/d sim_pos = -(1 - p_pos)/tau, d loss/d sim_neg = p_neg/tau,
    chained through the hand-written cosine gradient, summed over the batch."""
    b, k, d, t = 3, 4, 5, 0.2
    a, p, n = (
        make(gen, b, d).requires_grad_(),
        make(gen, b, d).requires_grad_(),
        make(gen, b, k, d).requires_grad_(),
    )
    info_nce(a, p, n, temperature=t, reduction="sum").backward()
    for i in range(b):
        ai, pi = a[i].tolist(), p[i].tolist()
        logits = [ref_score("cosine", a[i], p[i]) / t] + [
            ref_score("cosine", a[i], n[i, j]) / t for j in range(k)
        ]
        m = max(logits)
        z = sum(math.exp(v - m) for v in logits)
        prob = [math.exp(v - m) / z for v in logits]
        ga, gp = _cos_grad(ai, pi, -(1 - prob[0]) / t)
        anchor = list(ga)
        for j in range(k):
            gaj, gnj = _cos_grad(ai, n[i, j].tolist(), prob[1 + j] / t)
            anchor = [x + y for x, y in zip(anchor, gaj, strict=True)]
            torch.testing.assert_close(n.grad[i, j], torch.tensor(gnj, dtype=torch.float64))
        torch.testing.assert_close(a.grad[i], torch.tensor(anchor, dtype=torch.float64))
        torch.testing.assert_close(p.grad[i], torch.tensor(gp, dtype=torch.float64))


def _finite_backward(loss: torch.Tensor, *xs: torch.Tensor) -> None:
    assert torch.isfinite(loss).all()
    grads = torch.autograd.grad(loss.sum(), xs, allow_unused=True)
    assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_degenerate_inputs(dtype: torch.dtype, gen: torch.Generator) -> None:
    z = torch.zeros(3, 4, dtype=dtype, requires_grad=True)
    # zero vectors: every cosine is 0, so the loss is log(B) with finite gradients
    loss = info_nce(z, z.clone())
    assert loss.item() == pytest.approx(math.log(3), rel=1e-5)
    _finite_backward(loss, z)
    # B = 1 in-batch: the positive is the only candidate
    one = make(gen, 1, 4, dtype=dtype).requires_grad_()
    loss = info_nce(one, make(gen, 1, 4, dtype=dtype), symmetric=True)
    assert loss.item() == 0.0
    _finite_backward(loss, one)
    # every negative masked: loss exactly 0, still counted in the mean
    a, p, n = (
        make(gen, 2, 4, dtype=dtype).requires_grad_(),
        make(gen, 2, 4, dtype=dtype),
        make(gen, 2, 3, 4, dtype=dtype).requires_grad_(),
    )
    keep = torch.tensor([[False] * 3, [True, False, True]])
    per = info_nce(a, p, n, negative_mask=keep, reduction="none")
    assert per[0].item() == 0.0 and per[1].item() > 0
    mean = info_nce(a, p, n, negative_mask=keep)
    torch.testing.assert_close(mean, per.mean())
    _finite_backward(mean, a, n)
    # false negatives covering the whole in-batch row
    fn = torch.ones(2, 2, dtype=torch.bool)
    assert info_nce(a, p, false_negative_mask=fn).item() == 0.0
    # K = 0 and B = 0
    assert info_nce(a, p, n[:, :0]).item() == 0.0
    empty = info_nce(a[:0], p[:0])
    assert empty.item() == 0.0 and empty.requires_grad


def test_learnable_temperature_gets_gradient(gen: torch.Generator) -> None:
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    info_nce(make(gen, 5, 3), make(gen, 5, 3), temperature=t).backward()
    assert t.grad is not None and t.grad.abs().item() > 0


def test_bad_input(gen: torch.Generator) -> None:
    a, p, n = make(gen, 3, 4), make(gen, 3, 4), make(gen, 3, 2, 4)
    with pytest.raises(ValueError, match="anchors"):
        info_nce(a[0], p)
    with pytest.raises(ValueError, match="positives"):
        info_nce(a, p[:2])
    with pytest.raises(TypeError, match="positives"):
        info_nce(a, p.float())
    with pytest.raises(ValueError, match="negatives"):
        info_nce(a, p, n[:2])
    with pytest.raises(ValueError, match="negatives"):
        info_nce(a, p, n[..., :3])
    with pytest.raises(ValueError, match="negatives"):
        info_nce(a, p, n[:, 0])
    for bad in (0.0, -1.0, float("nan"), torch.tensor(-0.1), torch.tensor([0.1, 0.2])):
        with pytest.raises(ValueError, match="temperature"):
            info_nce(a, p, temperature=bad)
    with pytest.raises(ValueError, match="negative_mask"):
        info_nce(a, p, n, negative_mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="negative_mask"):
        info_nce(a, p, n, negative_mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match="negative_mask"):
        info_nce(a, p, negative_mask=torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="false_negative_mask"):
        info_nce(a, p, false_negative_mask=torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="symmetric"):
        info_nce(a, p, n, symmetric=True)
    with pytest.raises(ValueError, match="reduction"):
        info_nce(a, p, reduction="avg")
    with pytest.raises(ValueError, match="distance"):
        info_nce(a, p, distance="manhattan")
    with pytest.raises(ValueError, match="weight"):
        info_nce(a, p, weight=torch.ones(2, dtype=torch.float64))
    with pytest.raises(TypeError, match="anchors"):
        info_nce(a.long(), p)


@pytest.mark.peers
def test_matches_pml_ntxent_with_reference_embeddings(gen: torch.Generator) -> None:
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    a, p = make(gen, 12, 8), make(gen, 12, 8)
    idx = torch.arange(12)
    # a distinct labels object: pml drops self-pairs when ref_labels is labels
    want = pml.NTXentLoss(temperature=0.1)(a, idx, ref_emb=p, ref_labels=idx.clone())
    torch.testing.assert_close(info_nce(a, p, temperature=0.1), want, atol=1e-5, rtol=1e-5)
