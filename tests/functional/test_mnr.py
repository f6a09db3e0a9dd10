"""Multiple-negatives ranking loss against a loop and sentence-transformers."""

from __future__ import annotations

import pytest
import torch

from contrastkit.functional.mnr import mnr_candidates, multiple_negatives_ranking_loss
from tests.functional.test_info_nce import ref_nll, ref_score


def _inputs(
    gen: torch.Generator, b: int, h: int | None, d: int = 5, dtype: torch.dtype = torch.float64
):
    a = torch.randn(b, d, generator=gen, dtype=dtype)
    p = torch.randn(b, d, generator=gen, dtype=dtype)
    n = (
        None
        if h is None
        else torch.randn(b, h, d, generator=gen, dtype=dtype)
        if h
        else torch.randn(b, d, generator=gen, dtype=dtype)
    )
    return a, p, n


@pytest.mark.parametrize("h", [None, 0, 1, 3])  # 0 means a [B, d] negatives tensor
@pytest.mark.parametrize("symmetric", [False, True])
def test_matches_loop(
    h: int | None, symmetric: bool, dtype: torch.dtype, gen: torch.Generator
) -> None:
    b, scale = 4, 5.0
    a, p, n = _inputs(gen, b, h, dtype=dtype)
    cands = [p[j] for j in range(b)]
    if n is not None:
        n3 = n.unsqueeze(1) if n.dim() == 2 else n
        cands += [n3[i, c] for c in range(n3.shape[1]) for i in range(b)]
    fn = torch.rand(b, len(cands), generator=gen) > 0.7
    got = multiple_negatives_ranking_loss(
        a, p, n, scale=scale, symmetric=symmetric, false_negative_mask=fn, reduction="none"
    )
    for i in range(b):
        s = [scale * ref_score("cosine", a[i], c) for c in cands]
        want = ref_nll(s[i], [s[j] for j in range(len(cands)) if j != i and not fn[i, j]])
        if symmetric:
            c = [scale * ref_score("cosine", a[j], p[i]) for j in range(b)]
            want = 0.5 * (want + ref_nll(c[i], [c[j] for j in range(b) if j != i and not fn[j, i]]))
        assert got[i].item() == pytest.approx(
            want, rel=1e-4 if dtype == torch.float32 else 1e-9, abs=1e-5
        )


def test_candidate_order(gen: torch.Generator) -> None:
    _, p, n = _inputs(gen, 3, 2)
    c = mnr_candidates(p, n)
    assert c.shape == (9, 5)
    torch.testing.assert_close(c[3:6], n[:, 0])
    torch.testing.assert_close(c[6:9], n[:, 1])


def test_gradcheck(gen: torch.Generator) -> None:
    a, p, n = (x.requires_grad_() for x in _inputs(gen, 3, 2, d=3))
    s = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, p, n, s: multiple_negatives_ranking_loss(a, p, n, scale=s, symmetric=True),
        (a, p, n, s),
    )
    assert torch.autograd.gradcheck(
        lambda a, p, n: multiple_negatives_ranking_loss(a, p, n, distance="sqeuclidean", scale=1.0),
        (a, p, n),
    )


def test_degenerate(gen: torch.Generator) -> None:
    z = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    loss = multiple_negatives_ranking_loss(z, z.clone(), z.clone())
    assert loss.item() == pytest.approx(torch.log(torch.tensor(6.0)).item())
    assert torch.isfinite(torch.autograd.grad(loss, z)[0]).all()
    a, p, _ = _inputs(gen, 1, None)
    assert multiple_negatives_ranking_loss(a, p, symmetric=True).item() == 0.0
    fn = torch.ones(1, 2, dtype=torch.bool)
    assert (
        multiple_negatives_ranking_loss(
            a, p, torch.randn(1, 5, dtype=torch.float64), false_negative_mask=fn
        ).item()
        == 0.0
    )
    empty = multiple_negatives_ranking_loss(a[:0], p[:0])
    assert empty.item() == 0.0


def test_bad_input(gen: torch.Generator) -> None:
    a, p, n = _inputs(gen, 3, 2)
    with pytest.raises(ValueError, match="scale"):
        multiple_negatives_ranking_loss(a, p, scale=0.0)
    with pytest.raises(ValueError, match="negatives"):
        multiple_negatives_ranking_loss(a, p, n[:2])
    with pytest.raises(ValueError, match="negatives"):
        multiple_negatives_ranking_loss(a, p, n.unsqueeze(0))
    with pytest.raises(ValueError, match="positives"):
        multiple_negatives_ranking_loss(a, p[:, :2])
    with pytest.raises(ValueError, match="false_negative_mask"):
        multiple_negatives_ranking_loss(
            a, p, n, false_negative_mask=torch.ones(3, 3, dtype=torch.bool)
        )


@pytest.mark.peers
@pytest.mark.parametrize("h", [None, 0, 2])
@pytest.mark.parametrize("symmetric", [False, True])
def test_matches_sentence_transformers(
    h: int | None, symmetric: bool, gen: torch.Generator
) -> None:
    st = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    a, p, n = _inputs(gen, 8, h, d=16)
    kwargs = (
        {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"}
        if symmetric
        else {}
    )
    # the loss only stores the model; its embedding-level entry point takes the columns
    peer = st.MultipleNegativesRankingLoss(torch.nn.Identity(), scale=20.0, **kwargs)
    cols = [a, p] + ([] if n is None else [n] if n.dim() == 2 else list(n.unbind(1)))
    want = peer.compute_loss_from_embeddings(cols, None)
    got = multiple_negatives_ranking_loss(a, p, n, scale=20.0, symmetric=symmetric)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
