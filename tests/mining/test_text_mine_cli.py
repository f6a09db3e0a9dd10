"""``contrastkit mine`` on a text run: Parquet triplets with difficulty, filters applied."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastkit.cli import main
from contrastkit.mining.text_triplets import Triplets
from contrastkit.train.config import load_config
from contrastkit.train.run import train
from contrastkit.train.trainer import Trainer
from tests.text_tiny import tiny_model
from tests.wordnet_slice import write_wordnet_slice


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mine")
    model = tiny_model(root)
    wordnet = write_wordnet_slice(root / "wn")
    run_dir = root / "run"
    config = load_config(
        None,
        [
            "task.kind=pairs",
            "pairs.source=wordnet_text",
            f"pairs.path={wordnet}",
            "encoder.kind=text",
            f"encoder.model_path={model}",
            "pairs.test_fraction=0.2",
            "pairs.num_negatives=1",
            "loop.epochs=1",
            "loop.batch_size=8",
            "loop.progress=false",
            "output.report=false",
            f"output.run_dir={run_dir}",
            "pairs.eval_ks=[1,3]",
        ],
    )
    train(config)
    return run_dir


@pytest.mark.parametrize("strategy", ["hardest", "semi_hard", "range", "category"])
def test_mine_writes_triplets(text_run: Path, tmp_path: Path, strategy: str, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tri.parquet"
    args = ["mine", str(text_run), "--out", str(out), "--strategy", strategy, "--k", "2"]
    if strategy == "range":
        args += ["--range-min", "1", "--range-max", "4"]
    assert main(args) == 0
    assert "triplets" in capsys.readouterr().out
    t = Triplets.from_parquet(out)
    assert t.strategy == strategy and len(t) > 0 and t.texts is not None
    trainer = Trainer.restore(text_run)
    task = trainer.task
    # never the anchor's own synset, a structural neighbour or its positive's string
    assert not bool(task.structural.forbidden(t.anchor_id, t.negative_id).diagonal().any())
    assert all(n != p for n, p in zip(t.texts[2], t.texts[1], strict=True))
    # the difficulty is the run's encoder's s(a, n) - s(a, p)
    enc = trainer.encoder
    enc.eval()
    with torch.no_grad():
        a, p, n = (enc.embed(ids) for ids in (t.anchor_id, t.positive_id, t.negative_id))
    s_n = trainer.distance.score_paired(a, n)
    s_p = trainer.distance.score_paired(a, p)
    torch.testing.assert_close(t.difficulty, (s_n - s_p).float(), atol=1e-5, rtol=1e-4)
    if strategy == "semi_hard":
        assert bool((t.difficulty < 0).all())
    if strategy == "category":
        cats = task.text_pairs.categories
        assert bool((cats[t.negative_id] != cats[t.anchor_id]).all())


def test_mine_text_run_refuses_npz_and_bad_windows(text_run: Path, tmp_path: Path) -> None:
    assert main(["mine", str(text_run), "--out", str(tmp_path / "x.npz")]) == 2
    bad = ["--strategy", "range", "--k", "5", "--range-min", "3", "--range-max", "4"]
    assert main(["mine", str(text_run), "--out", str(tmp_path / "x.parquet"), *bad]) == 2
    assert (
        main(["mine", str(text_run), "--out", str(tmp_path / "x.parquet"), "--strategy", "mixed"])
        == 2
    )
