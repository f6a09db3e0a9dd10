"""Seeds and generators: every random function takes a ``torch.Generator`` or an int seed.

Example:
    >>> g = as_generator(7)
    >>> torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=as_generator(7)))
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from contrastkit._validation import check_int_like

GeneratorLike = torch.Generator | int


def as_generator(generator: GeneratorLike | None, name: str = "generator") -> torch.Generator:
    """Return ``generator`` itself, or a fresh CPU generator seeded with the int.

    ``None`` means seed 0, so that a call without randomness arguments is still
    reproducible (there is no hidden global state).
    """
    if generator is None:
        return torch.Generator().manual_seed(0)
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(
            f"{name} must be a torch.Generator or an int seed, got {type(generator).__name__}"
        )
    if generator < 0:
        raise ValueError(f"{name} seed must be >= 0, got {generator}")
    return torch.Generator().manual_seed(generator)


def random_int64(n: int, generator: torch.Generator, high: int = 1 << 62) -> torch.Tensor:
    """``[n]`` uniform int64 in ``[0, high)`` (random sort keys)."""
    return torch.randint(0, high, (n,), generator=generator, dtype=torch.int64)


def epoch_state(state: Any, owner: str) -> tuple[int, int]:
    """``(epoch, seed)`` of a loader's ``state_dict()`` (``{"epoch": int, "seed": int}``),
    both checked before the loader takes either: a ``TypeError`` for a non-mapping, a
    ``ValueError`` naming the missing keys and ``owner`` (``"NeighborLoader"``)."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping, got {type(state).__name__}")
    missing = [key for key in ("epoch", "seed") if key not in state]
    if missing:
        raise ValueError(f"state is missing keys {missing} ({owner}.state_dict())")
    epoch = check_int_like("state['epoch']", state["epoch"])
    seed = check_int_like("state['seed']", state["seed"])
    return epoch, seed


_MASK32 = 0xFFFFFFFF


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for int64 ``x`` in ``[0, 2**32)`` and ``c < 2**32``, in
    16-bit halves so that no product leaves int64."""
    lo, hi = x & 0xFFFF, x >> 16
    return (lo * c + (((hi * c) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """C. Wellons' ``lowbias32`` finaliser: a bijection of ``[0, 2**32)`` whose output
    bits each flip with probability ~1/2 when one input bit does."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def counter_uniform(keys: torch.Tensor, count: int, high: torch.Tensor) -> torch.Tensor:
    r"""``[M, count]`` int64 ids, row ``m`` uniform in ``[0, high[m])``, a pure function
    of ``(keys[m], j)``: the counter-based draw

    .. math:: h_{m,j} = \operatorname{mix}\bigl((\operatorname{mix}(k_m) + j\,\phi)
       \bmod 2^{32}\bigr), \qquad u_{m,j} = \lfloor h_{m,j}\, n_m / 2^{32} \rfloor,

    with :math:`\phi` = ``0x9E3779B9`` (a Weyl sequence) and Lemire's multiply-shift
    for the range (bias below :math:`n_m / 2^{32}`). It lets a store keep one key per
    row instead of the ``count`` ids it stands for, and regenerate them when read.

    Args:
        keys: ``[M]`` int64 in ``[0, 2**32)``.
        count: ``K >= 0`` ids per row.
        high: ``[M]`` int64 in ``[1, 2**31)`` (the exclusive upper bound of each row).
    """
    if keys.dtype != torch.int64 or high.dtype != torch.int64:
        raise TypeError(f"keys and high must be int64, got {keys.dtype} and {high.dtype}")
    if keys.shape != high.shape or keys.dim() != 1:
        raise ValueError(
            f"keys and high must be [M] of one shape, got {tuple(keys.shape)} and "
            f"{tuple(high.shape)}"
        )
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if keys.numel() and (int(keys.min()) < 0 or int(keys.max()) > _MASK32):
        raise ValueError("keys must lie in [0, 2**32)")
    if high.numel() and (int(high.min()) < 1 or int(high.max()) >= 1 << 31):
        raise ValueError(f"high must lie in [1, 2**31), got [{int(high.min())}, {int(high.max())}]")
    j = torch.arange(count, dtype=torch.int64, device=keys.device)
    h = _mix32((_mix32(keys)[:, None] + j * 0x9E3779B9) & _MASK32)
    return (h * high[:, None]) >> 32
