"""``contrastkit export --model`` / ``--texts`` for text runs (the tiny random-weight
BERT, no download): ``SentenceTransformer(DIR)`` reproduces the run's rows with and
without an ``encoder.projection`` head, new texts (Arabic script too) come back in
file order, and bad text files are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from contrastkit import load_encoder
from contrastkit.cli import main
from contrastkit.models.text import TextEncoder
from contrastkit.train import Trainer
from contrastkit.train.run import train
from tests.text_tiny import ARABIC, compositional_pairs, text_file_config, tiny_model, write_jsonl


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module", params=["none", "pca"])
def text_run(
    request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """A one-epoch text run and its texts: no head, or a 12-dim ``pca`` head with
    inputs truncated to 3 tokens ([CLS], one word, [SEP]: the exported model must
    truncate too)."""
    root = tmp_path_factory.mktemp(f"text_{request.param}")
    data = write_jsonl(root / "pairs.jsonl", compositional_pairs())  # type: ignore[arg-type]
    head = (
        []
        if request.param == "none"
        else [
            "encoder.projection.kind=pca",
            "encoder.projection.dim=12",
            "encoder.max_seq_length=3",
        ]
    )
    config = text_file_config(model_dir, data, root / "run", "loop.epochs=1", *head)
    train(config)
    texts = Trainer.restore(root / "run").encoder.texts
    return root / "run", list(texts)


def _rows(run: Path, out: Path, *flags: str) -> np.ndarray:
    assert main(["export", str(run), "--out", str(out), *flags]) == 0
    return np.load(out)


def test_the_sentence_transformers_directory_gives_the_runs_rows(
    text_run: tuple[Path, list[str]], model_dir: Path, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    run, texts = text_run
    assert main(["export", str(run), "--model", str(tmp_path / "st")]) == 0
    rows = _rows(run, tmp_path / "z.npy")
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu", local_files_only=True)
    theirs = st.encode(texts, convert_to_numpy=True)
    assert theirs.shape == rows.shape
    np.testing.assert_allclose(theirs, rows, atol=1e-6, rtol=0)
    assert st.similarity_fn_name == "cosine"
    configured = Trainer.restore(run).config.encoder.max_seq_length
    start_model = TextEncoder(model_dir)
    assert st.max_seq_length == (configured or start_model.model.max_seq_length)
    # load_encoder hands the same directory back as a SentenceTransformer
    loaded = load_encoder(tmp_path / "st")
    assert isinstance(loaded, SentenceTransformer)
    # trained: not what the starting model gives
    start = start_model.encode(texts).numpy()
    if start.shape == rows.shape:
        assert not np.allclose(start, rows, atol=1e-3)


def test_texts_give_the_runs_rows_in_file_order(
    text_run: tuple[Path, list[str]], tmp_path: Path
) -> None:
    run, texts = text_run
    rows = _rows(run, tmp_path / "z.npy")
    lines = tmp_path / "texts.txt"
    lines.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    np.testing.assert_array_equal(_rows(run, tmp_path / "same.npy", "--texts", str(lines)), rows)
    # reversed, as .jsonl with ids, Arabic script after them
    records = [{"id": f"t{i}", "text": t} for i, t in reversed(list(enumerate(texts)))]
    records += [{"id": f"ar{i}", "text": t} for i, t in enumerate(ARABIC)]
    path = write_jsonl(tmp_path / "texts.jsonl", records)  # type: ignore[arg-type]
    assert main(["export", str(run), "--out", str(tmp_path / "new.npz"), "--texts", str(path)]) == 0
    with np.load(tmp_path / "new.npz") as arrays:
        new, ids = arrays["embeddings"], arrays["ids"].tolist()
    assert ids == [r["id"] for r in records]
    np.testing.assert_allclose(new[: len(texts)], rows[::-1], atol=1e-6, rtol=0)
    arabic = Trainer.restore(run).encoder.encode_texts(ARABIC).numpy()
    np.testing.assert_allclose(new[len(texts) :], arabic, atol=1e-6, rtol=0)
    assert len({tuple(r.round(4)) for r in new[len(texts) :]}) == len(ARABIC)
    meta = json.loads((tmp_path / "new.npz.meta.json").read_text())
    assert meta["inputs"]["from"] == "--texts" and meta["inputs"]["format"] == "jsonl"
    assert meta["count"] == len(records) and meta["dimension"] == rows.shape[1]


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("blank.txt", "kaz bri\n\nlom cor\n", ("--texts", "line 2 is blank")),
        ("empty.txt", "", ("--texts", "holds no texts")),
        ("latin1.txt", "caf\xe9\n".encode("latin-1"), ("--texts", "not UTF-8")),
        ("bad.jsonl", '{"text": "a"}\n{"text": 3}\n', ("--texts", "line 2", "'text'")),
        ("broken.jsonl", '{"text": "a"\n', ("--texts", "line 1", "not JSON")),
        ("x.npy", b"", ("--features", "'mlp'", "'text'", "--texts")),
    ],
)
def test_bad_text_files_are_one_line_exit_2(
    text_run: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes,
    needles: tuple[str, ...],
) -> None:
    run, _ = text_run
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    flag = "--features" if name.endswith(".npy") else "--texts"
    code = main(["export", str(run), "--out", str(tmp_path / "out" / "z.npy"), flag, str(path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert not (tmp_path / "out").exists()


def test_a_crlf_file_with_a_bom_reads_as_its_texts(
    text_run: tuple[Path, list[str]], tmp_path: Path
) -> None:
    run, texts = text_run
    wanted = [*texts[:3], *ARABIC]  # Arabic script in the plain-lines format too
    path = tmp_path / "crlf.txt"
    path.write_bytes(("\ufeff" + "\r\n".join(wanted) + "\r\n").encode("utf-8"))
    got = _rows(run, tmp_path / "z.npy", "--texts", str(path))
    want = Trainer.restore(run).encoder.encode_texts(wanted).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_a_train_synsets_run_exports_its_training_only_texts_too(
    model_dir: Path, tmp_path: Path
) -> None:
    """``--out`` covers the evaluation's texts only; the exported model and
    ``--texts`` embed the training-only ones as the run's encoder does."""
    from sentence_transformers import SentenceTransformer

    from tests.wordnet_slice import write_wordnet_slice

    wordnet = write_wordnet_slice(tmp_path / "wn")
    run = tmp_path / "run"
    config = text_file_config(
        model_dir,
        tmp_path / "unused.jsonl",
        run,
        "pairs.source=wordnet_text",
        f"pairs.path={wordnet}",
        "pairs.max_synsets=10",
        "pairs.train_synsets=9",
        "pairs.train_exclude_hops=0",
        "pairs.eval_distractors=2",
        "pairs.eval_ks=[1,3]",
        "pairs.num_negatives=1",
        "loop.batch_size=4",
        "loop.epochs=1",
    )
    train(config)
    encoder = Trainer.restore(run).encoder
    every, shown = list(encoder.texts), encoder.embedded_items
    assert shown < len(every)  # training-only texts past the evaluation's
    rows = _rows(run, tmp_path / "z.npy")
    assert rows.shape[0] == shown
    lines = tmp_path / "every.txt"
    lines.write_text("".join(t + "\n" for t in every), encoding="utf-8")
    new = _rows(run, tmp_path / "every.npy", "--texts", str(lines))
    np.testing.assert_allclose(new[:shown], rows, atol=1e-6, rtol=0)
    np.testing.assert_allclose(new, encoder.embed_every_item().numpy(), atol=1e-6, rtol=0)
    assert main(["export", str(run), "--model", str(tmp_path / "st")]) == 0
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu", local_files_only=True)
    np.testing.assert_allclose(st.encode(every), new, atol=1e-6, rtol=0)
