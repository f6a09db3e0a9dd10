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
