"""The ``pairs`` task: items (feature vectors) as anchor/positive pairs with labels.

The items ``x [N, F]`` with labels ``y [N]`` (:class:`~.pairs_config.PairsConfig`:
scikit-learn's digits or an ``.npz`` file) are split once, stratified by label and
with a fixed seed, into training items and held-out test items
(:func:`~contrastkit.eval.probe.stratified_split`). Test items never enter a
training batch: not as anchor, positive or negative.

An epoch permutes the training anchors. With ``positives: same_label`` every
training item whose label has another training item is an anchor, and each batch
draws its positives, a uniformly random *other* training item of the same label,
from the run's generator (vectorised); with ``positives: explicit`` the anchors are
the file's pairs whose two ends are training items. A batch of ``B`` anchors is laid
out over its distinct items with their labels, so in-batch objectives mask
same-label keys as false negatives
(:func:`~contrastkit.objectives.entries_contrastive.in_batch_false_negatives`), and
with ``num_negatives = K > 0`` it carries ``K`` negatives per anchor mined by
:func:`~contrastkit.mining.mine` from the training items' embeddings: the pool is
re-encoded (eval mode, no gradient) at the first batch of every
``refresh_every``-th epoch and kept, with its epoch, in the task's checkpointed state
so that a resumed run mines from the same pool. The anchor, its positive and every
item of the anchor's label are excluded from mining. A curriculum's negative count
(``SampleContext.num_negatives``) replaces ``num_negatives`` and its difficulty cap
masks the mined negatives above it.

The evaluation embeds every item; the test items are the queries against the
training items as corpus (:func:`~contrastkit.eval.retrieval.retrieval_metrics`,
relevant = same label: ``test/recall@k``, ``test/precision@k``, ``test/ndcg@k``,
``test/hit@k``, ``test/mrr``) and a logistic probe is fitted on the training items'
embeddings and scored on the test items (``test/probe_accuracy``,
``test/probe_macro_f1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastkit.dist.collectives import build_on_rank_zero
from contrastkit.eval.probe import logistic_probe, stratified_split
from contrastkit.eval.retrieval import retrieval_metrics
from contrastkit.functional.distances import Distance
from contrastkit.mining import build_exclusions
from contrastkit.objectives.batch import Batch
from contrastkit.train.config import TrainConfig
from contrastkit.train.encoders import EncoderInputs, NodeEncoder
from contrastkit.train.negative_count import NegativeBound
from contrastkit.train.pairs_config import PairsConfig
from contrastkit.train.pool_negatives import mine_pool_negatives
from contrastkit.train.task_base import SampleContext, Task

VALIDATION_SIZE = 1024


@dataclass
class PairData:
    """Items of a ``pairs`` task: features ``x [N, F]`` (float32), labels ``[N]``
    (int64, ``>= 0``), optional explicit positive pairs ``[2, P]`` (int64 item ids)."""

    x: Tensor
    labels: Tensor
    pairs: Tensor | None = None
    label_names: list[str] | None = None


def load_pair_data(config: PairsConfig) -> PairData:
    """The items ``config.source`` names (digits, or the ``.npz`` at ``config.path``)."""
    if config.source == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "pairs.source 'digits' needs scikit-learn: pip install 'contrastkit[graph]'"
            ) from err
        bunch = load_digits()
        x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
        y = torch.as_tensor(bunch.target, dtype=torch.int64)
        return PairData(x, y, None, [str(d) for d in range(10)])
    return _load_npz(config.path)


def _load_npz(path: str | None) -> PairData:
    where = f"pairs.path {path!r}"
    if path is None or not Path(path).is_file():
        raise ValueError(f"{where} is not a file")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            data = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where} is not a readable .npz file: {exc}") from None
    for name in ("x", "labels"):
        if name not in data:
            raise ValueError(f"{where} has no array {name!r} (it has {sorted(data)})")
    x, labels = data["x"], data["labels"]
    if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{where}: x must be a non-empty numeric [N, F] array, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: x holds non-finite values")
    n = x.shape[0]
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{where}: labels must be integer [{n}], got {labels.dtype} {labels.shape}"
        )
    if n and int(labels.min()) < 0:
        raise ValueError(f"{where}: labels must be >= 0, got min {int(labels.min())}")
    pairs = None
    if "pairs" in data:
        raw = data["pairs"]
        if raw.ndim != 2 or raw.shape[0] != 2 or not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"{where}: pairs must be integer [2, P], got {raw.dtype} {raw.shape}")
        if raw.size and (int(raw.min()) < 0 or int(raw.max()) >= n):
            raise ValueError(
                f"{where}: pairs must index items [0, {n}), "
                f"got [{int(raw.min())}, {int(raw.max())}]"
            )
        pairs = torch.as_tensor(raw, dtype=torch.int64)
    return PairData(
        torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.int64), pairs
    )


class LabelGroups:
    """Same-label partners among ``M`` items with labels ``labels [M]``.

    The items sorted by label form one block per label; ``partner(a, g)`` draws, for
    positions ``a [B]``, a uniformly random *other* position of the same label (one
    uniform draw per anchor: ``j ~ U{0..n-2}``, shifted past the anchor's own rank).
    """

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels
        self.order = torch.argsort(labels, stable=True)  # [M] positions sorted by label
        counts = torch.bincount(labels)
        self.start = torch.cumsum(counts, 0) - counts  # [C] first slot of each label
        self.count = counts[labels]  # [M] size of each item's label
        self.rank = torch.empty_like(self.order)  # [M] slot of each item in its block
        self.rank[self.order] = torch.arange(labels.numel()) - self.start[labels[self.order]]

    @property
    def has_partner(self) -> Tensor:
        """``[M]`` bool: the item's label has another item."""
        return self.count >= 2

    def partner(self, a: Tensor, generator: torch.Generator) -> Tensor:
        """Positions ``[B]`` of random same-label partners of ``a [B]`` (each ``!= a``)."""
        n = self.count[a]
        if bool((n < 2).any()):
            raise ValueError("every anchor needs another item with its label")
        u = torch.rand(a.numel(), generator=generator, dtype=torch.float64)
        j = torch.minimum((u * (n - 1)).to(torch.int64), n - 2)
        j = j + (j >= self.rank[a]).to(torch.int64)
        return self.order[self.start[self.labels[a]] + j]


class PairTask(Task):
    """Anchor/positive pairs of labelled items; see the module docstring."""

    kind = "pairs"

    def __init__(
        self, config: TrainConfig, generator: torch.Generator, data: PairData | None = None
    ) -> None:
        self.config = config
        self.settings = config.pairs
        self.generator = generator
        self.data = data if data is not None else load_pair_data(config.pairs)
        self.x = self.data.x  # [N, F]
        self.all_labels = self.data.labels  # [N]
        n = self.x.shape[0]
        if self.all_labels.shape != (n,):
            raise ValueError(
                f"labels must have one entry per item [{n}], got {tuple(self.all_labels.shape)}"
            )
        train, test = stratified_split(
            self.all_labels, self.settings.test_fraction, seed=self.settings.split_seed
        )
        if train.numel() == 0 or test.numel() == 0:
            raise ValueError(
                f"pairs.test_fraction {self.settings.test_fraction} leaves "
                f"{train.numel()} training and {test.numel()} test items of {n}"
            )
        self.train_items, self.test_items = train, test  # [M], [T] global ids, sorted
        self.train_labels = self.all_labels[train]  # [M]
        self.pool_pos = torch.full((n,), -1, dtype=torch.int64)  # global id -> pool row
        self.pool_pos[train] = torch.arange(train.numel())
        self.groups = LabelGroups(self.train_labels)
        if self.settings.positives == "explicit":
            pairs = self.data.pairs
            if pairs is None:
                raise ValueError(
                    f"pairs.positives 'explicit' needs a 'pairs' array in {self.settings.path!r}"
                )
            inside = (self.pool_pos[pairs] >= 0).all(0)
            self.train_pairs = pairs[:, inside]  # [2, P'] global ids, both ends training
            count = int(self.train_pairs.shape[1])
        else:
            self.anchor_pos = torch.nonzero(self.groups.has_partner).squeeze(1)  # [A]
            count = int(self.anchor_pos.numel())
        if count == 0:
            raise ValueError(
                f"pairs.positives {self.settings.positives!r}: no training pair "
                f"(source {self.settings.source!r}, {train.numel()} training items)"
            )
        self._num_examples = count
        self.negative_bound().warn("pairs.num_negatives", self.settings.num_negatives, stacklevel=2)
        self._pool: Tensor | None = None  # [M, d] training items' embeddings for mining
        self._pool_epoch = -1
        self._validation: Batch | None = None

    def negative_bound(self) -> NegativeBound:
        """:meth:`min_candidates` of the training items."""
        return NegativeBound(
            self.min_candidates(),
            f"negatives mining can give every anchor here (of the {self.train_items.numel()} "
            "training items, those outside its label and not its positive)",
            "the slots beyond are masked",
        )

    def min_candidates(self) -> int:
        """The fewest pool items any training anchor can mine: the ``M`` training items
        less those of its label (itself among them) and its positive if of another label."""
        if self.settings.positives == "explicit":
            u, v = self.train_pairs
        else:
            u = v = self.train_items[self.anchor_pos]
        lu, lv = self.all_labels[u], self.all_labels[v]
        same = torch.bincount(self.train_labels, minlength=int(self.all_labels.max()) + 1)
        left = self.train_items.numel() - same[lu] - (lv != lu).to(torch.int64)
        return int(left.min())

    # ---- the interface --------------------------------------------------------
    @property
    def num_items(self) -> int:
        return int(self.x.shape[0])

    def num_examples(self) -> int:
        return self._num_examples

    def encoder_inputs(self) -> EncoderInputs:
        return EncoderInputs(self.num_items, self.x, None)

    @property
    def labels(self) -> Tensor:
        return self.all_labels

    @property
    def label_names(self) -> list[str] | None:
        return self.data.label_names

    def pairs_of(self, idx: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Global ids ``(anchors [B], positives [B])`` of training examples ``idx [B]``
        (same-label positives are drawn from ``generator``)."""
        if self.settings.positives == "explicit":
            return self.train_pairs[0, idx], self.train_pairs[1, idx]
        a = self.anchor_pos[idx]
        p = self.groups.partner(a, generator)
        return self.train_items[a], self.train_items[p]

    def batch(self, idx: Tensor, ctx: SampleContext) -> Batch:
        """Anchors ``idx [B]``, their positives and ``[B, K]`` mined negatives over the
        distinct items, with per-row ``labels [U]`` and ``features [U, F]``."""
        u, v = self.pairs_of(idx, self.generator)
        negatives, mask = self.mined_negatives(u, v, ctx)
        batch = Batch.from_ids(u, v, negatives, mask, ctx.temperature)
        batch.labels = self.all_labels[batch.items]
        batch.features = self.x[batch.items]
        batch.size = int(u.numel())
        return batch

    def mined_negatives(self, u: Tensor, v: Tensor, ctx: SampleContext) -> tuple[Tensor, Tensor]:
        """``(negatives [B, K], mask [B, K])``: global ids of the negatives mined for
        anchors ``u [B]`` with positives ``v [B]`` (masked slots hold ``v``)."""
        b = int(u.numel())
        k = self.settings.num_negatives if ctx.num_negatives is None else ctx.num_negatives
        k = min(int(k), int(self.train_items.numel()))
        if k <= 0:
            return torch.empty(b, 0, dtype=torch.long), torch.empty(b, 0, dtype=torch.bool)
        pool = self.mining_pool(ctx)
        encoder = ctx.encoder
        encoder.eval()
        try:
            with torch.no_grad():
                z = encoder(torch.cat([u, v]))
        finally:
            encoder.train()
        exclusions = build_exclusions(
            b,
            pool.shape[0],
            query_ids=self.pool_pos[u],
            positive_ids=self.pool_pos[v],
            query_labels=self.all_labels[u],
            pool_labels=self.train_labels,
        )
        _, negatives, mask = mine_pool_negatives(
            z[:b],
            z[b:],
            pool,
            self.train_items,
            v,
            k,
            self.settings.mine_strategy,
            ctx,
            exclusions=exclusions,
            generator=self.generator,
        )
        return negatives, mask

    def mining_pool(self, ctx: SampleContext) -> Tensor:
        """``[M, d]`` embeddings of the training items, re-encoded at the first call of
        an epoch that is a multiple of ``refresh_every`` (or when there is none yet)."""
        pool = self._pool
        if pool is None or (
            ctx.epoch != self._pool_epoch and ctx.epoch % self.settings.refresh_every == 0
        ):
            encoder = ctx.encoder

            def encode_pool() -> Tensor:
                encoder.eval()
                try:
                    with torch.no_grad():
                        return encoder(self.train_items).detach()
                finally:
                    encoder.train()

            # data-parallel: encoded once on rank 0 and broadcast (every rank's equal)
            pool = build_on_rank_zero(encode_pool)
            self._pool, self._pool_epoch = pool, ctx.epoch
        return pool

    @torch.no_grad()
    def evaluate(self, encoder: NodeEncoder, distance: Distance) -> dict[str, float]:
        """Test items against the training items (retrieval, relevant = same label) and
        a logistic probe fitted on the training items, scored on the test items."""
        was_training = encoder.training
        encoder.eval()
        try:
            z = encoder.embed_all().detach()  # [N, d]
        finally:
            encoder.train(was_training)
        train, test = self.train_items, self.test_items
        retrieval = retrieval_metrics(
            z[test],
            z[train],
            query_labels=self.all_labels[test],
            corpus_labels=self.all_labels[train],
            ks=self.settings.eval_ks,
            distance=distance,
        )
        metrics = {f"test/{name}": value for name, value in retrieval.items()}
        if int(torch.unique(self.train_labels).numel()) >= 2:
            # the probe's own stratified split is the task's (same labels, share, seed):
            # it fits on the training items and scores the held-out ones
            probe = logistic_probe(
                z,
                self.all_labels,
                test_size=self.settings.test_fraction,
                seed=self.settings.split_seed,
            )
            if int(probe["num_test"]) != int(test.numel()):
                raise RuntimeError("the probe's split differs from the task's")
            metrics["test/probe_accuracy"] = probe["accuracy"]
            metrics["test/probe_macro_f1"] = probe["macro_f1"]
            metrics["train/probe_accuracy"] = probe["train_accuracy"]
        return metrics

    def validation_batch(self, temperature: float) -> Batch | None:
        """Up to 1024 test items paired with random other test items of their label, no
        negatives (``K = 0``); drawn once from seed ``loop.seed + 1``."""
        if self._validation is None:
            gen = torch.Generator().manual_seed(self.config.loop.seed + 1)
            groups = LabelGroups(self.all_labels[self.test_items])
            candidates = torch.nonzero(groups.has_partner).squeeze(1)
            if candidates.numel() == 0:
                return None
            take = candidates[torch.randperm(candidates.numel(), generator=gen)[:VALIDATION_SIZE]]
            partner = groups.partner(take, gen)
            u, v = self.test_items[take], self.test_items[partner]
            b = int(u.numel())
            batch = Batch.from_ids(
                u,
                v,
                torch.empty(b, 0, dtype=torch.long),
                torch.empty(b, 0, dtype=torch.bool),
                temperature,
            )
            batch.labels = self.all_labels[batch.items]
            batch.features = self.x[batch.items]
            batch.size = b
            self._validation = batch
        self._validation.temperature = temperature
        return self._validation

    def snapshot_pairs(self, limit: int) -> tuple[Tensor, Tensor]:
        """Up to ``limit`` training anchor/positive pairs ``(u [P], v [P])`` (fixed seed)."""
        gen = torch.Generator().manual_seed(1)
        take = torch.randperm(self._num_examples, generator=gen)[:limit]
        return self.pairs_of(take, gen)

    def state_dict(self) -> dict[str, Any]:
        # the mining pool was encoded at its refresh epoch: a resumed run must mine from
        # the same one, which it cannot re-encode mid-way (the encoder has moved on)
        pool = torch.empty(0) if self._pool is None else self._pool
        return {"pool": pool, "pool_epoch": self._pool_epoch, "has_pool": self._pool is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pool = state["pool"] if state.get("has_pool", False) else None
        self._pool_epoch = int(state.get("pool_epoch", -1))
