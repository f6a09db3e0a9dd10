r"""Per-rank seeds: one run seed, a different but reproducible stream on every rank.

Rank ``r`` of a run seeded ``s`` draws from

.. math:: s_r = \begin{cases} s & r = 0 \\ \operatorname{splitmix64}(s \oplus
   \operatorname{splitmix64}(r)) \bmod 2^{63} & r > 0 \end{cases}

so rank 0 (and a single process) keeps the run's own seed, and the streams of
different ranks do not overlap the way ``s + r`` would (``s + 1`` on rank 0 of
another run is ``s`` on rank 1 of this one). What must be equal on every rank (model
initialisation, the epoch order) is drawn from the run seed before the per-rank
streams start.
"""

from __future__ import annotations

import torch

from contrastkit.dist.env import rank as current_rank

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def rank_seed(seed: int, rank: int | None = None) -> int:
    """The seed of ``rank`` (default: this process's) in a run seeded ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    r = current_rank() if rank is None else rank
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ValueError(f"rank must be an integer >= 0, got {r!r}")
    if r == 0:
        return seed
    return _splitmix64((seed & _MASK) ^ _splitmix64(r)) >> 1


def seed_rank(seed: int, generator: torch.Generator | None = None) -> int:
    """Seed torch's global RNG (dropout, corruption) and ``generator`` with this
    rank's seed; returns it."""
    s = rank_seed(seed)
    torch.manual_seed(s)
    if generator is not None:
        generator.manual_seed(s)
    return s
