"""Text-pair settings act as they claim through the trainer:
``encoder.max_seq_length`` truncates the texts the model reads (``"kaz bri"`` cut to
its first word embeds as ``"kaz"``), ``encoder.encode_batch_size`` is the batch of
``embed_all``'s encoder calls (the embeddings themselves unchanged), and
``pairs.mine_absolute_margin`` / ``mine_relative_margin`` keep every mined negative
scoring below its positive by the margin (``s_n < s_p - m``, ``s_p - m |s_p|``).

(scripts/config_settings.py found no test referencing the first two, and the margins
only in a bad-value test.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import torch

from contrastkit.train.trainer import Trainer
from tests.text_tiny import compositional_pairs, text_file_config, tiny_model, write_jsonl


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("text")
    # dropout 0: embeddings compared across trainers are deterministic
    rows = cast(list[dict[str, object]], compositional_pairs())
    return tiny_model(root, dropout=0.0), write_jsonl(root / "pairs.jsonl", rows)


def _trainer(setup: tuple[Path, Path], tmp_path: Path, *extra: str) -> Any:
    """A trainer over the pairs (typed ``Any``: its encoder is a TextItemEncoder)."""
    model, pairs = setup
    return Trainer(text_file_config(model, pairs, tmp_path / "run", *extra))


def test_max_seq_length_truncates_what_the_model_reads(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    texts = ["kaz bri", "kaz"]
    full = _trainer(setup, tmp_path / "a").encoder.encode_texts(texts)
    assert not torch.allclose(full[0], full[1], atol=1e-4)
    # [CLS] kaz [SEP]: three tokens leave the second word out
    cut = _trainer(setup, tmp_path / "b", "encoder.max_seq_length=3").encoder.encode_texts(texts)
    torch.testing.assert_close(cut[0], cut[1])
    torch.testing.assert_close(cut[1], full[1])


@pytest.mark.parametrize("batch", [7, 64])
def test_encode_batch_size_is_the_batch_of_each_model_call(
    setup: tuple[Path, Path], tmp_path: Path, batch: int
) -> None:
    default = _trainer(setup, tmp_path / "d").encoder.embed_all()
    trainer = _trainer(setup, tmp_path / "b", f"encoder.encode_batch_size={batch}")
    sizes: list[int] = []
    text = trainer.encoder.text
    # the TextEncoder's forward: one call per encode batch (it buckets by length inside)
    handle = text.register_forward_pre_hook(lambda _m, args: sizes.append(len(args[0])))
    embedded = trainer.encoder.embed_all()
    handle.remove()
    n = embedded.shape[0]
    assert sizes and max(sizes) == min(batch, n) and sum(sizes) == n
    assert len(sizes) == -(-n // batch)
    torch.testing.assert_close(embedded, default, atol=1e-5, rtol=1e-4)


def _mined_scores(
    setup: tuple[Path, Path], tmp_path: Path, *extra: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(s_n [B, K], s_p [B], mask [B, K])``: cosine scores of the training anchors'
    mined negatives and positives, and which slots hold a negative."""
    trainer = _trainer(setup, tmp_path, "pairs.num_negatives=8", *extra)
    task: Any = trainer.task
    rows = task.train_rows[:24]
    u, v = task.anchor[rows], task.positive[rows]
    negatives, mask = task.mined_negatives(u, v, trainer.sample_context())
    embed = trainer.encoder.embed
    z_u, z_v, z_n = embed(u), embed(v), embed(negatives.reshape(-1)).view(*negatives.shape, -1)
    s_n = torch.einsum("bd,bkd->bk", z_u, z_n)  # unit rows: cosines
    return s_n, (z_u * z_v).sum(1), mask


@pytest.mark.parametrize("key", ["pairs.mine_absolute_margin", "pairs.mine_relative_margin"])
def test_mine_margins_keep_negatives_below_the_positive(
    setup: tuple[Path, Path], tmp_path: Path, key: str
) -> None:
    kind = "absolute" if "absolute" in key else "relative"
    margin = 0.05
    s_n, s_p, mask = _mined_scores(setup, tmp_path / "off")
    bound = s_p - margin * (1.0 if kind == "absolute" else s_p.abs())
    assert bool((s_n >= bound[:, None])[mask].any())  # unfiltered mining takes some
    s_n, s_p, mask = _mined_scores(setup, tmp_path / "on", f"{key}={margin}")
    bound = s_p - margin * (1.0 if kind == "absolute" else s_p.abs())
    assert bool(mask.any())
    assert bool((s_n < bound[:, None] + 1e-6)[mask].all())
