"""Text encoder settings act as they claim through the trainer:
``encoder.max_seq_length`` truncates the texts the model reads (``"kaz bri"`` cut to
its first word embeds as ``"kaz"``), and ``encoder.encode_batch_size`` is the batch of
``embed_all``'s encoder calls (the embeddings themselves unchanged).

(scripts/config_settings.py found no test referencing either.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastkit.train.trainer import Trainer
from tests.text_tiny import compositional_pairs, text_file_config, tiny_model, write_jsonl


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("text")
    # dropout 0: embeddings compared across trainers are deterministic
    return tiny_model(root, dropout=0.0), write_jsonl(root / "pairs.jsonl", compositional_pairs())


def _trainer(setup: tuple[Path, Path], tmp_path: Path, *extra: str) -> Trainer:
    model, pairs = setup
    return Trainer(text_file_config(model, pairs, tmp_path / "run", *extra))


def test_max_seq_length_truncates_what_the_model_reads(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    texts = ["kaz bri", "kaz"]
    full = _trainer(setup, tmp_path / "a").encoder.encode_texts(texts)  # type: ignore[operator]
    assert not torch.allclose(full[0], full[1], atol=1e-4)
    # [CLS] kaz [SEP]: three tokens leave the second word out
    cut = _trainer(setup, tmp_path / "b", "encoder.max_seq_length=3").encoder.encode_texts(texts)  # type: ignore[operator]
    torch.testing.assert_close(cut[0], cut[1])
    torch.testing.assert_close(cut[1], full[1])


@pytest.mark.parametrize("batch", [7, 64])
def test_encode_batch_size_is_the_batch_of_each_model_call(
    setup: tuple[Path, Path], tmp_path: Path, batch: int
) -> None:
    default = _trainer(setup, tmp_path / "d").encoder.embed_all()
    trainer = _trainer(setup, tmp_path / "b", f"encoder.encode_batch_size={batch}")
    sizes: list[int] = []
    text = trainer.encoder.text  # type: ignore[union-attr]
    # the TextEncoder's forward: one call per encode batch (it buckets by length inside)
    handle = text.register_forward_pre_hook(lambda _m, args: sizes.append(len(args[0])))
    embedded = trainer.encoder.embed_all()
    handle.remove()
    n = embedded.shape[0]
    assert sizes and max(sizes) == min(batch, n) and sum(sizes) == n
    assert len(sizes) == -(-n // batch)
    torch.testing.assert_close(embedded, default, atol=1e-5, rtol=1e-4)
