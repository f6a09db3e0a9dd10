"""Evaluating a finished run reads its directory and writes nothing there.

A text run's training evaluations write per-query rank files
(``snapshots/retrieval_ranks_NNN.npz``); ``contrastkit eval RUN``,
``Trainer.restore(run)`` followed by ``trainer.evaluate()`` or by the task's own
``evaluate``, leave every file byte-identical and add none. The rank file is written
only when asked (``Trainer.evaluate(run_files=True)``), as the next in the series.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")

from contrastkit.cli import main
from contrastkit.eval.paired_bootstrap import read_retrieval_ranks
from contrastkit.train import Trainer, train
from tests.text_tiny import compositional_pairs, text_file_config, tiny_model, write_jsonl


def _contents(run_dir: Path) -> dict[str, str]:
    """Every file and folder under ``run_dir``: relative path -> SHA-256 (``dir``)."""
    return {
        str(p.relative_to(run_dir)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("evaluated")
    pairs = write_jsonl(base / "pairs.jsonl", compositional_pairs())  # type: ignore[arg-type]
    config = text_file_config(
        tiny_model(base), pairs, base / "run", "loop.epochs=1", "eval.at_start=true"
    )
    train(config)
    return base / "run"


def test_a_training_run_writes_a_rank_file_per_evaluation(run_dir: Path) -> None:
    ranks = sorted(p.name for p in (run_dir / "snapshots").glob("retrieval_ranks_*.npz"))
    assert ranks == ["retrieval_ranks_000.npz", "retrieval_ranks_001.npz"]


def test_evaluating_a_restored_run_leaves_its_directory_byte_identical(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _contents(run_dir)
    assert main(["eval", str(run_dir)]) == 0
    assert "test/mrr" in capsys.readouterr().out
    assert _contents(run_dir) == before
    trainer = Trainer.restore(run_dir)
    metrics = trainer.evaluate()
    task_metrics = trainer.task.evaluate(trainer.encoder, trainer.distance)
    assert metrics["test/mrr"] == task_metrics["test/mrr"]
    assert _contents(run_dir) == before
    # asked for: the next rank file of the series, this evaluation's ranks
    trainer.evaluate(run_files=True)
    added = set(_contents(run_dir)) - set(before)
    assert added == {"snapshots/retrieval_ranks_002.npz"}
    assert read_retrieval_ranks(run_dir, 2)["test_full"].shape == (16,)
