"""The WordNet few-shot data: per-class sample, hypernym context, feature cache (with a
stand-in for MiniLM, so the test needs no model run)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from contrastkit.meta import wordnet_fewshot
from contrastkit.meta.wordnet_fewshot import sample_per_class, wordnet_fewshot_data
from contrastkit.train.config import TrainConfig

WN_DIR = os.environ.get("CONTRASTKIT_WORDNET_DIR", "/usr/share/wordnet")


def test_sample_per_class_takes_at_most_k_of_each_class_without_repeats() -> None:
    labels = torch.tensor([0] * 10 + [1] * 3 + [2] * 6)[torch.randperm(19)]
    drawn = sample_per_class(labels, 4, generator=0)
    assert drawn.unique().numel() == drawn.numel()
    assert torch.bincount(labels[drawn]).tolist() == [4, 3, 4]
    assert torch.equal(drawn, sample_per_class(labels, 4, generator=0))
    assert not torch.equal(drawn, sample_per_class(labels, 4, generator=1))


class _FakeEncoder:
    calls = 0

    def __init__(self, path: object) -> None:
        pass

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        _FakeEncoder.calls += 1
        # a deterministic stand-in: the gloss length in one column, so rows differ
        return torch.tensor([[float(len(t)), 1.0] for t in texts])


@pytest.mark.skipif(not Path(WN_DIR, "data.noun").is_file(), reason="wordnet-base not installed")
def test_sample_context_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contrastkit.data.wordnet as wordnet
    import contrastkit.models.text as text

    nouns = wordnet.load_wordnet_nouns(WN_DIR)  # parsed once for the three calls
    monkeypatch.setattr(wordnet, "load_wordnet_nouns", lambda root=None: nouns)
    monkeypatch.setattr(text, "TextEncoder", _FakeEncoder)
    monkeypatch.setattr(text, "default_model_path", lambda: tmp_path / "pkg" / "model")
    data = wordnet_fewshot_data(per_class=30, cache_dir=tmp_path / "cache", generator=0)
    assert _FakeEncoder.calls == 1 and data.num_classes == 26
    labelled = data.y >= 0
    assert torch.bincount(data.y[labelled], minlength=26).tolist() == [30] * 26
    assert int((~labelled).sum()) > 0  # hypernyms that were not drawn: context only
    assert data.edge_index is not None
    # every labelled synset is linked to its hypernyms (roots of the noun tree aside)
    linked = torch.zeros(data.y.numel(), dtype=torch.bool)
    linked[data.edge_index[0]] = True
    assert float(linked[labelled].float().mean()) > 0.99
    assert data.x[:, 0].min() > 0  # the rows are the glosses' (none empty)
    again = wordnet_fewshot_data(per_class=30, cache_dir=tmp_path / "cache", generator=0)
    assert _FakeEncoder.calls == 1  # read from the cache
    assert torch.equal(again.x, data.x) and torch.equal(again.y, data.y)
    (cache_file,) = (tmp_path / "cache").iterdir()
    cache_file.write_bytes(b"truncated")  # a broken cache file is re-encoded, not an error
    wordnet_fewshot_data(per_class=30, cache_dir=tmp_path / "cache", generator=0)
    assert _FakeEncoder.calls == 2
    assert wordnet_fewshot.FEATURE_CACHE_VERSION >= 1


@pytest.mark.skipif(not Path(WN_DIR, "data.noun").is_file(), reason="wordnet-base not installed")
def test_extra_synsets_join_only_the_meta_train_classes_unlabelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contrastkit.data.wordnet as wordnet
    import contrastkit.models.text as text

    nouns = wordnet.load_wordnet_nouns(WN_DIR)
    monkeypatch.setattr(wordnet, "load_wordnet_nouns", lambda root=None: nouns)
    monkeypatch.setattr(text, "TextEncoder", _FakeEncoder)
    monkeypatch.setattr(text, "default_model_path", lambda: tmp_path / "pkg" / "model")
    from contrastkit.meta.run import build_fewshot_data
    from contrastkit.meta.trainer import MetaTrainer
    from contrastkit.train.config import load_config

    def config(extra: int) -> TrainConfig:
        overrides = [
            "meta.per_class=20", "meta.train_tasks=subtree", f"meta.train_per_class={extra}",
            f"meta.cache_dir={tmp_path}", "loop.seed=3", "encoder.kind=mlp",
        ]  # fmt: skip
        return load_config(
            Path(__file__).parents[2] / "configs/wordnet_fewshot_maml.yaml", overrides
        )

    base, more = build_fewshot_data(config(0)), build_fewshot_data(config(60))
    train = MetaTrainer(config(60), more).splits.train
    assert base.node_class is not None and more.node_class is not None
    # the labelled sample is unchanged: the same synsets (gloss rows), the same classes
    assert torch.equal(more.x[more.y >= 0], base.x[base.y >= 0])
    assert torch.equal(more.y[more.y >= 0], base.y[base.y >= 0])
    # the extra synsets are unlabelled nodes of the run's meta-train classes (with
    # their hypernyms): never of a validation or test class
    grown = torch.bincount(more.node_class, minlength=26) - torch.bincount(
        base.node_class, minlength=26
    )
    assert bool((grown[train] >= 10).all())  # (noun.motive has 42 synsets in all)
    held_out = torch.ones(26, dtype=torch.bool)
    held_out[train] = False
    assert int(grown[held_out].sum()) < 0.05 * int(grown.sum())  # a cross-file hypernym
    # lineage: root-first primary paths, every one from entity.n.01, ending at the node
    assert base.lineage is not None and more.lineage is not None
    entity = nouns.index("entity.n.01")
    assert bool((more.lineage[:, 0] == entity).all())
    depth = (more.lineage >= 0).sum(1) - 1
    ends = more.lineage[torch.arange(depth.numel()), depth]
    assert torch.equal(nouns.lexclass[ends], more.node_class)
    with pytest.raises(ValueError, match="extra_classes"):
        wordnet_fewshot_data(
            per_class=20, cache_dir=tmp_path, extra_per_class=5, extra_classes=[26]
        )
