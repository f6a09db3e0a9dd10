"""Text pairs from JSONL / CSV / Parquet: the same examples from every format, a
split by group, and one clear error per bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from contrastkit.data.text_pairs import TEST, TRAIN, text_pairs_from_strings
from contrastkit.data.text_pairs_files import read_text_pairs

ROWS = [
    {
        "anchor": "a cat",
        "positive": "a feline",
        "negative_1": "a dog",
        "negative_2": "",
        "group": "c",
    },
    {
        "anchor": "a dog",
        "positive": "a canine",
        "negative_1": "a cat",
        "negative_2": "a fish",
        "group": "d",
    },
    {
        "anchor": "a kitten",
        "positive": "a feline",
        "negative_1": "",
        "negative_2": "",
        "group": "c",
    },
    {"anchor": "قطة", "positive": "a feline", "negative_1": "", "negative_2": "", "group": "c"},
]


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    elif path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_gives_the_same_examples(tmp_path: Path, suffix: str) -> None:
    ex = read_text_pairs(_write(tmp_path / f"p{suffix}", ROWS), seed=1)
    assert len(ex.texts) == len(set(ex.texts))  # deduplicated
    t = ex.texts
    assert [t[i] for i in ex.anchor] == [r["anchor"] for r in ROWS]
    assert [t[i] for i in ex.positive] == [r["positive"] for r in ROWS]
    assert [t[i] if i >= 0 else "" for i in ex.negatives[1]] == ["a cat", "a fish"]
    assert ex.negatives[2].tolist() == [-1, -1]
    # one group: its anchors and positives in one split
    cats = [i for i, r in enumerate(ROWS) if r["group"] == "c"]
    assert len({int(ex.split[i]) for i in cats}) == 1
    assert ex.groups[ex.anchor[0]] == ex.groups[ex.positive[2]]


def test_negatives_list_column_and_split_column(tmp_path: Path) -> None:
    rows = [
        {"anchor": "x", "positive": "y", "negatives": ["z", "w"], "split": "train"},
        {"anchor": "u", "positive": "v", "negatives": [], "split": "test"},
    ]
    ex = read_text_pairs(_write(tmp_path / "p.jsonl", rows))
    assert ex.split.tolist() == [TRAIN, TEST]
    assert [ex.texts[i] for i in ex.negatives[0]] == ["z", "w"]


def test_split_by_anchor_is_seeded_and_keeps_training(tmp_path: Path) -> None:
    anchors = [f"q{i % 20}" for i in range(60)]
    ex1 = text_pairs_from_strings(anchors, [f"d{i}" for i in range(60)], seed=5)
    ex2 = text_pairs_from_strings(anchors, [f"d{i}" for i in range(60)], seed=5)
    assert torch.equal(ex1.split, ex2.split)
    for a in set(anchors):  # examples of one anchor share a split
        rows = [i for i, x in enumerate(anchors) if x == a]
        assert len({int(ex1.split[i]) for i in rows}) == 1
    assert int((ex1.split == TEST).sum()) == 12  # 20 % of 20 anchors, 3 examples each


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"anchor": "a"}\n', "no 'positive' column"),
        ('{"anchor": "a", "positive": ""}\n', "row 1 column 'positive' is empty"),
        ('{"anchor": "a", "positive": 3}\n', "must be a string"),
        ('{"anchor": "a", "positive": "b"}\nnot json\n', "line 2: not JSON"),
        ("[1, 2]\n", "must be a JSON object"),
        ('{"anchor": "a", "positive": "b", "split": "dev"}\n', "column 'split' must be one of"),
        ('{"anchor": "a", "positive": "b", "negatives": "x"}\n', "JSON list"),
        ('{"anchor": "a", "positive": "b", "split": "test"}\n', "no example is in the training"),
        ("", "holds no examples"),
    ],
)
def test_bad_files_name_the_file_row_and_column(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl") as info:
        read_text_pairs(path)
    assert needle in str(info.value)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        read_text_pairs(tmp_path / "none.jsonl")
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown format"):
        read_text_pairs(tmp_path / "p.txt")
    (tmp_path / "p.csv").write_bytes(b"anchor,positive\n\xff,b\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_text_pairs(tmp_path / "p.csv")
