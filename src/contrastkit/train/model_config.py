"""The ``task`` and ``encoder`` sections of the train config: what a run trains on and
the encoder that embeds it (:class:`~contrastkit.train.config.TrainConfig` composes the
sections and checks them against each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from contrastkit.typed_config import config_fail


@dataclass
class TaskConfig:
    """What a run trains on: ``relations`` of a graph or hierarchy (``data``), ``pairs``
    of items (``pairs``), the ``nodes`` of a featured graph under a GNN (``nodes``), or
    ``fewshot`` episodes of held-out classes, meta-learnt (``meta``)."""

    kind: Literal["relations", "pairs", "nodes", "fewshot"] = "relations"


@dataclass
class ProjectionConfig:
    """``encoder.projection``: an output head on a text encoder
    (:class:`~contrastkit.models.pca_head.PCAHead`). ``kind: pca`` fits it once before
    training to the principal axes of the starting model's embeddings of the training
    split's texts (anchors and positives; never held-out ones): with ``dim`` unset an
    orthogonal rotation (every full-width cosine unchanged, the leading coordinates
    holding the most variance, so Matryoshka prefixes lose least), with ``dim`` below
    the model's width a PCA reduction to ``dim``. ``trainable``: fine-tune the head
    with the model (default) or freeze it; ``centered``: PCA of the covariance
    (default, scikit-learn's and sentence-transformers') or of the uncentred second
    moment. ``kind: pair_pca``: the eigenvectors of the symmetrised cross-covariance of
    the training anchors' and positives' embeddings instead (the directions an anchor
    and its positive vary along together), also a rotation. ``kind: none`` (default):
    the model's own embedding."""

    kind: Literal["none", "pca", "pair_pca"] = "none"
    dim: int | None = None
    trainable: bool = True
    centered: bool = True

    def __post_init__(self) -> None:
        if self.dim is not None and self.dim <= 0:
            config_fail("encoder.projection.dim", f"must be > 0, got {self.dim}")
        if self.kind == "none" and self.dim is not None:
            config_fail(
                "encoder.projection.dim",
                f"needs encoder.projection.kind 'pca' or 'pair_pca', got {self.dim}",
            )

    @property
    def enabled(self) -> bool:
        return self.kind != "none"


@dataclass
class EncoderConfig:
    """``embedding`` is a free table (transductive); ``mlp``/``gnn`` encode node features;
    ``text`` is a sentence-transformers model over a text task's texts
    (:mod:`.text_encoder`: ``model_path`` a local model directory, unset = the packaged
    all-MiniLM-L6-v2; ``max_seq_length`` truncates inputs; ``encode_batch_size`` the
    batch of inference encodes; ``projection`` an output head, :class:`ProjectionConfig`;
    ``dim`` is then the model's width, or the head's)."""

    kind: Literal["embedding", "mlp", "gnn", "text"] = "embedding"
    dim: int = 16
    manifold: Literal["euclidean", "poincare"] = "euclidean"
    init_scale: float = 1e-3
    hidden: int = 128
    layers: int = 2
    gnn: Literal["gcn", "sage", "gat"] = "sage"
    dropout: float = 0.0
    sparse: bool = False
    dtype: Literal["float32", "float64"] = "float32"
    model_path: str | None = None
    max_seq_length: int | None = None
    encode_batch_size: int = 64
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)

    def __post_init__(self) -> None:
        if self.kind != "text" and self.model_path is not None:
            config_fail("encoder.model_path", f"applies to encoder.kind 'text', got {self.kind!r}")
        if self.kind != "text" and self.projection.enabled:
            config_fail(
                "encoder.projection.kind",
                f"{self.projection.kind!r} applies to encoder.kind 'text', got {self.kind!r}",
            )
        if self.max_seq_length is not None and self.max_seq_length <= 0:
            config_fail("encoder.max_seq_length", f"must be > 0, got {self.max_seq_length}")
        if self.encode_batch_size <= 0:
            config_fail("encoder.encode_batch_size", f"must be > 0, got {self.encode_batch_size}")
        if self.kind != "embedding" and self.dtype != "float32":
            config_fail("encoder.dtype", "'float64' needs encoder.kind 'embedding'")
        if self.dim <= 0:
            config_fail("encoder.dim", f"must be > 0, got {self.dim}")
        if self.init_scale <= 0:
            config_fail("encoder.init_scale", f"must be > 0, got {self.init_scale}")
        if self.hidden <= 0:
            config_fail("encoder.hidden", f"must be > 0, got {self.hidden}")
        if self.layers <= 0:
            config_fail("encoder.layers", f"must be > 0, got {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            config_fail("encoder.dropout", f"must be in [0, 1), got {self.dropout}")
        if self.kind != "embedding" and self.manifold == "poincare":
            config_fail("encoder.manifold", "'poincare' needs encoder.kind 'embedding'")
