"""Settings of the ``pairs`` task (``task.kind: pairs``): items as anchor/positive pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from contrastkit.typed_config import config_fail


@dataclass
class PairsConfig:
    """How the ``pairs`` task draws its pairs and evaluates (see :mod:`.pair_task`).

    * ``source``: ``digits`` (scikit-learn's 1,797 handwritten digits, ``x [N, 64]`` in
      ``[0, 1]``, the digit as label) or ``file``: an ``.npz`` at ``path`` with ``x [N, F]``
      float features, ``labels [N]`` non-negative integer labels and optionally
      ``pairs [2, P]`` item ids (the explicit positive pairs).
    * ``positives``: ``same_label`` — every epoch each training item is an anchor and its
      positive a random *other* training item with the same label (drawn per batch from
      the run's generator); ``explicit`` — the file's ``pairs`` whose two ends are both
      training items.
    * ``test_fraction``: share of every label's items held out (a stratified split by
      ``split_seed``); held-out items are never anchors, positives or negatives in
      training and are the queries of the evaluation.
    * ``num_negatives``: negatives mined per anchor from the training items (0: in-batch
      negatives only) with ``mine_strategy`` (a name :func:`contrastkit.mining.mine`
      accepts); the pool's embeddings are re-encoded every ``refresh_every`` epochs.
      Mining never returns the anchor, its positive or an item with the anchor's label.
    * ``eval_ks``: the cut-offs of the retrieval metrics.

    Text sources (``encoder.kind: text``; :mod:`.text_task`), whose examples are their
    own explicit pairs (``positives`` does not apply):

    * ``text_file``: a JSONL/CSV/Parquet file at ``path`` of (anchor, positive[,
      negatives...]) texts (:mod:`contrastkit.data.text_pairs_files`);
    * ``wordnet_text``: WordNet 3.0 nouns (``path``: the WordNet directory, unset = the
      Debian one), pairs of ``wordnet_kinds`` over ``max_synsets`` seeded synsets
      (unset: all), split by synset; ``structural_hops`` the false-negative filter's
      hops (``-1``: off).
    * ``train_synsets`` (``wordnet_text``): train on a seeded draw of this many noun
      synsets from all of WordNet instead of the sample's training share — never a
      validation/test synset, one within ``train_exclude_hops`` hypernym/hyponym hops
      of one or sharing a lemma with one (``train_exclude_hops: -1``: neither), or one
      with a held-out text string; the validation/test queries, corpus and
      distractors stay those of the ``max_synsets`` sample
      (:func:`~contrastkit.data.wordnet_text.build_text_pairs`). Unset: the sample's
      training share.
    * ``validation_fraction`` / ``test_fraction``: the split shares (by synset, or by
      group / anchor text for files without a ``split`` column);
    * ``eval_distractors``: corpus texts added to the held-out positives;
    * ``general_similarity``: also SimLex-999 / Lee-50 Spearman at each evaluation.
    * ``eval_splits``: the held-out splits a text source's retrieval evaluates —
      ``[test]`` (default; metrics ``test/...``); add ``validation``
      (``validation/...``) to choose settings without looking at the test split (one
      encoding serves both).
    * false-negative filters of the mined negatives (sentence-transformers'
      ``mine_hard_negatives``; :class:`~contrastkit.mining.filters.FalseNegativeFilters`):
      ``mine_range_min`` skips the best ``r`` surviving candidates (a rank window
      ``r .. r + K``), ``mine_absolute_margin`` keeps ``s_n < s_p - m``,
      ``mine_relative_margin`` keeps ``s_n < s_p - m |s_p|``, ``mine_max_score`` keeps
      ``s_n <= max``.
    """

    source: Literal["digits", "file", "text_file", "wordnet_text"] = "digits"
    path: str | None = None
    positives: Literal["same_label", "explicit"] = "same_label"
    test_fraction: float = 0.2
    split_seed: int = 0
    num_negatives: int = 0
    mine_strategy: str = "hardest"
    refresh_every: int = 1
    eval_ks: list[int] = field(default_factory=lambda: [1, 5, 10])
    validation_fraction: float = 0.1
    wordnet_kinds: list[str] = field(default_factory=lambda: ["lemmas", "example", "hypernym"])
    max_synsets: int | None = None
    train_synsets: int | None = None
    train_exclude_hops: int = 0
    structural_hops: int = 2
    eval_distractors: int = 2000
    general_similarity: bool = False
    mine_range_min: int = 0
    mine_absolute_margin: float | None = None
    mine_relative_margin: float | None = None
    mine_max_score: float | None = None
    eval_splits: list[str] = field(default_factory=lambda: ["test"])

    def __post_init__(self) -> None:
        from contrastkit.mining.strategies import STRATEGY_NAMES

        if self.source == "file" and not self.path:
            config_fail("pairs.path", "is required for pairs.source 'file' (an .npz file)")
        if self.source == "text_file" and not self.path:
            config_fail("pairs.path", "is required for pairs.source 'text_file'")
        if not 0.0 <= self.validation_fraction < 1.0 or (
            self.validation_fraction + self.test_fraction >= 1.0
        ):
            config_fail(
                "pairs.validation_fraction",
                f"must be in [0, 1) and leave a training share beside test_fraction "
                f"{self.test_fraction}, got {self.validation_fraction}",
            )
        kinds = ("lemmas", "example", "hypernym")
        if not self.wordnet_kinds or any(k not in kinds for k in self.wordnet_kinds):
            config_fail(
                "pairs.wordnet_kinds", f"must be some of {list(kinds)}, got {self.wordnet_kinds}"
            )
        if self.max_synsets is not None and self.max_synsets < 2:
            config_fail("pairs.max_synsets", f"must be >= 2 (unset: all), got {self.max_synsets}")
        if self.train_synsets is not None:
            if self.source != "wordnet_text":
                config_fail(
                    "pairs.train_synsets",
                    f"applies to pairs.source 'wordnet_text', got source {self.source!r}",
                )
            if self.train_synsets < 1:
                config_fail(
                    "pairs.train_synsets", f"must be >= 1 (unset: off), got {self.train_synsets}"
                )
        if self.train_exclude_hops < -1:
            config_fail(
                "pairs.train_exclude_hops",
                f"must be >= -1 (-1: only held-out synsets), got {self.train_exclude_hops}",
            )
        if self.structural_hops < -1:
            config_fail(
                "pairs.structural_hops", f"must be >= -1 (-1: off), got {self.structural_hops}"
            )
        if self.mine_range_min < 0:
            config_fail("pairs.mine_range_min", f"must be >= 0, got {self.mine_range_min}")
        for key in ("mine_absolute_margin", "mine_relative_margin"):
            value = getattr(self, key)
            if value is not None and value < 0:
                config_fail(f"pairs.{key}", f"must be >= 0 (unset: off), got {value}")
        filtered = self.mine_range_min or any(
            getattr(self, k) is not None
            for k in ("mine_absolute_margin", "mine_relative_margin", "mine_max_score")
        )
        if filtered and self.source not in ("text_file", "wordnet_text"):
            config_fail(
                "pairs.mine_range_min",
                f"the mining filters apply to text sources, got source {self.source!r}",
            )
        if (
            not self.eval_splits
            or len(set(self.eval_splits)) != len(self.eval_splits)
            or not set(self.eval_splits) <= {"test", "validation"}
        ):
            config_fail(
                "pairs.eval_splits",
                f"must be distinct names among ['test', 'validation'], got {self.eval_splits}",
            )
        if self.eval_splits != ["test"] and self.source not in ("text_file", "wordnet_text"):
            config_fail(
                "pairs.eval_splits",
                f"applies to text sources, got source {self.source!r}",
            )
        if self.eval_distractors < 0:
            config_fail("pairs.eval_distractors", f"must be >= 0, got {self.eval_distractors}")
        if self.source not in ("file", "text_file", "wordnet_text") and self.path is not None:
            config_fail(
                "pairs.path",
                f"applies to pairs.source 'file', 'text_file' or 'wordnet_text', "
                f"got source {self.source!r}",
            )
        if self.positives == "explicit" and self.source != "file":
            config_fail(
                "pairs.positives",
                f"'explicit' needs pairs.source 'file' with a 'pairs' array, got {self.source!r}",
            )
        if not 0.0 < self.test_fraction < 1.0:
            config_fail("pairs.test_fraction", f"must be in (0, 1), got {self.test_fraction}")
        if self.split_seed < 0:
            config_fail("pairs.split_seed", f"must be >= 0, got {self.split_seed}")
        if self.num_negatives < 0:
            config_fail("pairs.num_negatives", f"must be >= 0, got {self.num_negatives}")
        if self.mine_strategy not in STRATEGY_NAMES:
            config_fail(
                "pairs.mine_strategy",
                f"must be one of {list(STRATEGY_NAMES)}, got {self.mine_strategy!r}",
            )
        if self.refresh_every < 1:
            config_fail("pairs.refresh_every", f"must be >= 1, got {self.refresh_every}")
        if not self.eval_ks or any(k <= 0 for k in self.eval_ks):
            config_fail(
                "pairs.eval_ks", f"must be a non-empty list of ints > 0, got {self.eval_ks}"
            )
