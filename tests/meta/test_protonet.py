"""ProtoNet logits against a brute-force loop; loss gradcheck in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastkit.meta.protonet import ProtoDistance, protonet_logits, protonet_loss, prototypes


def _brute(support: torch.Tensor, query: torch.Tensor, distance: str, tau: float) -> torch.Tensor:
    n, k, _ = support.shape
    out = torch.empty(query.shape[0], n, dtype=query.dtype)
    for i in range(query.shape[0]):
        for c in range(n):
            p = torch.zeros(support.shape[2], dtype=support.dtype)
            for j in range(k):
                p = p + support[c, j]
            p = p / k
            if distance == "sqeuclidean":
                out[i, c] = -float(
                    sum(float(query[i, t] - p[t]) ** 2 for t in range(query.shape[1]))
                )
            else:
                cos = float(query[i] @ p) / (float(query[i].norm()) * float(p.norm()))
                out[i, c] = cos / tau
    return out


@pytest.mark.parametrize("distance", ["sqeuclidean", "cosine"])
def test_logits_equal_a_brute_force_loop(distance: ProtoDistance, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    support = torch.randn(4, 3, 5, generator=g).to(dtype)
    query = torch.randn(7, 5, generator=g).to(dtype)
    got = protonet_logits(support, query, distance, 0.5)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(got, _brute(support, query, distance, 0.5), atol=tol, rtol=tol)
    torch.testing.assert_close(prototypes(support), support.mean(1))


def test_a_query_on_a_prototype_scores_zero_distance() -> None:
    support = torch.randn(3, 2, 4)
    logits = protonet_logits(support, support.mean(1))
    assert torch.equal(logits.diagonal(), torch.zeros(3))  # clamped, never -1e-7
    assert torch.equal(logits.argmax(1), torch.arange(3))


@pytest.mark.parametrize("distance", ["sqeuclidean", "cosine"])
def test_loss_gradcheck(distance: ProtoDistance) -> None:
    g = torch.Generator().manual_seed(1)
    support = torch.randn(3, 2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    query = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1])
    assert torch.autograd.gradcheck(
        lambda s, q: protonet_loss(s, q, labels, distance, 0.3),
        (support, query),
    )
    want = F.cross_entropy(_brute(support.detach(), query.detach(), distance, 0.3), labels)
    got = protonet_loss(support, query, labels, distance, 0.3)
    torch.testing.assert_close(got.detach(), want)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="distance"):
        protonet_logits(torch.randn(2, 1, 3), torch.randn(1, 3), "dot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embedding dimension"):
        protonet_logits(torch.randn(2, 1, 3), torch.randn(1, 4))
    with pytest.raises(ValueError, match="temperature"):
        protonet_logits(torch.randn(2, 1, 3), torch.randn(1, 3), "cosine", 0.0)
