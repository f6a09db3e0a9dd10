"""Label-based triplet losses: batch-all and per-anchor against brute-force loops and
pytorch-metric-learning, chunking invariance, gradcheck, degenerate and bad inputs."""

from __future__ import annotations

import itertools

import pytest
import torch

from contrastkit.functional.triplet_batch import batch_all_triplet_loss, per_anchor_triplet_loss
from tests.conftest import tol
from tests.functional.test_triplet import D, ref_hinge, ref_score

OPTS = [(False, False), (True, True)]


def _triplets(labels):
    b = len(labels)
    for a, p, n in itertools.product(range(b), repeat=3):
        if a != p and labels[a] == labels[p] and labels[a] != labels[n]:
            yield a, p, n


def ref_scores(x, dist):
    b = x.shape[0]
    return [[ref_score(dist, x[i], x[j]) for j in range(b)] for i in range(b)]


def ref_batch_all(x, labels, m, dist, adaptive, penalty, average, weight=None):
    lab = labels.tolist()
    w = [1.0] * len(lab) if weight is None else weight.tolist()
    s = ref_scores(x, dist)
    num = den = 0.0
    for a, p, n in _triplets(lab):
        loss = ref_hinge(s[a][p], s[a][n], m, adaptive, penalty)
        num += w[a] * loss
        den += w[a] * (1.0 if average == "all" or loss > 0 else 0.0)
    return torch.tensor(num / den if den > 0 else 0.0, dtype=D)


def ref_per_anchor(x, labels, m, dist, adaptive, penalty, positives, negatives):
    lab, b = labels.tolist(), len(labels)
    out, valid = [], []
    scores = ref_scores(x, dist)
    for a in range(b):
        s = scores[a]
        pos = [j for j in range(b) if j != a and lab[j] == lab[a]]
        neg = [j for j in range(b) if lab[j] != lab[a]]
        valid.append(bool(pos and neg))
        if not (pos and neg):
            out.append(0.0)
            continue
        if positives == "hardest":
            pos = [min(pos, key=lambda j: s[j])]
        if negatives == "hardest":
            neg = [max(neg, key=lambda j: s[j])]
        vals = [ref_hinge(s[p], s[n], m, adaptive, penalty) for p in pos for n in neg]
        out.append(sum(vals) / len(vals))
    return torch.tensor(out, dtype=D), torch.tensor(valid)


@pytest.mark.parametrize("dist", ["cosine", "sqeuclidean", "euclidean", "dot"])
@pytest.mark.parametrize("average", ["nonzero", "all"])
def test_batch_all_matches_brute_force(dist, average, dtype, gen):
    x = torch.randn(9, 3, generator=gen, dtype=dtype)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 0, 3, 2])
    for adaptive, penalty in OPTS:
        got = batch_all_triplet_loss(
            x,
            labels,
            margin=0.4,
            distance=dist,
            adaptive_margin=adaptive,
            hard_negative_penalty=penalty,
            average=average,
        )
        want = ref_batch_all(x, labels, 0.4, dist, adaptive, penalty, average)
        torch.testing.assert_close(got.double(), want, **tol(dtype))


def test_batch_all_weights_and_reductions(gen):
    x = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    w = torch.rand(8, generator=gen, dtype=torch.float64)
    got = batch_all_triplet_loss(x, labels, weight=w, average="all")
    torch.testing.assert_close(got, ref_batch_all(x, labels, 0.5, "cosine", False, False, "all", w))
    per = batch_all_triplet_loss(x, labels, reduction="none", average="all")
    total = batch_all_triplet_loss(x, labels, reduction="sum")
    lab = labels.tolist()
    counts = torch.zeros(8, dtype=D)
    for a, _, _ in _triplets(lab):
        counts[a] += 1
    torch.testing.assert_close((per * counts).sum(), total)
    per_w = batch_all_triplet_loss(x, labels, reduction="none", average="all", weight=w)
    torch.testing.assert_close(per_w, per * w)
    assert per[7] == 0  # label 3 has no positive


def dense_batch_all(x, labels, adaptive, threshold, average):
    """The B³ autograd form (valid only for small B): reference for values and gradients."""
    xn = torch.nn.functional.normalize(x, dim=1)
    s = xn @ xn.T
    same = labels[:, None] == labels[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool)
    sp, sn = s[:, :, None], s[:, None, :]
    m = 0.5 * (1 - sp.detach()).clamp_min(0) if adaptive else 0.5
    loss = (m + sn - sp).clamp_min(0) + 0.1 * (sn - threshold).clamp_min(0)
    loss = loss[pos[:, :, None] & ~same[:, None, :]]
    return loss.sum() / (loss > 0).sum() if average == "nonzero" else loss.mean()


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("average", ["nonzero", "all"])
def test_batch_all_matches_dense_autograd(adaptive, average, dtype, gen):
    x = torch.randn(40, 5, generator=gen, dtype=dtype)
    x[5:10] = x[0]  # exact ties between scores
    x.requires_grad_()
    labels = torch.randint(0, 4, (40,), generator=gen)
    got = batch_all_triplet_loss(
        x, labels, adaptive_margin=adaptive, hard_negative_penalty=True, penalty_threshold=0.3,
        average=average,
    )  # fmt: skip
    want = dense_batch_all(x, labels, adaptive, 0.3, average)
    torch.testing.assert_close(got, want, **tol(dtype))
    g_got, g_want = (torch.autograd.grad(v, x)[0] for v in (got, want))
    torch.testing.assert_close(g_got, g_want, **tol(dtype))


@pytest.mark.parametrize(
    "positives,negatives", list(itertools.product(["hardest", "all"], repeat=2))
)
@pytest.mark.parametrize("dist", ["cosine", "sqeuclidean"])
def test_per_anchor_matches_brute_force(positives, negatives, dist, dtype, gen):
    x = torch.randn(9, 3, generator=gen, dtype=dtype)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 0, 3, 2])
    for adaptive, penalty in OPTS:
        got = per_anchor_triplet_loss(
            x,
            labels,
            positives=positives,
            negatives=negatives,
            margin=0.4,
            distance=dist,
            adaptive_margin=adaptive,
            hard_negative_penalty=penalty,
            reduction="none",
        )
        want, valid = ref_per_anchor(x, labels, 0.4, dist, adaptive, penalty, positives, negatives)
        torch.testing.assert_close(got.double(), want, **tol(dtype))
        mean = per_anchor_triplet_loss(
            x,
            labels,
            positives=positives,
            negatives=negatives,
            margin=0.4,
            distance=dist,
            adaptive_margin=adaptive,
            hard_negative_penalty=penalty,
        )
        torch.testing.assert_close(mean.double(), want[valid].mean(), **tol(dtype))


@pytest.mark.parametrize(
    "positives,negatives", list(itertools.product(["hardest", "all"], repeat=2))
)
def test_per_anchor_gradcheck(positives, negatives, gen):
    x = torch.randn(7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3])

    def fn(x):
        return per_anchor_triplet_loss(
            x,
            labels,
            positives=positives,
            negatives=negatives,
            margin=1.5,
            distance="sqeuclidean",
            hard_negative_penalty=True,
            penalty_threshold=-3.0,
        )

    assert torch.autograd.gradcheck(fn, (x,), fast_mode=True)


@pytest.mark.parametrize("average", ["nonzero", "all"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_batch_all_gradcheck(average, reduction, gen):
    x = torch.randn(7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3])
    w = torch.rand(7, generator=gen, dtype=torch.float64)

    def fn(x):
        return batch_all_triplet_loss(
            x,
            labels,
            margin=0.7,
            distance="cosine",
            hard_negative_penalty=True,
            penalty_threshold=0.2,
            average=average,
            reduction=reduction,
            weight=w,
        )

    assert torch.autograd.gradcheck(fn, (x,), fast_mode=True)


def test_adaptive_margin_is_stop_gradient(gen):
    """Autograd through the chunked kernel equals autograd of the explicit loop form."""
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    got = batch_all_triplet_loss(x, labels, adaptive_margin=True, average="all")
    xn = torch.nn.functional.normalize(x, dim=1)
    terms = []
    for a, p, n in _triplets(labels.tolist()):
        sp, sn = xn[a] @ xn[p], xn[a] @ xn[n]
        terms.append((0.5 * (1 - sp.detach()).clamp_min(0) + sn - sp).clamp_min(0))
    want = torch.stack(terms).mean()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, x)[0], torch.autograd.grad(want, x)[0])


@pytest.mark.peers
@pytest.mark.parametrize("margin", [0.05, 0.3])
@pytest.mark.parametrize("kind", ["lp", "cosine"])
def test_pytorch_metric_learning_agrees(margin, kind, dtype, gen):
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    from pytorch_metric_learning.distances import CosineSimilarity

    x = torch.randn(24, 6, generator=gen, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 4, (24,), generator=gen)
    if kind == "lp":  # default LpDistance(normalize_embeddings=True, p=2, power=1)
        peer = losses.TripletMarginLoss(margin=margin)
        ours = batch_all_triplet_loss(
            x, labels, margin=margin, distance="euclidean", normalize=True
        )
    else:
        peer = losses.TripletMarginLoss(margin=margin, distance=CosineSimilarity())
        ours = batch_all_triplet_loss(x, labels, margin=margin, distance="cosine")
    theirs = peer(x, labels)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    g_ours, g_theirs = (torch.autograd.grad(v, x)[0] for v in (ours, theirs))
    torch.testing.assert_close(g_ours, g_theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("fn", [batch_all_triplet_loss, per_anchor_triplet_loss])
def test_degenerate_batches_give_attached_zero(fn):
    cases = [
        (torch.randn(1, 3), torch.tensor([0])),  # B = 1
        (torch.randn(4, 3), torch.tensor([1, 1, 1, 1])),  # no negatives
        (torch.randn(4, 3), torch.tensor([0, 1, 2, 3])),  # no positives
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),  # empty
    ]
    for x, labels in cases:
        x.requires_grad_()
        loss = fn(x, labels)
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()
        assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("fn", [batch_all_triplet_loss, per_anchor_triplet_loss])
def test_zero_vectors_are_finite(fn):
    x = torch.zeros(4, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    for dist in ["cosine", "euclidean"]:
        loss = fn(x, labels, distance=dist, normalize=dist == "euclidean")
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
        x.grad = None


@pytest.mark.parametrize("fn", [batch_all_triplet_loss, per_anchor_triplet_loss])
def test_bad_inputs(fn):
    x, labels = torch.randn(4, 3), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match="margin"):
        fn(x, labels, margin=-1.0)
    with pytest.raises(ValueError, match="embeddings"):
        fn(x[0], labels)
    with pytest.raises(ValueError, match="labels"):
        fn(x, labels[:3])
    with pytest.raises(ValueError, match="labels"):
        fn(x, labels.view(2, 2))
    with pytest.raises(TypeError, match="labels"):
        fn(x, labels.float())
    with pytest.raises(ValueError, match="weight"):
        fn(x, labels, weight=torch.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        fn(x, labels, reduction="max")
    with pytest.raises(ValueError, match="average"):
        batch_all_triplet_loss(x, labels, average="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negatives"):
        per_anchor_triplet_loss(x, labels, negatives="semi")  # type: ignore[arg-type]


@pytest.mark.peers
def test_batch_hard_agrees_with_pytorch_metric_learning(dtype, gen):
    """PML's BatchHardMiner + TripletMarginLoss with a MeanReducer is our hardest/hardest
    per-anchor loss (an anchor with a unique label has no triplet in either)."""
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    from pytorch_metric_learning import miners, reducers

    x = torch.randn(20, 5, generator=gen, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 4, (20,), generator=gen)
    labels[0] = 9
    peer = pml.TripletMarginLoss(margin=0.3, reducer=reducers.MeanReducer())
    theirs = peer(x, labels, miners.BatchHardMiner()(x, labels))
    ours = per_anchor_triplet_loss(x, labels, margin=0.3, distance="euclidean", normalize=True)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    g_ours, g_theirs = (torch.autograd.grad(v, x)[0] for v in (ours, theirs))
    torch.testing.assert_close(g_ours, g_theirs, atol=1e-5, rtol=1e-4)
