"""Few-shot classification of WordNet noun synsets by lexicographer class.

The 26 noun lexicographer files (``noun.animal``, ``noun.artifact``, ...) are the
classes. Encoding all 82,115 glosses with MiniLM takes long on one CPU thread, so a
seeded sample of at most ``per_class`` synsets per class is drawn (the smallest
classes, ``noun.motive`` and ``noun.Tops``, have 42 and 51), together with their direct
hypernyms as unlabelled *context* nodes: the GNN encoder passes messages over the
hypernym edges among them (both directions), an MLP reads each synset's own gloss.

Node features are the packaged all-MiniLM-L6-v2 sentence embeddings of the glosses
(:class:`~contrastkit.models.text.TextEncoder`, ``[N, 384]``, unit rows), cached in
``cache_dir`` under a name keyed by the synsets drawn and the model: a second run with
the same sample reads the file instead of re-encoding. Or (``features_run``) the rows
of a trained hierarchy embedding, a ``contrastkit train`` relation run over WordNet,
matched by synset name (:mod:`~contrastkit.meta.hierarchy_features`: a Poincaré run
through the log map at the origin).

Example:
    >>> data = wordnet_fewshot_data(per_class=100, cache_dir="runs/cache")  # doctest: +SKIP
    >>> data.num_classes, data.x.shape[1]  # doctest: +SKIP
    (26, 384)
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.graph.rng import GeneratorLike, as_generator
from contrastkit.meta.fewshot_data import FewShotData
from contrastkit.meta.hierarchy_features import MissingPolicy, run_embedding_features

FEATURE_CACHE_VERSION = 1


def sample_per_class(labels: Tensor, per_class: int, generator: GeneratorLike | None) -> Tensor:
    """Sorted ids of at most ``per_class`` items of each class of ``labels [N]`` drawn
    uniformly without replacement (all of a smaller class)."""
    gen = as_generator(generator)
    keys = torch.rand(labels.numel(), generator=gen)
    by_key = torch.argsort(keys)
    order = by_key[torch.argsort(labels[by_key], stable=True)]  # class-major, random within
    sorted_labels = labels[order]
    counts = torch.bincount(sorted_labels)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.numel()) - starts[sorted_labels]
    return order[rank < per_class].sort().values


def _cache_file(cache_dir: Path, offsets: Tensor, model: str) -> Path:
    digest = hashlib.sha256()
    digest.update(f"v{FEATURE_CACHE_VERSION}|{model}|gloss|".encode())
    digest.update(offsets.numpy().tobytes())
    return cache_dir / f"wordnet_minilm_{digest.hexdigest()[:16]}.pt"


def cached_gloss_features(
    glosses: list[str], offsets: Tensor, cache_dir: str | os.PathLike[str], batch_size: int = 64
) -> Tensor:
    """MiniLM embeddings ``[N, 384]`` of ``glosses``, read from ``cache_dir`` when an
    earlier call encoded the same synsets (``offsets [N]``) with the same model, else
    encoded and written there (to a temporary name, then renamed)."""
    from contrastkit.models.text import TextEncoder, default_model_path
    from contrastkit.train.checkpoint import atomic_write_bytes

    model_path = default_model_path()
    folder = Path(cache_dir)
    path = _cache_file(folder, offsets, str(model_path.parent.name))
    if path.is_file():
        try:
            state = torch.load(path, weights_only=True)
        except Exception:  # a truncated or foreign file is a cache miss: encode again
            state = {}
        cached = state.get("x") if isinstance(state, dict) else None
        if isinstance(cached, Tensor) and torch.equal(state.get("offsets"), offsets):
            if cached.shape[0] == offsets.numel():
                return cached
    encoder = TextEncoder(model_path)
    x = encoder.encode(glosses, batch_size=batch_size).to(torch.float32)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"offsets": offsets.clone(), "x": x}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return x


def wordnet_fewshot_data(
    *,
    per_class: int = 200,
    cache_dir: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    generator: GeneratorLike | None = None,
    features_run: str | os.PathLike[str] | None = None,
    features_missing: MissingPolicy = "error",
) -> FewShotData:
    """The WordNet few-shot data of the module docstring.

    Args:
        per_class: synsets drawn per lexicographer class (at most; > 0).
        cache_dir: where the MiniLM features are cached.
        root: the WordNet directory (default ``/usr/share/wordnet``).
        generator: ``torch.Generator`` or seed of the sample (default seed 0).
        features_run: a trained run directory whose rows are the features (by synset
            name) instead of MiniLM's gloss embeddings (``cache_dir`` then unused).
        features_missing: ``"error"`` (default) or ``"zero"``, for synsets the run lacks.

    Returns:
        :class:`FewShotData`: labelled sampled synsets and unlabelled (``y = -1``)
        hypernym context nodes, ``edge_index`` the hypernym edges among them both ways.
    """
    from contrastkit.data.wordnet import load_wordnet_nouns

    check_positive_int("per_class", per_class)
    nouns = load_wordnet_nouns(root)
    drawn = sample_per_class(nouns.lexclass, per_class, generator)
    edges = nouns.hierarchy_edges()  # child -> hypernym
    is_drawn = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    is_drawn[drawn] = True
    parents = edges[1, is_drawn[edges[0]]]
    nodes = torch.unique(torch.cat([drawn, parents]))  # sorted global ids
    local = torch.full((nouns.num_nodes,), -1, dtype=torch.int64)
    local[nodes] = torch.arange(nodes.numel())
    inside = (local[edges[0]] >= 0) & (local[edges[1]] >= 0)
    sub = local[edges[:, inside]]
    edge_index = torch.cat([sub, sub.flip(0)], dim=1)
    y = torch.where(is_drawn[nodes], nouns.lexclass[nodes], torch.full_like(nodes, -1))
    if features_run is not None:
        names = [nouns.names[i] for i in nodes.tolist()]
        x = run_embedding_features(features_run, names, missing=features_missing)
    else:
        x = cached_gloss_features(
            [nouns.glosses[i] for i in nodes.tolist()], nouns.offsets[nodes], cache_dir
        )
    return FewShotData(x=x, y=y, edge_index=edge_index, class_names=list(nouns.lexnames))
