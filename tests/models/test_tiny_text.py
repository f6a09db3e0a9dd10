"""TextEncoder on a tiny random BERT: no deprecation warning, length-sorted batches
returned in order, a progress bar, any script; the builder is deterministic."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastkit.models.text import TextEncoder
from contrastkit.models.tiny_text import build_tiny_bert, build_vocab
from tests.text_tiny import ARABIC, all_texts, tiny_model


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> TextEncoder:
    return TextEncoder(tiny_model(tmp_path_factory.mktemp("tiny")))


def test_no_deprecation_warning(encoder: TextEncoder, caplog, recwarn) -> None:
    with caplog.at_level(logging.WARNING):
        encoder(["kaz bri", "mab yam"])
        encoder.encode(["kaz bri"])
    said = [r.getMessage() for r in caplog.records] + [str(w.message) for w in recwarn]
    assert not [m for m in said if "deprecated" in m], said


def test_length_sorted_batches_come_back_in_order(encoder: TextEncoder) -> None:
    texts = ["kaz", "kaz bri cor dap fel gim", "mab yam zed", "a", *ARABIC, "lom lom lom"]
    together = encoder.encode(texts, batch_size=3)
    one_by_one = torch.cat([encoder.encode([t]) for t in texts])
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-4)
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_shards_of_the_batch_plan_give_the_whole_encode_bit_for_bit(
    encoder: TextEncoder,
) -> None:
    """Every ``W``-th batch of the length-sorted plan (a rank's share under data
    parallelism) encodes to the rows one whole encode gives, exactly: the same batches,
    so the same padding; texts of 1 to 30 words, so the batches pad differently."""
    gen = torch.Generator().manual_seed(0)
    words = all_texts()[:16]
    texts = [
        " ".join(words[int(i)] for i in torch.randint(16, (int(n),), generator=gen))
        for n in torch.randint(1, 16, (50,), generator=gen)
    ]
    whole = encoder.encode(texts, batch_size=7)  # 8 batches
    for world in (1, 3, 9):  # 9 ranks: the last has no batch
        shards = [encoder.encode_batches(texts, 7, shard=(r, world)) for r in range(world)]
        rows = torch.cat([r for r, _ in shards])
        assert torch.equal(torch.sort(rows).values, torch.arange(len(texts)))
        assert torch.equal(torch.cat([z for _, z in shards]), whole[rows])
    assert shards[-1][1].shape == (0, encoder.dim)
    # a shard's own encode batches differently: equal to rounding only, not bitwise
    alone = encoder.encode(texts[:25], batch_size=7)
    torch.testing.assert_close(alone, whole[:25], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="shard"):
        encoder.encode_batches(texts, 7, shard=(3, 3))


def test_progress_bar_on_long_encodes(encoder: TextEncoder, capsys) -> None:
    encoder.encode(["kaz bri"] * 10, batch_size=4, show_progress=True)
    assert "encode" in capsys.readouterr().err
    encoder.encode(["kaz bri"] * 10, batch_size=4)  # short: quiet by default
    assert capsys.readouterr().err == ""


def test_any_script_tokenises_without_unknowns(encoder: TextEncoder) -> None:
    ids = encoder.tokenize([*ARABIC, "kaz bri"])["input_ids"]
    assert not bool((ids == 1).any())  # [UNK] is id 1


def test_builder_is_deterministic_and_validates(tmp_path: Path) -> None:
    a = TextEncoder(build_tiny_bert(tmp_path / "a", all_texts(), dim=16, seed=3))
    b = TextEncoder(build_tiny_bert(tmp_path / "b", all_texts(), dim=16, seed=3))
    c = TextEncoder(build_tiny_bert(tmp_path / "c", all_texts(), dim=16, seed=4))
    texts = ["kaz bri", ARABIC[0]]
    torch.testing.assert_close(a.encode(texts), b.encode(texts))
    assert not torch.allclose(a.encode(texts), c.encode(texts))
    assert a.dim == 16
    with pytest.raises(ValueError, match="heads"):
        build_tiny_bert(tmp_path / "d", ["x"], dim=15, heads=2)
    with pytest.raises(ValueError, match="dropout"):
        build_tiny_bert(tmp_path / "e", ["x"], dropout=1.0)
    vocab = build_vocab(["Ab, cd"], vocab_size=1)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {",", "##,", "a", "##b"} <= set(vocab)  # characters are kept past the size


def test_length_buckets_do_not_change_embeddings_or_gradients(tmp_path: Path) -> None:
    path = tiny_model(tmp_path, dropout=0.0)
    texts = ["kaz", "kaz bri cor dap fel gim hox", "mab yam", *ARABIC, "lom"]
    outs, grads = [], []
    for buckets in (1, 3):
        enc = TextEncoder(path, length_buckets=buckets).double()
        out = enc(texts)
        out.pow(2).sum(dim=0).mul(torch.arange(out.shape[1])).sum().backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in enc.parameters() if p.grad is not None]))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="length_buckets"):
        TextEncoder(path, length_buckets=0)
