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
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.graph.rng import GeneratorLike, as_generator
from contrastkit.meta.fewshot_data import FewShotData
from contrastkit.meta.hierarchy_features import MissingPolicy, run_embedding_features
from contrastkit.meta.subtree_tasks import primary_lineage, primary_parent

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
    extra_per_class: int = 0,
    extra_classes: Sequence[int] | Tensor = (),
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
        extra_per_class: further synsets drawn (after the labelled sample, from the
            same generator) per class of ``extra_classes``, joining as *unlabelled*
            nodes (``y = -1``) with their hypernyms: items for
            ``meta.train_tasks: subtree``'s meta-train classes (>= 0; 0: none).
        extra_classes: the lexicographer classes those are drawn from (the meta-train
            split; never a validation or test class).

    Returns:
        :class:`FewShotData`: labelled sampled synsets and unlabelled (``y = -1``)
        hypernym context nodes, ``edge_index`` the hypernym edges among them both ways,
        ``node_class`` every node's lexicographer class and ``lineage`` its primary
        hypernym path in the whole of WordNet.
    """
    from contrastkit.data.wordnet import load_wordnet_nouns

    check_positive_int("per_class", per_class)
    check_positive_int("extra_per_class", extra_per_class, allow_zero=True)
    nouns = load_wordnet_nouns(root)
    gen = as_generator(generator)
    drawn = sample_per_class(nouns.lexclass, per_class, gen)
    members = drawn
    extra_classes = torch.as_tensor(extra_classes, dtype=torch.int64).reshape(-1)
    if extra_per_class > 0 and extra_classes.numel():
        bad = extra_classes[(extra_classes < 0) | (extra_classes >= len(nouns.lexnames))]
        if bad.numel():
            raise ValueError(f"extra_classes holds classes outside 0..25: {bad.tolist()}")
        extra = sample_per_class(nouns.lexclass, extra_per_class, gen)
        members = torch.cat([drawn, extra[torch.isin(nouns.lexclass[extra], extra_classes)]])
    edges = nouns.hierarchy_edges()  # child -> hypernym
    is_drawn = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    is_member = torch.zeros(nouns.num_nodes, dtype=torch.bool)
    is_drawn[drawn] = True
    is_member[members] = True
    parents = edges[1, is_member[edges[0]]]
    nodes = torch.unique(torch.cat([members, parents]))  # sorted global ids
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
    lineage = primary_lineage(primary_parent(nouns.num_nodes, edges))[nodes]
    return FewShotData(
        x=x, y=y, edge_index=edge_index, class_names=list(nouns.lexnames),
        node_class=nouns.lexclass[nodes], lineage=lineage,
    )  # fmt: skip
