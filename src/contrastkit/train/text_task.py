"""The ``pairs`` task over texts: (anchor, positive[, negatives]) text examples.

``task.kind: pairs`` with ``encoder.kind: text`` and ``pairs.source`` one of

* ``wordnet_text`` — WordNet 3.0 noun synsets (:mod:`contrastkit.data.wordnet_text`):
  (lemma names | a usage example) -> definition and definition -> hypernym's
  definition, split by synset so that test synsets are never seen; the structural
  false-negative filter (same synset, shared lemma, within 2 hypernym/hyponym hops)
  bans candidates in mining and masks them in every batch;
* ``text_file`` — a JSONL/CSV/Parquet file (:mod:`contrastkit.data.text_pairs_files`).

Items are text ids; every id is first mapped to its string's *canonical* id, so a
string that occurs twice in a batch is one row of ``z`` and in-batch objectives mask
it as the same item, never as its own negative. A row's label is its (first) group
and ``Batch.false_negatives [U, U]`` carries the rule over *every* group of each
string (:class:`~contrastkit.data.text_memberships.FalseNegativeRule`: a string
shared by two synsets — WordNet's lemma text ``"bank"`` — is never a negative of
either's texts) with the structural filter between groups, so MNR, InfoNCE and the
triplet loss never push apart related texts. Mining bans the same pairs.

Negatives of a batch: the file's given negatives, then ``pairs.num_negatives`` (or a
curriculum's count) mined with ``pairs.mine_strategy`` from the *pool* — the distinct
texts of the training positives and given negatives — embedded with the current
model and re-embedded every ``pairs.refresh_every`` epochs (periodic re-mining). The
anchor's own text and positive, same-group texts and structurally related ones are
never mined; ``pairs.mine_range_min`` and the margins filter likely false negatives
(sentence-transformers' ``mine_hard_negatives``: a rank window, ``s_n < s_p - m``);
a curriculum's difficulty cap masks mined negatives above it. The
difficulties :math:`s(a, n) - s(a, p)` of the negatives mined from each pool (each
*round*) are written to ``snapshots/difficulty_round_NNN.npy`` in the run directory
(at the next re-mining and at every evaluation of training) for the report's
difficulty plots.

Evaluation (:meth:`TextPairTask.evaluate`): the held-out examples' anchors (of each
split of ``pairs.eval_splits``: ``test``, and ``validation`` to choose settings) are the
queries against a corpus of every held-out positive plus up to
``pairs.eval_distractors`` distractors (the other held-out split's, then training
positives; a fixed seed), relevant = the query's positives (WordNet: the held-out
synsets' lemma names against their definitions plus other synsets' definitions);
Recall@K, nDCG@K, hit@K and MRR
(:func:`~contrastkit.eval.retrieval.retrieval_metrics`), at the full width and,
with ``matryoshka.dims``, at each truncated width (``test/dim{d}/...``, rows
renormalised); keys are prefixed with the split (``test/`` or ``validation/``).
Where every query has one relevant item (WordNet), the per-query rank of it at each
width is written to ``snapshots/retrieval_ranks_NNN.npz`` (one file per evaluation of
training; arrays ``{split}_full``, ``{split}_dim{d}`` and ``{split}_query_ids``)
so two runs can be compared query by query
(:mod:`contrastkit.eval.paired_bootstrap`). :meth:`~TextPairTask.evaluate` writes
nothing; :meth:`~TextPairTask.record_evaluation` writes both files, and the trainer
calls it only while training (or ``Trainer.evaluate(run_files=True)``), so evaluating
a restored run (``contrastkit eval RUN``) leaves its directory unchanged. With
``pairs.general_similarity`` also SimLex-999 and Lee-50 Spearman correlations
(gensim's bundled data; skipped when gensim is absent).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from contrastkit.data.text_pairs import TEST, TRAIN, VALIDATION, TextExamples
from contrastkit.dist.collectives import build_on_rank_zero
from contrastkit.eval.retrieval import retrieval_metrics
from contrastkit.functional.distances import Distance
from contrastkit.mining import build_exclusions
from contrastkit.mining.filters import FalseNegativeFilters
from contrastkit.objectives.batch import Batch
from contrastkit.train.config import TrainConfig
from contrastkit.train.encoders import EncoderInputs, NodeEncoder
from contrastkit.train.negative_count import NegativeBound
from contrastkit.train.pool_negatives import mine_pool_negatives
from contrastkit.train.task_base import SampleContext, Task

VALIDATION_SIZE = 1024


def load_text_examples(config: TrainConfig) -> tuple[TextExamples, Any, Any]:
    """``(examples, wordnet_pairs | None, structural_filter | None)`` of
    ``config.pairs.source``."""
    settings = config.pairs
    fractions = (settings.validation_fraction, settings.test_fraction)
    if settings.source == "text_file":
        from contrastkit.data.text_pairs_files import read_text_pairs

        if settings.path is None:
            raise ValueError("pairs.path is required for pairs.source 'text_file'")
        return (
            read_text_pairs(settings.path, fractions=fractions, seed=settings.split_seed),
            None,
            None,
        )
    from contrastkit.data.text_pairs import from_wordnet_pairs
    from contrastkit.data.wordnet import load_wordnet_nouns
    from contrastkit.data.wordnet_structure import StructuralFilter
    from contrastkit.data.wordnet_text import load_wordnet_text_pairs

    nouns = load_wordnet_nouns(settings.path)
    train_frac = 1.0 - settings.validation_fraction - settings.test_fraction
    pairs = load_wordnet_text_pairs(
        kinds=tuple(settings.wordnet_kinds),
        fractions=(train_frac, settings.validation_fraction, settings.test_fraction),
        seed=settings.split_seed,
        max_synsets=settings.max_synsets,
        nouns=nouns,
        train_synsets=settings.train_synsets,
        exclude_hops=settings.train_exclude_hops,
    )
    structural = None
    if settings.structural_hops >= 0:
        structural = StructuralFilter.from_pairs(pairs, nouns, hops=settings.structural_hops)
    return from_wordnet_pairs(pairs), pairs, structural


class TextPairTask(Task):
    """Text examples as anchor/positive pairs; see the module docstring."""

    kind = "pairs"

    def __init__(
        self,
        config: TrainConfig,
        generator: torch.Generator,
        examples: TextExamples | None = None,
        structural: Any = None,
    ) -> None:
        self.config = config
        self.settings = config.pairs
        self.generator = generator
        self.text_pairs: Any = None  # the WordNet pairs (data.wordnet_text.TextPairs)
        if examples is None:
            examples, self.text_pairs, structural = load_text_examples(config)
        self.examples = examples
        self.structural = structural
        ex = examples
        canon = ex.canonical
        self.anchor, self.positive = canon[ex.anchor], canon[ex.positive]  # [P]
        neg = ex.negatives
        self.given = torch.where(neg >= 0, canon[neg.clamp_min(0)], -1)  # [P, K0]
        # every group of every distinct string: a text shared by several groups (WordNet
        # synsets with one lemma text, a shared gloss) is a false negative for each
        from contrastkit.data.text_memberships import FalseNegativeRule, TextMemberships

        n_all = len(ex.texts)
        member_ids, member_groups = canon, ex.groups
        if ex.memberships is not None:
            member_ids = torch.cat([member_ids, canon[ex.memberships[0]]])
            member_groups = torch.cat([member_groups, ex.memberships[1]])
        self.memberships = TextMemberships(n_all, member_ids, member_groups)
        self.rule = FalseNegativeRule(self.memberships, structural)
        self.train_rows = ex.rows(TRAIN)
        if self.train_rows.numel() == 0:
            raise ValueError(f"pairs.source {self.settings.source!r}: no training example")
        # the mining pool: distinct training positives and given negatives
        given = self.given[self.train_rows]
        self.pool_ids = torch.unique(
            torch.cat([self.positive[self.train_rows], given[given >= 0]])
        )  # [M] canonical text ids
        n = len(ex.texts)
        self.pool_pos = torch.full((n,), -1, dtype=torch.int64)
        self.pool_pos[self.pool_ids] = torch.arange(self.pool_ids.numel())
        # a mining label per text: its group, or (no group) a label of its own
        self.mine_labels = torch.where(ex.groups >= 0, ex.groups, -2 - torch.arange(n))
        self._pool: Tensor | None = None
        self._pool_epoch = -1
        s = self.settings
        self.filters = FalseNegativeFilters(
            absolute_margin=s.mine_absolute_margin,
            relative_margin=s.mine_relative_margin,
            max_score=s.mine_max_score,
            skip_top=s.mine_range_min,
        )
        self._min_candidates: int | None = None  # the ban scan, done once when needed
        if self.settings.num_negatives > 0:  # (nothing mined: the scan is skipped)
            self.negative_bound().warn(
                "pairs.num_negatives", self.settings.num_negatives, stacklevel=2
            )
        self._round = -1  # re-mining rounds so far (pool embeddings)
        self._round_difficulty: list[Tensor] = []
        self._validation: Batch | None = None
        self._eval_sets: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        self._num_evals = 0  # evaluations recorded so far (per-query rank files)
        self._last_ranks: dict[str, Tensor] = {}  # the last evaluation's, to record

    def negative_bound(self) -> NegativeBound:
        """:meth:`min_candidates` of the mining pool."""
        return NegativeBound(
            self.min_candidates(),
            f"negatives mining can give every anchor here (of the {self.pool_ids.numel()} "
            "pool texts, those outside its groups, not its positive nor related to it)",
            "the slots beyond are masked",
        )

    def min_candidates(self) -> int:
        """The fewest pool texts any training anchor can mine: the ``M`` pool texts less
        those of its mining label, its own text and positive, and the pairs the
        false-negative rule bans (deduplicated), before the margin filters (a scan of
        every training anchor's bans, done once)."""
        if self._min_candidates is None:
            self._min_candidates = self._count_min_candidates()
        return self._min_candidates

    def _count_min_candidates(self) -> int:
        rows = self.train_rows
        u, v = self.anchor[rows], self.positive[rows]
        m = int(self.pool_ids.numel())
        a = torch.arange(u.numel())
        label_u = self.mine_labels[u]
        pool_labels = self.mine_labels[self.pool_ids]
        # the label exclusion, counted per label: labels are >= -2 - n, shift to >= 0
        shift = -int(torch.cat([label_u, pool_labels]).min())
        same = torch.bincount(pool_labels + shift, minlength=int(label_u.max()) + shift + 1)
        r, c = self.rule.banned_pairs(u, self.pool_ids)
        r = torch.cat([r, a, a])
        c = torch.cat([c, self.pool_pos[v], self.pool_pos[u]])
        keep = c >= 0
        r, c = r[keep], c[keep]
        keep = pool_labels[c] != label_u[r]  # those of its label are counted already
        pairs = torch.unique(r[keep] * m + c[keep])
        extra = torch.bincount(pairs // m, minlength=u.numel())
        return int((m - same[label_u + shift] - extra).min())

    # ---- the interface --------------------------------------------------------
    @property
    def texts(self) -> list[str]:
        return self.examples.texts

    @property
    def num_items(self) -> int:
        return len(self.examples.texts)

    def num_examples(self) -> int:
        return int(self.train_rows.numel())

    @property
    def embedded_items(self) -> int:
        """Texts ``[0, embedded_items)`` are the ones whole-embedding views cover
        (``embed_all``: evaluation, collapse check, snapshots): with
        ``pairs.train_synsets`` the sample's, not the extra training synsets'."""
        sample = getattr(self.text_pairs, "sample_texts", None)
        return self.num_items if sample is None else int(sample)

    def encoder_inputs(self) -> EncoderInputs:
        # what a PCA head (encoder.projection) is fitted to: the training anchors and
        # positives, never a held-out text
        rows = self.train_rows
        pairs = torch.stack([self.anchor[rows], self.positive[rows]])  # [2, P]
        return EncoderInputs(
            self.num_items,
            None,
            None,
            texts=self.examples.texts,
            fit_items=torch.unique(pairs),
            fit_pairs=pairs,
            embedded_items=self.embedded_items,
        )

    def _layout(self, u: Tensor, v: Tensor, negatives: Tensor, mask: Tensor, tau: float) -> Batch:
        batch = Batch.from_ids(u, v, negatives, mask, tau)
        batch.labels = self.examples.groups[batch.items]
        # every group of each distinct text (and the structural relation between them)
        batch.false_negatives = self.rule.forbidden(batch.items, batch.items)
        batch.forbidden = self.rule.forbidden  # for other ranks' candidates
        batch.size = int(u.numel())
        return batch

    def batch(self, idx: Tensor, ctx: SampleContext) -> Batch:
        """Training examples ``idx [B]``: anchors, positives and ``[B, K0 + K]``
        negatives (given, then mined) over the distinct texts."""
        rows = self.train_rows[idx]
        u, v = self.anchor[rows], self.positive[rows]
        given = self.given[rows]
        mined, mined_mask = self.mined_negatives(u, v, ctx)
        negatives = torch.cat([torch.where(given >= 0, given, v.unsqueeze(1)), mined], dim=1)
        mask = torch.cat([given >= 0, mined_mask], dim=1)
        return self._layout(u, v, negatives, mask, ctx.temperature)

    def mined_negatives(self, u: Tensor, v: Tensor, ctx: SampleContext) -> tuple[Tensor, Tensor]:
        """``(negatives [B, K], mask [B, K])`` canonical text ids mined for anchors
        ``u [B]`` with positives ``v [B]`` (masked slots hold ``v``)."""
        b = int(u.numel())
        k = self._negative_count(ctx)
        if k <= 0:
            return torch.empty(b, 0, dtype=torch.long), torch.empty(b, 0, dtype=torch.bool)
        pool = self.mining_pool(ctx)
        encoder = ctx.encoder
        z = encoder.embed(torch.cat([u, v]))  # type: ignore[operator]
        exclusions = build_exclusions(
            b,
            pool.shape[0],
            positive_ids=torch.stack([self.pool_pos[v], self.pool_pos[u]], dim=1),
            query_labels=self.mine_labels[u],
            pool_labels=self.mine_labels[self.pool_ids],
        )
        rows, cols = self.rule.banned_pairs(u, self.pool_ids)  # every group of each text
        exclusions = exclusions.with_pairs(rows, cols)
        result, negatives, mask = mine_pool_negatives(
            z[:b],
            z[b:],
            pool,
            self.pool_ids,
            v,
            k,
            self.settings.mine_strategy,
            ctx,
            exclusions=exclusions,
            generator=self.generator,
            filters=self.filters,
        )
        # s(a, n) - s(a, p) of the kept negatives, for this round's difficulty histogram
        s_n = ctx.distance.score_paired(
            z[:b].unsqueeze(1).expand(-1, k, -1).to(pool.dtype), pool[result.safe_indices()]
        )
        s_p = ctx.distance.score_paired(z[:b], z[b:]).to(s_n.dtype)
        self._round_difficulty.append((s_n - s_p.unsqueeze(1))[mask].float())
        return negatives, mask

    def _negative_count(self, ctx: SampleContext) -> int:
        """Negatives mined per anchor under ``ctx``: the curriculum's count, else
        ``pairs.num_negatives``, at most the pool's size."""
        k = self.settings.num_negatives if ctx.num_negatives is None else ctx.num_negatives
        return min(int(k), int(self.pool_ids.numel()))

    def start_items(self, ctx: SampleContext) -> Tensor:
        """The texts the first step under ``ctx`` embeds with the starting model: the
        pool when that step mines and no pool is held yet (a resumed run restores
        its pool), else none -- for the encoder's step-0 encoding."""
        if self._pool is not None or self._negative_count(ctx) <= 0:
            return torch.empty(0, dtype=torch.int64)
        return self.pool_ids

    def save_difficulty_round(self) -> None:
        """Write the current round's difficulties (if any) under the run directory."""
        if self._round < 0 or not self._round_difficulty:
            return
        from contrastkit.report.text_analysis import save_difficulty_round

        values = torch.cat(self._round_difficulty)
        save_difficulty_round(self.config.output.run_dir, self._round, values)

    def mining_pool(self, ctx: SampleContext) -> Tensor:
        """``[M, d]`` embeddings of the pool with the current model, re-embedded at the
        first call of every ``refresh_every``-th epoch (periodic re-mining)."""
        pool = self._pool
        if pool is None or (
            ctx.epoch != self._pool_epoch and ctx.epoch % self.settings.refresh_every == 0
        ):
            self.save_difficulty_round()  # the round that ends here
            embed = ctx.encoder.embed
            # data-parallel: embedded once on rank 0 and broadcast (every rank's equal)
            pool = build_on_rank_zero(lambda: embed(self.pool_ids).detach())  # type: ignore[operator]
            self._pool, self._pool_epoch = pool, ctx.epoch
            self._round += 1
            self._round_difficulty = []
        return pool

    # ---- evaluation -----------------------------------------------------------
    def eval_sets(self, split: str = "test") -> tuple[Tensor, Tensor, Tensor]:
        """``(queries [Q], corpus [C], relevant [2, R])``: canonical ids of the held-out
        anchors and of the corpus, and the (query row, corpus row) relevant pairs."""
        if split in self._eval_sets:
            return self._eval_sets[split]
        if split not in ("test", "validation"):
            raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
        if self.text_pairs is not None:
            self._eval_sets[split] = self._wordnet_eval_sets(split)
            return self._eval_sets[split]
        ex = self.examples
        held_code, other_code = (TEST, VALIDATION) if split == "test" else (VALIDATION, TEST)
        test = ex.rows(held_code)
        if test.numel() == 0:
            raise ValueError(f"pairs.source {self.settings.source!r}: no {split} example")
        held = torch.unique(self.positive[test])
        others = torch.cat(
            [
                torch.unique(self.positive[ex.rows(other_code)]),
                torch.unique(self.positive[self.train_rows]),
            ]
        )
        others = others[~torch.isin(others, held)]
        gen = torch.Generator().manual_seed(self.settings.split_seed + 17)
        # distractors: the other held-out split's positives first, then training ones
        n_val = int(torch.unique(self.positive[ex.rows(other_code)]).numel())
        val_part = others[:n_val][torch.randperm(n_val, generator=gen)]
        train_part = others[n_val:][torch.randperm(others.numel() - n_val, generator=gen)]
        distractors = torch.unique(
            torch.cat([val_part, train_part])[: self.settings.eval_distractors]
        )
        corpus = torch.cat([held, distractors[~torch.isin(distractors, held)]])
        # a query that is itself in the corpus (definition -> hypernym's definition)
        # would retrieve itself: such examples are not queries
        keep = ~torch.isin(self.anchor[test], corpus)
        qa, qp = self.anchor[test][keep], self.positive[test][keep]
        if qa.numel() == 0:
            raise ValueError("no held-out example has an anchor outside the corpus")
        queries, q_row = torch.unique(qa, return_inverse=True)
        c_pos = torch.full((self.num_items,), -1, dtype=torch.int64)
        c_pos[corpus] = torch.arange(corpus.numel())
        relevant = torch.unique(torch.stack([q_row, c_pos[qp]]), dim=1)
        self._eval_sets[split] = (queries, corpus, relevant)
        return self._eval_sets[split]

    def _wordnet_eval_sets(self, split_name: str) -> tuple[Tensor, Tensor, Tensor]:
        """WordNet: the held-out synsets' lemma names against every held-out definition
        plus ``eval_distractors`` other definitions
        (:func:`contrastkit.eval.text_retrieval.retrieval_split`)."""
        from contrastkit.eval.text_retrieval import retrieval_split

        split = retrieval_split(
            self.text_pairs,
            split_name,
            kinds=("lemmas",),
            num_distractors=self.settings.eval_distractors,
            seed=self.settings.split_seed,
        )
        canon = self.examples.canonical
        q = int(split.relevant.numel())
        relevant = torch.stack([torch.arange(q), split.relevant.to(torch.int64)])
        return canon[split.query_ids], canon[split.corpus_ids], relevant

    @torch.no_grad()
    def evaluate(self, encoder: NodeEncoder, distance: Distance) -> dict[str, float]:
        """Retrieval of held-out positives at the full width and every Matryoshka width
        (see the module docstring), plus general similarity when configured. Writes
        nothing: :meth:`record_evaluation` writes its per-query ranks."""
        z = encoder.embed_all()  # cached: the trainer's collapse check embeds it too
        full = int(z.shape[1])
        widths = [full, *(d for d in self.config.matryoshka.dims if d < full)]
        ks = self.settings.eval_ks
        ranks: dict[str, Tensor] = {}
        metrics: dict[str, float] = {}
        for split in self.settings.eval_splits:
            queries, corpus, relevant = self.eval_sets(split)
            zq, zc = z[queries], z[corpus]
            one_relevant = relevant.shape[1] == queries.numel() and bool(
                (relevant[0] == torch.arange(queries.numel())).all()
            )
            for d in widths:
                tq = zq if d == full else torch.nn.functional.normalize(zq[:, :d], dim=1)
                tc = zc if d == full else torch.nn.functional.normalize(zc[:, :d], dim=1)
                key = split if d == full else f"{split}/dim{d}"
                for name, value in retrieval_metrics(
                    tq, tc, relevant_pairs=relevant, ks=ks, distance=distance
                ).items():
                    metrics[f"{key}/{name}"] = value
                if one_relevant:
                    width = "full" if d == full else f"dim{d}"
                    ranks[f"{split}_{width}"] = self._ranks(tq, tc, relevant[1])
            if one_relevant:
                ranks[f"{split}_query_ids"] = queries
            metrics[f"{split}/num_queries"] = float(queries.numel())
            metrics[f"{split}/corpus_size"] = float(corpus.numel())
        self._last_ranks = ranks
        if self.settings.general_similarity:
            metrics.update(self._general_similarity(encoder))
        return metrics

    @staticmethod
    def _ranks(zq: Tensor, zc: Tensor, relevant: Tensor) -> Tensor:
        """``[Q]`` rank (1 = first) of each query's one relevant corpus row (cosine)."""
        from contrastkit.eval.text_retrieval import relevant_ranks

        q = torch.nn.functional.normalize(zq.float(), dim=1)
        c = torch.nn.functional.normalize(zc.float(), dim=1)
        return relevant_ranks(q, c, relevant)

    def record_evaluation(self) -> None:
        """Write the current re-mining round's difficulties and the last evaluation's
        per-query ranks (if any: one relevant item per query) under the run directory,
        as ``snapshots/retrieval_ranks_NNN.npz`` numbered by the evaluations recorded."""
        from contrastkit.eval.paired_bootstrap import save_retrieval_ranks

        self.save_difficulty_round()
        ranks, self._last_ranks = self._last_ranks, {}
        if ranks:
            self._num_evals += 1
            save_retrieval_ranks(self.config.output.run_dir, self._num_evals - 1, ranks)

    def _general_similarity(self, encoder: NodeEncoder) -> dict[str, float]:
        try:
            from contrastkit.eval.general_similarity import general_similarity
        except ImportError:  # pragma: no cover - the module ships with the package
            return {}
        scores = general_similarity(encoder.encode_texts)  # type: ignore[arg-type]
        return {f"general/{k.replace('/', '_')}": float(v) for k, v in scores.items()}

    def validation_batch(self, temperature: float) -> Batch | None:
        """Up to 1024 validation examples (no negatives), drawn once from
        ``loop.seed + 1``."""
        if self._validation is None:
            rows = self.examples.rows(VALIDATION)
            if rows.numel() == 0:
                return None
            gen = torch.Generator().manual_seed(self.config.loop.seed + 1)
            rows = rows[torch.randperm(rows.numel(), generator=gen)[:VALIDATION_SIZE]]
            b = int(rows.numel())
            self._validation = self._layout(
                self.anchor[rows],
                self.positive[rows],
                torch.empty(b, 0, dtype=torch.long),
                torch.empty(b, 0, dtype=torch.bool),
                temperature,
            )
        self._validation.temperature = temperature
        return self._validation

    def snapshot_pairs(self, limit: int) -> tuple[Tensor, Tensor]:
        """Up to ``limit`` training (anchor, positive) pairs, canonical ids (fixed seed);
        validation pairs when training texts lie outside :attr:`embedded_items`
        (``pairs.train_synsets``: the snapshots read ``embed_all``)."""
        gen = torch.Generator().manual_seed(1)
        rows = self.train_rows
        if self.embedded_items < self.num_items:
            rows = self.examples.rows(VALIDATION)
        take = rows[torch.randperm(rows.numel(), generator=gen)[:limit]]
        return self.anchor[take], self.positive[take]

    def state_dict(self) -> dict[str, Any]:
        pool = torch.empty(0) if self._pool is None else self._pool
        return {
            "pool": pool,
            "pool_epoch": self._pool_epoch,
            "has_pool": self._pool is not None,
            "round": self._round,
            "num_evals": self._num_evals,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pool = state["pool"] if state.get("has_pool", False) else None
        self._pool_epoch = int(state.get("pool_epoch", -1))
        self._round = int(state.get("round", -1))
        self._num_evals = int(state.get("num_evals", 0))
