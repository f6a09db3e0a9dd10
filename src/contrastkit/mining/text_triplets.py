r"""Triplets of texts with a difficulty, mined by the project's exact tiled scan.

Given anchor, positive and candidate-pool embeddings from the current (or the
base) model, :func:`mine_text_triplets` picks ``K`` negatives per anchor and
returns one row per (anchor, positive, negative) triplet with its scores and

.. math::
    \text{difficulty}(a, p, n) = s(a, n) - s(a, p)

(larger = harder; :math:`> 0` means the negative is closer than the positive).
This is :attr:`MiningResult.difficulty <contrastkit.mining.result.MiningResult>`
minus 1: the curriculum's offset is dropped here, as the GATE notebook and issue
22 define a triplet's difficulty.

Strategies (:data:`TEXT_STRATEGIES`), over the candidates left by the filters:

* ``hardest`` — the ``K`` closest.
* ``semi_hard`` — the ``K`` closest with :math:`s_n < s_p`; with ``margin = m`` only
  :math:`s_p - m < s_n < s_p` (FaceNet's band). Rows with fewer keep fewer.
* ``range`` — ranks ``range_min .. range_max - 1`` of the surviving candidates
  (0 = hardest), then the first ``K`` (``sampling="top"``) or ``K`` uniformly
  drawn without replacement (``sampling="random"``), as
  ``sentence_transformers.util.mine_hard_negatives``'s ``range_min``/``range_max``.
* ``random`` — ``K`` uniform draws without replacement.
* ``cluster`` — spherical k-means over the pool (computed once), negatives spread
  over clusters.
* ``category`` — negatives from categories other than the anchor's (WordNet's
  lexicographer file), spread over them.

Filters, for every strategy: the structural false-negative filter
(:class:`~contrastkit.data.wordnet_structure.StructuralFilter`), the positive and the
anchor themselves and any pool text equal to either (``text_keys``), and the
margins against the positive's score — ``absolute_margin`` keeps
:math:`s_n < s_p - m`, ``relative_margin`` keeps :math:`s_n < s_p - m|s_p|`,
``max_score`` keeps :math:`s_n \le t` — all applied inside the scoring tiles
(:func:`~contrastkit.mining.miner.mine`), so the ``[A, M]`` score matrix is never
materialised. Anchors are processed in chunks to bound the banned-pair lists.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> pool = torch.nn.functional.normalize(torch.randn(50, 8, generator=g), dim=1)
    >>> t = mine_text_triplets(pool[:4], pool[4:8], pool, anchor_ids=torch.arange(4),
    ...                        positive_ids=torch.arange(4, 8), pool_ids=torch.arange(50),
    ...                        config=TextMiningConfig(num_negatives=2))
    >>> own = (t.negative_id == t.anchor_id) | (t.negative_id == t.positive_id)
    >>> len(t), bool(own.any()), bool((t.difficulty == t.negative_score - t.positive_score).all())
    (8, False, True)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from contrastkit._validation import (
    check_choice,
    check_float_tensor,
    check_length,
    check_non_negative,
    check_positive_int,
    check_tensor,
)
from contrastkit.functional.distances import Distance, get_distance
from contrastkit.mining.exclusions import Exclusions
from contrastkit.mining.filters import FalseNegativeFilters
from contrastkit.mining.kmeans import kmeans
from contrastkit.mining.miner import mine
from contrastkit.mining.pool import DEFAULT_MEMORY_BUDGET
from contrastkit.mining.result import MiningResult
from contrastkit.mining.strategies import (
    CategorySpread,
    ClusterSpread,
    Hardest,
    RandomNegatives,
    SemiHard,
    Strategy,
)
from contrastkit.mining.triplet_records import Triplets

TEXT_STRATEGIES: tuple[str, ...] = (
    "hardest",
    "semi_hard",
    "range",
    "random",
    "cluster",
    "category",
)
SAMPLINGS: tuple[str, ...] = ("top", "random")
#: Anchors per mining chunk: bounds the banned-pair lists, not the scan (which tiles).
ANCHOR_CHUNK = 8192
Encode = Callable[[Sequence[str]], Tensor]


class BannedPairs(Protocol):
    """A structural false-negative filter (e.g.
    :class:`~contrastkit.data.wordnet_structure.StructuralFilter`)."""

    def banned_pairs(self, anchor_ids: Tensor, pool_ids: Tensor) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class TextMiningConfig:
    """How to mine (see the module docstring).

    Attributes:
        strategy: one of :data:`TEXT_STRATEGIES`.
        num_negatives: ``K`` negatives per anchor.
        range_min, range_max: the ``range`` window of ranks ``[range_min, range_max)``.
        sampling: ``"top"`` or ``"random"`` within the ``range`` window.
        margin: ``semi_hard``'s band (``None`` = no lower limit).
        absolute_margin, relative_margin, max_score: false-negative filters against
            the positive's score (``None`` = off).
        num_clusters: k-means clusters of ``cluster``.
        seed: randomness of ``random``, ``range`` sampling, spreads and k-means.
    """

    strategy: str = "hardest"
    num_negatives: int = 1
    range_min: int = 0
    range_max: int = 10
    sampling: str = "top"
    margin: float | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = None
    max_score: float | None = None
    num_clusters: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("strategy", self.strategy, TEXT_STRATEGIES)
        check_choice("sampling", self.sampling, SAMPLINGS)
        check_positive_int("num_negatives", self.num_negatives)
        check_positive_int("range_min", self.range_min, allow_zero=True)
        check_positive_int("range_max", self.range_max)
        check_positive_int("num_clusters", self.num_clusters)
        if self.strategy == "range" and self.range_max - self.range_min < self.num_negatives:
            raise ValueError(
                f"range_max - range_min must be >= num_negatives ({self.num_negatives}), got "
                f"range_min={self.range_min}, range_max={self.range_max}"
            )
        if self.margin is not None:
            check_non_negative("margin", self.margin)

    def filters(self) -> FalseNegativeFilters:
        return FalseNegativeFilters(
            absolute_margin=self.absolute_margin,
            relative_margin=self.relative_margin,
            max_score=self.max_score,
            skip_top=self.range_min if self.strategy == "range" else 0,
        )


def _key_pairs(query_keys: Tensor, pool_keys: Tensor) -> tuple[Tensor, Tensor]:
    """``(rows, cols)`` of every pool position whose key equals its query's key
    (a sorted view of the pool, one ``searchsorted`` per query; rows ascending)."""
    sorted_keys, order = torch.sort(pool_keys, stable=True)
    lo = torch.searchsorted(sorted_keys, query_keys)
    count = torch.searchsorted(sorted_keys, query_keys, right=True) - lo
    total = int(count.sum())
    rows = torch.repeat_interleave(torch.arange(query_keys.numel()), count, output_size=total)
    start = torch.repeat_interleave(lo - (torch.cumsum(count, 0) - count), count, output_size=total)
    return rows, order[start + torch.arange(total)]


def _strategy(config: TextMiningConfig, clusters: Tensor | None) -> tuple[Strategy, int]:
    """The library strategy and how many slots to ask it for."""
    k = config.num_negatives
    if config.strategy == "hardest":
        return Hardest(), k
    if config.strategy == "semi_hard":
        return SemiHard(band=config.margin, fallback="none"), k
    if config.strategy == "range":
        return Hardest(), config.range_max - config.range_min
    if config.strategy == "random":
        return RandomNegatives(), k
    if config.strategy == "cluster":
        return ClusterSpread(num_clusters=config.num_clusters, clusters=clusters), k
    return CategorySpread(), k


def _sample_window(result: MiningResult, k: int, generator: torch.Generator) -> MiningResult:
    """``k`` slots per row drawn uniformly without replacement among the valid ones
    (random keys, invalid slots last), then re-sorted by score, closest first."""
    keys = torch.rand(result.mask.shape, generator=generator).masked_fill(~result.mask, -1.0)
    pick = keys.topk(min(k, keys.shape[1]), dim=1).indices
    scores = result.scores.gather(1, pick).masked_fill(~result.mask.gather(1, pick), float("-inf"))
    order = scores.sort(dim=1, descending=True).indices
    pick = pick.gather(1, order)
    diff = None if result.difficulty is None else result.difficulty.gather(1, pick)
    return MiningResult(
        result.indices.gather(1, pick),
        result.mask.gather(1, pick),
        result.scores.gather(1, pick),
        diff,
        result.report,
    )


def mine_text_triplets(
    anchor_emb: Tensor,
    positive_emb: Tensor,
    pool_emb: Tensor,
    *,
    anchor_ids: Tensor,
    positive_ids: Tensor,
    pool_ids: Tensor,
    config: TextMiningConfig | None = None,
    structural: BannedPairs | None = None,
    categories: Tensor | None = None,
    text_keys: Tensor | None = None,
    distance: str | Distance = "cosine",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Triplets:
    """Mine triplets for ``A`` (anchor, positive) pairs against a pool of ``M`` texts.

    Args:
        anchor_emb: ``[A, d]``; positive_emb: ``[A, d]``; pool_emb: ``[M, d]``.
        anchor_ids, positive_ids: ``[A]`` text ids; pool_ids: ``[M]`` text ids.
        config: :class:`TextMiningConfig` (default: 1 hardest negative).
        structural: an object with ``banned_pairs(anchor_ids, pool_ids) -> (rows, cols)``
            (:class:`~contrastkit.data.wordnet_structure.StructuralFilter`), or ``None``.
        categories: ``[T]`` category per text id (needed by ``category``).
        text_keys: ``[T]`` int64 id of each text's string (equal strings, equal key);
            pool texts equal to the anchor's or the positive's are never negatives.
            Default: the text ids themselves.
        distance: default ``"cosine"``.
        memory_budget: bytes for the scoring tiles.

    Returns:
        :class:`Triplets` with one row per valid (anchor, negative); rows whose
        strategy found fewer than ``K`` candidates contribute fewer rows.
    """
    cfg = config if config is not None else TextMiningConfig()
    a = check_float_tensor("anchor_emb", anchor_emb, ndim=2)
    p = check_float_tensor("positive_emb", positive_emb, ndim=2)
    pool = check_float_tensor("pool_emb", pool_emb, ndim=2)
    if a.shape[0] == 0 or pool.shape[0] == 0:
        raise ValueError(
            f"anchor_emb and pool_emb need rows, got {a.shape[0]} anchors and "
            f"{pool.shape[0]} pool rows"
        )
    if p.shape != a.shape:
        raise ValueError(f"positive_emb must have shape {tuple(a.shape)}, got {tuple(p.shape)}")
    if pool.shape[1] != a.shape[1]:
        raise ValueError(f"pool_emb must have {a.shape[1]} columns, got {pool.shape[1]}")
    for name, ids, n in (
        ("anchor_ids", anchor_ids, a.shape[0]),
        ("positive_ids", positive_ids, a.shape[0]),
        ("pool_ids", pool_ids, pool.shape[0]),
    ):
        check_tensor(name, ids, ndim=1)
        check_length(name, ids, n)
    anchor_ids, positive_ids, pool_ids = (
        t.to(torch.int64) for t in (anchor_ids, positive_ids, pool_ids)
    )
    if cfg.strategy == "category" and categories is None:
        raise ValueError("strategy 'category' needs categories (one per text id)")
    dist = get_distance(distance)
    gen = torch.Generator().manual_seed(cfg.seed)
    clusters = None
    if cfg.strategy == "cluster":
        # one clustering of the pool for every chunk (mine() would redo it per call)
        clusters, _ = kmeans(
            pool,
            min(cfg.num_clusters, pool.shape[0]),
            distance=dist,
            generator=torch.Generator().manual_seed(cfg.seed),
            memory_budget=memory_budget,
        )
    strategy, slots = _strategy(cfg, clusters)
    filters = cfg.filters()
    keys_of = text_keys.to(torch.int64) if text_keys is not None else None
    pool_keys = keys_of[pool_ids] if keys_of is not None else pool_ids
    parts: list[tuple[Tensor, MiningResult]] = []
    for lo in range(0, a.shape[0], ANCHOR_CHUNK):
        hi = min(lo + ANCHOR_CHUNK, a.shape[0])
        aid, pid = anchor_ids[lo:hi], positive_ids[lo:hi]
        rows_l, cols_l = [], []
        for own in (aid, pid):
            r, c = _key_pairs(keys_of[own] if keys_of is not None else own, pool_keys)
            rows_l.append(r)
            cols_l.append(c)
        if structural is not None:
            r, c = structural.banned_pairs(aid, pool_ids)
            rows_l.append(r)
            cols_l.append(c)
        excl = Exclusions().with_pairs(torch.cat(rows_l), torch.cat(cols_l))
        if cfg.strategy == "category" and categories is not None:
            excl = dataclasses.replace(
                excl, query_labels=categories[aid], pool_labels=categories[pool_ids]
            )
        result = mine(
            a[lo:hi],
            pool,
            min(slots, pool.shape[0]),
            strategy,
            positives=p[lo:hi],
            exclusions=excl,
            filters=filters,
            distance=dist,
            generator=gen,
            memory_budget=memory_budget,
        )
        if cfg.strategy == "range":
            if cfg.sampling == "random":
                result = _sample_window(result, cfg.num_negatives, gen)
            else:
                result = MiningResult(
                    result.indices[:, : cfg.num_negatives],
                    result.mask[:, : cfg.num_negatives],
                    result.scores[:, : cfg.num_negatives],
                    None
                    if result.difficulty is None
                    else result.difficulty[:, : cfg.num_negatives],
                    result.report,
                )
        parts.append((torch.arange(lo, hi), result))
    with torch.no_grad():
        pos_score = dist.score_paired(a, p).float()  # [A] s(a, p), as mine() scores it
    return _collect(parts, anchor_ids, positive_ids, pool_ids, pos_score, cfg.strategy)


def _collect(
    parts: list[tuple[Tensor, MiningResult]],
    anchor_ids: Tensor,
    positive_ids: Tensor,
    pool_ids: Tensor,
    pos_score: Tensor,
    strategy: str,
) -> Triplets:
    """Flatten the valid ``(row, slot)`` entries of every chunk into triplet rows."""
    rows, negs, s_n, ranks = [], [], [], []
    for idx, res in parts:
        r, slot = torch.nonzero(res.mask, as_tuple=True)
        rows.append(idx[r])
        negs.append(pool_ids[res.indices[r, slot]])
        s_n.append(res.scores[r, slot].float())
        ranks.append(slot)
    row = torch.cat(rows)
    neg_score = torch.cat(s_n)
    s_p = pos_score[row]
    return Triplets(
        anchor_id=anchor_ids[row],
        positive_id=positive_ids[row],
        negative_id=torch.cat(negs),
        positive_score=s_p,
        negative_score=neg_score,
        difficulty=neg_score - s_p,
        rank=torch.cat(ranks),
        strategy=strategy,
    )


def string_keys(texts: Sequence[str]) -> Tensor:
    """``[T]`` int64: equal strings get equal keys (first-occurrence numbering)."""
    seen: dict[str, int] = {}
    return torch.tensor([seen.setdefault(t, len(seen)) for t in texts], dtype=torch.int64)


def encode_texts(encode: Encode, texts: Sequence[str], batch_size: int = 256) -> Tensor:
    """``[n, d]`` float32 embeddings of ``texts`` by ``encode`` (called per batch)."""
    check_positive_int("batch_size", batch_size)
    chunks = [encode(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
    if not chunks:
        raise ValueError("texts is empty")
    return torch.cat([c.detach().float().cpu() for c in chunks])


def mine_pairs(
    pairs: object,
    encode: Encode,
    *,
    split: str = "train",
    config: TextMiningConfig | None = None,
    structural: BannedPairs | None = None,
    pool_ids: Tensor | None = None,
    distance: str | Distance = "cosine",
    batch_size: int = 256,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Triplets:
    """Encode and mine the pairs of one split of a
    :class:`~contrastkit.data.wordnet_text.TextPairs`.

    The pool is ``pool_ids`` or, by default, the definitions of the split's synsets
    (so test definitions are never training negatives). Texts are encoded once each
    (anchors, positives and pool together). The returned triplets carry their strings.
    """
    from contrastkit.data.wordnet_text import TextPairs

    if not isinstance(pairs, TextPairs):
        raise TypeError(f"pairs must be a TextPairs, got {type(pairs).__name__}")
    part = pairs.subset(split)
    if part.num_pairs == 0:
        raise ValueError(f"split {split!r} has no pairs")
    pool = pairs.definition_ids(split) if pool_ids is None else pool_ids.to(torch.int64)
    needed = torch.unique(torch.cat([part.anchors, part.positives, pool]))
    emb = encode_texts(encode, pairs.text_list(needed), batch_size)
    row = torch.full((pairs.num_texts,), -1, dtype=torch.int64)
    row[needed] = torch.arange(needed.numel())
    triplets = mine_text_triplets(
        emb[row[part.anchors]],
        emb[row[part.positives]],
        emb[row[pool]],
        anchor_ids=part.anchors,
        positive_ids=part.positives,
        pool_ids=pool,
        config=config,
        structural=structural,
        categories=pairs.categories,
        text_keys=string_keys(pairs.texts),
        distance=distance,
        memory_budget=memory_budget,
    )
    return triplets.with_texts(pairs.texts)


def config_json(config: TextMiningConfig) -> str:
    """The mining settings as one JSON line (for run logs and ``.meta.json`` files)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


__all__ = [
    "ANCHOR_CHUNK",
    "SAMPLINGS",
    "TEXT_STRATEGIES",
    "BannedPairs",
    "TextMiningConfig",
    "Triplets",
    "config_json",
    "encode_texts",
    "mine_pairs",
    "mine_task_triplets",
    "mine_text_triplets",
    "string_keys",
]


def mine_task_triplets(
    task: Any,
    encoder: Any,
    config: TextMiningConfig | None = None,
    *,
    distance: str | Distance = "cosine",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Triplets:
    """Triplets for the training examples of a text ``pairs`` task
    (:class:`~contrastkit.train.text_task.TextPairTask`), embedded by the run's
    ``encoder`` (its ``embed(text ids)``), against the task's mining pool (the
    training positives and given negatives), with the task's structural filter,
    equal strings never negatives, and WordNet's lexicographer files as categories.
    Used by ``contrastkit mine`` on a text run; the triplets carry their strings."""
    examples = task.examples
    rows = examples.rows(0)  # the training examples
    anchors, positives = task.anchor[rows], task.positive[rows]
    pool_ids = task.pool_ids
    needed = torch.unique(torch.cat([anchors, positives, pool_ids]))
    was_training = bool(getattr(encoder, "training", False))
    if hasattr(encoder, "eval"):
        encoder.eval()
    try:
        with torch.no_grad():
            emb = encoder.embed(needed).detach().float().cpu()
    finally:
        if hasattr(encoder, "train"):
            encoder.train(was_training)
    row = torch.full((len(examples.texts),), -1, dtype=torch.int64)
    row[needed] = torch.arange(needed.numel())
    pairs = getattr(task, "text_pairs", None)
    triplets = mine_text_triplets(
        emb[row[anchors]],
        emb[row[positives]],
        emb[row[pool_ids]],
        anchor_ids=anchors,
        positive_ids=positives,
        pool_ids=pool_ids,
        config=config,
        # the task's rule covers every group of a string shared by several groups
        structural=getattr(task, "rule", None) or getattr(task, "structural", None),
        categories=None if pairs is None else pairs.categories,
        text_keys=examples.canonical,
        distance=distance,
        memory_budget=memory_budget,
    )
    return triplets.with_texts(examples.texts)
