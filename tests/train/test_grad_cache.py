from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastkit.functional.info_nce import info_nce
from contrastkit.train.grad_cache import grad_cache_step


def _encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 4)).double()


def _pair_loss(z: torch.Tensor, b: int) -> torch.Tensor:
    # rows alternate anchor, positive (so a pair never straddles two chunks)
    return info_nce(z[0::2], z[1::2], temperature=0.1)


def _interleave(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return torch.stack([a, p], dim=1).reshape(-1, a.shape[-1])


def test_grad_cache_equals_full_batch_gradients_with_dropout() -> None:
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(12, 6, generator=gen, dtype=torch.float64)
    p = a + 0.1 * torch.randn(12, 6, generator=gen, dtype=torch.float64)
    x = _interleave(a, p)  # [24, 6], pairs stay in the same chunk

    full = _encoder().train()
    chunks = list(x.split(8))
    # Full batch, replaying the same per-chunk dropout masks as grad cache will.
    torch.manual_seed(7)
    z = torch.cat([full(c) for c in chunks])
    _pair_loss(z, 12).backward()

    cached = _encoder().train()
    torch.manual_seed(7)
    loss = grad_cache_step(cached, chunks, lambda zz: _pair_loss(zz, 12))
    assert loss.requires_grad is False
    for pf, pc in zip(full.parameters(), cached.parameters(), strict=True):
        torch.testing.assert_close(pc.grad, pf.grad, atol=1e-10, rtol=1e-8)


def test_naive_accumulation_differs_from_grad_cache() -> None:
    gen = torch.Generator().manual_seed(4)
    a = torch.randn(12, 6, generator=gen, dtype=torch.float64)
    p = a + 0.1 * torch.randn(12, 6, generator=gen, dtype=torch.float64)
    chunks = list(_interleave(a, p).split(8))
    naive = _encoder().eval()
    for c in chunks:  # each chunk only sees its own in-chunk negatives
        (_pair_loss(naive(c), 4) * len(c) / 24).backward()
    cached = _encoder().eval()
    grad_cache_step(cached, chunks, lambda zz: _pair_loss(zz, 12))
    diffs = [
        float((pn.grad - pc.grad).abs().max())
        for pn, pc in zip(naive.parameters(), cached.parameters(), strict=True)
    ]
    assert max(diffs) > 1e-3


def test_empty_chunks_rejected() -> None:
    with pytest.raises(ValueError, match="chunks"):
        grad_cache_step(nn.Linear(2, 2), [], lambda z: z.sum())
