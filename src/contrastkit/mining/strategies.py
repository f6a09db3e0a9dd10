r"""Negative-selection strategies (original design §4.1 and the GATE triplet notebook).

With :math:`s_n = s(a, n)` and :math:`s_p = s(a, p)` (larger = closer), over the
candidates left by exclusions and filters:

* :class:`Hardest` — the ``K`` largest :math:`s_n`.
* :class:`SemiHard` — the ``K`` largest :math:`s_n` with :math:`s_n < s_p`
  (closest to the positive from below); with ``band=m`` only
  :math:`s_p - m < s_n < s_p` (FaceNet's margin band, Schroff et al. 2015).
  Rows with fewer than ``K`` such negatives fall back to :class:`Hardest`
  (reported per row) or stay masked (``fallback="none"``).
* :class:`Weighted` — ``K`` draws *without replacement* with
  :math:`P(n) \propto \exp(\alpha s_n)` (Gumbel-top-k; the original design drew
  with replacement, which repeats negatives).
* :class:`Mixed` — :math:`\lfloor K\rho\rfloor` hardest plus uniformly random
  others, disjoint.
* :class:`RandomNegatives` — ``K`` uniform draws without replacement.
* :class:`ClusterSpread` — k-means over the pool, negatives spread across
  clusters (random or hardest within each).
* :class:`CategorySpread` — negatives from categories other than the anchor's
  (the pool labels are the categories), spread across them.

Strategies are small frozen dataclasses; :func:`~contrastkit.mining.miner.mine`
runs them. ``as_strategy("semi_hard")`` builds one from its name.

Example:
    >>> as_strategy("weighted").alpha
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from contrastkit._validation import check_choice, check_non_negative, check_positive_int

Within = Literal["hardest", "random"]


@dataclass(frozen=True)
class Hardest:
    name = "hardest"


@dataclass(frozen=True)
class SemiHard:
    """``band``: keep only ``s_p - band < s_n < s_p`` (``None`` = no lower limit).
    ``fallback``: ``"hardest"`` (default, as in the original design) or ``"none"``."""

    band: float | None = None
    fallback: Literal["hardest", "none"] = "hardest"
    name = "semi_hard"

    def __post_init__(self) -> None:
        if self.band is not None:
            check_non_negative("band", self.band)
        check_choice("fallback", self.fallback, ("hardest", "none"))


@dataclass(frozen=True)
class Weighted:
    r"""``alpha``: inverse temperature of :math:`\exp(\alpha s_n)` (default 1.0;
    0 is uniform, large values approach hardest)."""

    alpha: float = 1.0
    name = "weighted"

    def __post_init__(self) -> None:
        check_non_negative("alpha", self.alpha)


@dataclass(frozen=True)
class Mixed:
    """``hard_ratio`` in ``[0, 1]``: ``floor(K * hard_ratio)`` hardest, rest random."""

    hard_ratio: float = 0.5
    name = "mixed"

    def __post_init__(self) -> None:
        check_non_negative("hard_ratio", self.hard_ratio)
        if self.hard_ratio > 1:
            raise ValueError(f"hard_ratio must be in [0, 1], got {self.hard_ratio}")

    def num_hard(self, k: int) -> int:
        return int(k * self.hard_ratio)


@dataclass(frozen=True)
class RandomNegatives:
    name = "random"


@dataclass(frozen=True)
class ClusterSpread:
    """``num_clusters`` k-means clusters over the pool (default 8, the notebook uses
    3); pass ``clusters [M]`` to reuse an earlier clustering. ``within``: how to pick
    inside a cluster (default ``"random"``, as in the notebook); ``per_group``:
    candidates kept per cluster (default ``ceil(K / C)``). ``seed`` fixes k-means."""

    num_clusters: int = 8
    within: Within = "random"
    per_group: int | None = None
    clusters: Tensor | None = None
    num_iters: int = 20
    seed: int = 42
    name = "cluster"

    def __post_init__(self) -> None:
        check_positive_int("num_clusters", self.num_clusters)
        check_choice("within", self.within, ("hardest", "random"))
        if self.per_group is not None:
            check_positive_int("per_group", self.per_group)


@dataclass(frozen=True)
class CategorySpread:
    """Negatives from other categories (the pool labels; same-category candidates are
    excluded), spread across them. ``within`` and ``per_group`` as in
    :class:`ClusterSpread` (the notebook takes 2 random per category)."""

    within: Within = "random"
    per_group: int | None = None
    name = "category"

    def __post_init__(self) -> None:
        check_choice("within", self.within, ("hardest", "random"))
        if self.per_group is not None:
            check_positive_int("per_group", self.per_group)


Strategy = Hardest | SemiHard | Weighted | Mixed | RandomNegatives | ClusterSpread | CategorySpread
StrategyName = Literal["hardest", "semi_hard", "weighted", "mixed", "random", "cluster", "category"]
_BY_NAME: dict[str, type] = {
    "hardest": Hardest,
    "semi_hard": SemiHard,
    "weighted": Weighted,
    "mixed": Mixed,
    "random": RandomNegatives,
    "cluster": ClusterSpread,
    "category": CategorySpread,
}
STRATEGY_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def as_strategy(spec: str | Strategy) -> Strategy:
    """A strategy instance from its name (default settings) or passed through."""
    if isinstance(spec, str):
        check_choice("strategy", spec, STRATEGY_NAMES)
        out: Strategy = _BY_NAME[spec]()
        return out
    if not isinstance(spec, tuple(_BY_NAME.values())):
        raise TypeError(f"strategy must be a name or a strategy object, got {type(spec).__name__}")
    return spec
