"""Difficulty-gated weights and sampling of triplets for curriculum learning.

A curriculum stage admits training items (triplets, pairs) whose difficulty score
:math:`d` is at most its threshold :math:`\\theta`. With ``softness`` :math:`s`:

.. math::

    w(d) = \\begin{cases} \\mathbb{1}[d \\le \\theta] & s = 0 \\\\
                          \\sigma\\big((\\theta - d) / s\\big) & s > 0 \\end{cases}

and items are drawn with probability :math:`w_i / \\sum_j w_j`. A common difficulty
for a triplet is :math:`s(a, n) - s(a, p) + 1` (higher = harder). When no item passes
the gate, the easiest items (those with the minimum difficulty) are used instead, so
a stage never starves. Bengio et al., "Curriculum Learning", ICML 2009.

Example:
    >>> import torch
    >>> from contrastkit.schedules.difficulty import difficulty_weights, sample_by_difficulty
    >>> d = torch.tensor([0.1, 0.9, 0.2, 0.5])
    >>> difficulty_weights(d, 0.3)
    tensor([1., 0., 1., 0.])
    >>> idx = sample_by_difficulty(d, 4, 0.3, generator=torch.Generator().manual_seed(0))
    >>> bool(((idx == 0) | (idx == 2)).all())
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastkit._validation import (
    check_finite,
    check_float_tensor,
    check_non_negative,
    check_positive_int,
)


def difficulty_weights(difficulty: Tensor, threshold: float, softness: float = 0.0) -> Tensor:
    """Sampling weight of each item given its difficulty (see module docstring).

    Args:
        difficulty: ``[N]`` float scores, higher = harder.
        threshold: the stage's difficulty threshold :math:`\\theta`.
        softness: 0 (default) for a hard gate, > 0 for a sigmoid of that width.

    Returns:
        ``[N]`` weights in ``[0, 1]``, same dtype as ``difficulty``, no gradient.
    """
    d = check_float_tensor("difficulty", difficulty, ndim=1).detach()
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    s = check_non_negative("softness", softness)
    if s == 0.0:
        return (d <= threshold).to(d.dtype)
    return torch.sigmoid((threshold - d) / s)


def sample_by_difficulty(
    difficulty: Tensor,
    num_samples: int,
    threshold: float,
    *,
    softness: float = 0.0,
    replacement: bool = True,
    generator: torch.Generator,
) -> Tensor:
    """Draw item indices with probability proportional to :func:`difficulty_weights`.

    Args:
        difficulty: ``[N]`` float scores (N >= 1).
        num_samples: how many indices to draw (> 0). Without replacement at most the
            number of items with non-zero weight are returned.
        threshold: the stage's difficulty threshold.
        softness: see :func:`difficulty_weights`.
        replacement: sample with replacement (default) or not.
        generator: the only source of randomness (same seed, same indices).

    Returns:
        ``LongTensor[num_samples]`` (or shorter, see above) of indices into ``difficulty``.
    """
    weights = difficulty_weights(difficulty, threshold, softness)
    check_finite("difficulty", difficulty)
    check_positive_int("num_samples", num_samples)
    if weights.numel() == 0:
        raise ValueError("difficulty must contain at least one item, got an empty tensor")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if not bool((weights > 0).any()):
        # Nothing passes the gate: fall back to the easiest items rather than return nothing.
        d = difficulty.detach()
        weights = (d == d.min()).to(weights.dtype)
    if not replacement:
        num_samples = min(num_samples, int((weights > 0).sum()))
    # Sample where the generator lives (multinomial requires it), return on the input's device.
    idx = torch.multinomial(
        weights.to(generator.device), num_samples, replacement=replacement, generator=generator
    )
    return idx.to(difficulty.device)
