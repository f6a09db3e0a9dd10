"""Small text data and a tiny random-weight BERT for the text tests (no download).

``compositional_pairs``: anchors ``"<a_i> <b_j>"`` and positives ``"<c_i> <d_j>"``
over four disjoint made-up vocabularies, so an anchor shares no token with its
positive: an untrained encoder retrieves at chance, and only an encoder that learned
the token correspondences from the training combinations retrieves the held-out
combinations (every token of a held-out pair occurs in training).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from contrastkit.models.tiny_text import build_tiny_bert
from contrastkit.train.config import TrainConfig, load_config

A = ["kaz", "lom", "pif", "rud", "sev", "tug", "vox", "wen"]
B = ["bri", "cor", "dap", "fel", "gim", "hox", "jun", "kip"]
C = ["mab", "nol", "opi", "quz", "ras", "sol", "tiv", "ule"]
D = ["yam", "zed", "axo", "bun", "cef", "dor", "eli", "fum"]
ARABIC = ["قطة صغيرة تنام", "كلب كبير يركض", "شجرة خضراء عالية", "سيارة حمراء سريعة"]


def compositional_pairs(test_every: int = 4) -> list[dict[str, str]]:
    """64 examples; every ``test_every``-th combination (a Latin square, so each token
    stays in training) is marked ``test``, one in 16 ``validation``."""
    rows = []
    for i in range(8):
        for j in range(8):
            slot = (i + 2 * j) % 8
            split = "test" if slot % test_every == 0 else "train"
            if slot == 3 and j % 4 == 0:
                split = "validation"
            rows.append({"anchor": f"{A[i]} {B[j]}", "positive": f"{C[i]} {D[j]}", "split": split})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def all_texts() -> list[str]:
    rows = compositional_pairs()
    return [r["anchor"] for r in rows] + [r["positive"] for r in rows] + ARABIC


def tiny_model(root: Path, *, dropout: float = 0.1, dim: int = 32) -> Path:
    """The tiny BERT over :func:`all_texts`'s vocabulary, written under ``root``."""
    return build_tiny_bert(root / f"tiny_{dim}_{dropout}", all_texts(), dim=dim, dropout=dropout)


def text_file_config(model_dir: Path, path: Path, run_dir: Path, *extra: str) -> TrainConfig:
    """A pairs task over the JSONL file ``path`` with the text encoder at ``model_dir``:
    MNR, AdamW at 3e-3, batches of 16, retrieval at k 1 and 5; ``extra`` overrides
    (later settings win)."""
    return load_config(
        None,
        [
            "task.kind=pairs",
            "pairs.source=text_file",
            f"pairs.path={path}",
            "encoder.kind=text",
            f"encoder.model_path={model_dir}",
            "objectives.infonce=0",
            "objectives.mnr=1.0",
            "optim.name=adamw",
            "optim.lr=0.003",
            "loop.batch_size=16",
            "loop.progress=false",
            "loop.log_every=1000",
            "output.report=false",
            f"output.run_dir={run_dir}",
            "pairs.eval_ks=[1,5]",
            *extra,
        ],
    )


class FirstCheckpoint:
    """A ``Trainer.fit(checkpoint=...)`` callback keeping the first checkpoint's state
    (serialised, as a checkpoint file holds it); :meth:`state` reads it back."""

    def __init__(self) -> None:
        self.saved: bytes | None = None

    def __call__(self, trainer: Any) -> None:
        if self.saved is None:
            buffer = io.BytesIO()
            torch.save(trainer.state_dict(), buffer)
            self.saved = buffer.getvalue()

    def state(self) -> dict[str, Any]:
        assert self.saved is not None, "no checkpoint was taken"
        state: dict[str, Any] = torch.load(io.BytesIO(self.saved), weights_only=True)
        return state
