"""``encoder.kind: text`` — a sentence-transformers model as the trainer's encoder.

The trainer's encoders map item ids to embeddings (:class:`~.encoders.NodeEncoder`);
for text the items are the task's texts, so :class:`TextItemEncoder` holds the
texts and a :class:`~contrastkit.models.text.TextEncoder`:

* ``forward(ids [M]) -> [M, d]`` encodes ``texts[ids]`` with gradients (training
  mode: dropout on) — what a step and gradient caching call, chunk by chunk;
* the transformer's pooler (BERT's ``[CLS]`` dense layer, ``pooler_output``) is
  frozen (``requires_grad`` false): sentence-transformers' pooling reads the token
  embeddings only, so it never receives a gradient — DDP would stop at it as an
  unused parameter, and ``find_unused_parameters`` would cost a graph walk per step;
* ``embed_all() -> [N, d]`` and ``embed(ids)`` encode without gradients in eval mode,
  in length-sorted batches of ``encoder.encode_batch_size``. ``embed_all`` is cached
  until a parameter changes (``Tensor._version`` of every parameter, bumped by each
  in-place optimiser update), so an evaluation that embeds everything twice (the
  collapse check, then the task's metrics) encodes once. With ``embedded_items``
  it covers the first that many texts only (``[N', d]``): a task whose training
  texts extend past its evaluation's (``pairs.train_synsets``) does not encode
  training-only texts at every evaluation. Under data parallelism the trainer
  fills that cache before an evaluation with ``embed_all_across_ranks()``, every
  rank encoding its share (``eval/sharded_encoding.py``), so rank 0's evaluation
  does not encode every text alone.
* ``prepare_training(items)`` (the trainer calls it at step 0) is the *step-0
  encoding*: every text step 0 reads with the starting model -- the evaluation's
  texts, ``fit_items`` (the task's training texts; ``pair_pca``: ``fit_pairs``)
  while an ``encoder.projection`` PCA head is unfitted, and ``items``, what the
  task and objectives read (the mining pool, ``distill``'s targets) -- is encoded
  once, *before* the head (one pass, one batching): the head is fitted to those
  rows and then applied to them (:meth:`~contrastkit.models.text.TextEncoder.finish`,
  the same map a forward pass ends with), and ``embed``/``embed_all``/
  ``embed_every_item`` serve the result until the first parameter update. A head
  from a checkpoint is already fitted and kept. Nothing of the encoding needs a
  checkpoint of its own: what outlives step 0 (the pool, in the task's state;
  ``distill``'s targets, in the objective's; the head's weight) is checkpointed
  where it lives, and a resumed run (step > 0) reads it from there.

The model is the packaged all-MiniLM-L6-v2 (``encoder.model_path`` unset) or any
local sentence-transformers directory; ``encoder.dim`` is the model's width, which
the trainer reads from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastkit.models.pca_head import PCAHead
from contrastkit.models.text import TextEncoder
from contrastkit.train.node_encoder import NodeEncoder


def unused_poolers(text: TextEncoder) -> list[nn.Module]:
    """The Hugging Face models' own poolers inside ``text`` (``auto_model.pooler`` of
    each sentence-transformers ``Transformer`` module): ``pooler_output`` is computed
    but no sentence-transformers pooling mode reads it (mean, CLS and max pool the
    token embeddings), so these parameters never get a gradient."""
    found = []
    for module in text.model.modules():
        pooler = getattr(getattr(module, "auto_model", None), "pooler", None)
        if isinstance(pooler, nn.Module):
            found.append(pooler)
    return found


class TextItemEncoder(NodeEncoder):
    """Text ids in, sentence embeddings out (see the module docstring)."""

    def __init__(
        self,
        text: TextEncoder,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        fit_items: Tensor | None = None,
        fit_pairs: Tensor | None = None,
        embedded_items: int | None = None,
    ) -> None:
        super().__init__()
        if not texts:
            raise ValueError("encoder.kind 'text' needs a task with texts, got none")
        if embedded_items is not None and not 1 <= embedded_items <= len(texts):
            raise ValueError(
                f"embedded_items must be in [1, {len(texts)}] (unset: all), got {embedded_items}"
            )
        self.text = text
        self.texts = list(texts)
        self.embedded_items = len(self.texts) if embedded_items is None else embedded_items
        self.batch_size = batch_size
        # the texts a PCA head is fitted to: the training split's (None: all)
        self.fit_items = None if fit_items is None else fit_items.to(torch.int64).unique()
        # and the (anchor, positive) pairs [2, P] a pair_pca head is fitted to
        self.fit_pairs = None if fit_pairs is None else fit_pairs.to(torch.int64)
        self._cache: tuple[tuple[object, ...], Tensor] | None = None
        # the step-0 encoding (prepare_training): (parameter version, [N] row of each
        # text or -1, [R, d] rows), served while the parameters are those it was made with
        self._start: tuple[tuple[object, ...], Tensor, Tensor] | None = None
        for pooler in unused_poolers(text):
            pooler.requires_grad_(False)

    @property
    def dim(self) -> int:
        return self.text.dim

    def _strings(self, ids: Tensor) -> list[str]:
        return [self.texts[i] for i in ids.tolist()]

    def forward(self, nodes: Tensor) -> Tensor:
        return self.text(self._strings(nodes))

    def _parameter_version(self) -> tuple[object, ...]:
        # in-place updates bump _version; a dtype or device change replaces the data
        params = list(self.parameters())
        return (*(p._version for p in params), params[0].dtype, params[0].device)

    def embed(self, ids: Tensor, *, show_progress: bool | None = None) -> Tensor:
        """``[M, d]`` embeddings of text ids ``ids`` (eval mode, no gradient, batched);
        rows of the step-0 encoding while it is current (:meth:`prepare_training`)."""
        start = self._start_rows(ids)
        if start is not None:
            return start
        return self.text.encode(
            self._strings(ids), batch_size=self.batch_size, show_progress=show_progress
        )

    def encode_texts(self, texts: Sequence[str]) -> Tensor:
        """``[n, d]`` embeddings of arbitrary strings with the current model."""
        return self.text.encode(texts, batch_size=self.batch_size)

    def embed_all(self) -> Tensor:
        """``[N', d]``: the first ``embedded_items`` texts (cached; see the module
        docstring)."""
        return self._embed_prefix(self.embedded_items)

    def embed_every_item(self) -> Tensor:
        """``[N, d]``: every text, training-only ones past ``embedded_items`` too
        (a distillation teacher's targets); shares :meth:`embed_all`'s cache."""
        return self._embed_prefix(len(self.texts))

    def embed_all_across_ranks(self) -> Tensor:
        """:meth:`embed_all` split over the ranks of a data-parallel run: every rank
        encodes its share of the batches
        (:func:`~contrastkit.eval.sharded_encoding.sharded_encode`: the same vectors
        as one process's encode) and receives the whole, which is cached, so an
        :meth:`embed_all` on rank 0 that follows reads it. A collective of every
        rank; it encodes even when the cache is current, since one rank's cache may
        be current (rank 0's evaluation-only embeds) where another's is not."""
        from contrastkit.eval.sharded_encoding import sharded_encode

        ids = torch.arange(self.embedded_items)
        z = sharded_encode(self.text, self._strings(ids), self.batch_size)
        self._cache = (self._parameter_version(), z)
        return z

    def _embed_prefix(self, n: int) -> Tensor:
        start = self._start_rows(torch.arange(n))
        if start is not None:
            return start
        version = self._parameter_version()
        done = self._cache[1] if self._cache is not None and self._cache[0] == version else None
        if done is not None and done.shape[0] >= n:
            return done[:n]
        begin = 0 if done is None else int(done.shape[0])
        with torch.no_grad():
            z = self.embed(torch.arange(begin, n))
        if done is not None:
            z = torch.cat([done, z])
        self._cache = (version, z)
        return z

    def _start_rows(self, ids: Tensor) -> Tensor | None:
        """``[M, d]`` rows of the step-0 encoding for ``ids``, or ``None``: no step-0
        encoding, the parameters moved since (it is dropped then), or an id it lacks."""
        if self._start is None:
            return None
        version, where, z = self._start
        if version != self._parameter_version():
            self._start = None  # the first update ends step 0: free the table
            return None
        rows = where[ids]
        if bool((rows < 0).any()):
            return None
        return z[rows]

    @torch.no_grad()
    def prepare_training(self, items: Tensor | None = None) -> str | None:
        """Step 0 (the trainer calls it before the first step): encode, once and with the
        starting model, every text the step reads -- the first ``embedded_items`` (the
        start evaluation, snapshots), ``fit_items`` (``fit_pairs``) while the
        ``encoder.projection`` head is unfitted, and ``items`` (what the task and
        objectives read: the mining pool, distillation targets); fit the head to the
        pre-head rows; keep the post-head rows (:meth:`~TextEncoder.finish` of the
        same encode) as what :meth:`embed`, :meth:`embed_all` and
        :meth:`embed_every_item` return until a parameter changes. Returns a line
        saying how the head was fitted (``None``: no head to fit -- one restored from
        a checkpoint is already fitted and kept)."""
        head = self.text.head
        unfitted = head if head is not None and not bool(head.fitted) else None
        parts = [torch.arange(self.embedded_items)]
        if unfitted is not None:
            parts.append(self._fit_ids(unfitted.pairs))
        if items is not None:
            parts.append(items.to(torch.int64))
        ids = torch.unique(torch.cat(parts))
        # one encode before the head, of each distinct string once (a text task's
        # repeated strings have ids of their own); the fit reads it, the head finishes it
        distinct: dict[str, int] = {}
        row = [distinct.setdefault(t, len(distinct)) for t in self._strings(ids)]
        raw = self.text.encode(list(distinct), batch_size=self.batch_size, raw=True)
        raw = raw[torch.as_tensor(row, dtype=torch.int64, device=raw.device)]
        where = torch.full((len(self.texts),), -1, dtype=torch.int64)
        where[ids] = torch.arange(ids.numel())
        said = None if unfitted is None else self._fit_head(unfitted, raw, where)
        self._cache = None
        self._start = (self._parameter_version(), where, self.text.finish(raw))
        return said

    def _fit_ids(self, pairs: bool) -> Tensor:
        """The texts a head is fitted to: those of ``fit_pairs`` (``pair_pca``), else
        ``fit_items`` (``None``: every text)."""
        if pairs:
            if self.fit_pairs is None:
                raise ValueError("a pair_pca head needs the task's training pairs (fit_pairs)")
            return torch.unique(self.fit_pairs)
        return self.fit_items if self.fit_items is not None else torch.arange(len(self.texts))

    def _fit_head(self, head: PCAHead, raw: Tensor, where: Tensor) -> str:
        """Fit ``head`` (the text encoder's) to the pre-head rows ``raw`` (``where [N]``:
        each text's row); the line saying what it did."""
        if head.pairs:
            fit = self.text.fit_head_to(raw, pairs=where[self.fit_pairs])
        else:
            fit = self.text.fit_head_to(raw[where[self._fit_ids(False)]])
        k = max(1, head.out_dim // 4)
        # the share the first k raw coordinates held, for comparison
        raw_share = fit.raw_captured(k)
        basis = "pair cross-covariance" if head.pairs else "covariance"
        if not head.centered:
            basis = "uncentred " + basis.replace("covariance", "second moment")
        what = "training pairs" if head.pairs else "training texts"
        quantity = "shared covariance" if head.pairs else "variance"
        return (
            f"encoder.projection: PCA ({basis}) "
            f"of {fit.num_samples} {what}, {head.in_dim} -> {head.out_dim} dims; "
            f"the first {k} coordinates hold {fit.captured(k):.1%} of the {quantity} "
            f"({raw_share:.1%} before)"
        )

    def last_shared_parameters(self) -> list[Tensor]:
        # the last transformer layer's parameters (the pooling has none)
        named = [(n, p) for n, p in self.text.named_parameters() if p.requires_grad]
        layers = [n.split(".layer.")[1].split(".")[0] for n, _ in named if ".layer." in n]
        if not layers:
            return [p for _, p in named]
        last = f".layer.{max(int(i) for i in layers)}."
        return [p for n, p in named if last in n]
