"""(anchor, positive[, negatives...]) text examples from JSONL, CSV or Parquet.

The format is chosen by the file's suffix (``.jsonl``/``.json`` lines, ``.csv``,
``.parquet``). Every format has named columns (sentence-transformers' layout):

* ``anchor``, ``positive`` — required, non-empty strings;
* negatives — either one ``negatives`` column holding a list of strings per row, or
  one or more columns whose names start with ``negative`` (``negative``,
  ``negative_1``, ``negative_2``, ... in file order); an empty cell or ``null`` is an
  empty slot;
* ``group`` — optional: examples of one group share a group id (their texts are never
  negatives of each other, and they land in one split);
* ``split`` — optional: ``train``, ``validation`` or ``test`` per row; without it the
  examples are split by group (or anchor text) with the configured fractions and seed.

Problems are one ``ValueError`` naming the file, the row (1-based, after the header
for CSV) and the column.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from contrastkit.data.text_pairs import SPLIT_NAMES, TextExamples, text_pairs_from_strings

FORMATS = (".jsonl", ".json", ".csv", ".parquet")


def _rows(path: Path) -> Iterator[Mapping[str, Any]]:
    suffix = path.suffix.lower()
    where = f"text pairs file {str(path)!r}"
    if suffix in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where} line {line_no}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise ValueError(
                        f"{where} line {line_no}: must be a JSON object, got {type(row).__name__}"
                    )
                yield row
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)
    elif suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "reading Parquet needs pyarrow: pip install 'contrastkit[parquet]'"
            ) from err
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError
            raise ValueError(f"{where} is not a readable Parquet file: {exc}") from None
        yield from table.to_pylist()
    else:
        raise ValueError(f"{where}: unknown format {suffix!r}; use one of {list(FORMATS)}")


def _required(value: object, where: str) -> str:
    text = _text(value, where)
    if text is None:  # unreachable: a required cell raises first
        raise ValueError(f"{where} is missing")
    return text


def _text(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise ValueError(f"{where} is missing")
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__} {value!r}")
    if not value.strip():
        if optional:
            return None
        raise ValueError(f"{where} is empty")
    return value


def read_text_pairs(
    path: str | os.PathLike[str],
    *,
    fractions: tuple[float, float] = (0.1, 0.2),
    seed: int = 0,
) -> TextExamples:
    """The examples of the file at ``path`` (see the module docstring)."""
    source = Path(path)
    where = f"text pairs file {str(source)!r}"
    if not source.is_file():
        raise ValueError(f"{where} does not exist")
    anchors: list[str] = []
    positives: list[str] = []
    negatives: list[list[str | None]] = []
    groups: list[object] = []
    splits: list[int] = []
    columns: Sequence[str] | None = None
    neg_columns: list[str] = []
    try:
        for i, row in enumerate(_rows(source), 1):
            if columns is None:
                columns = list(row)
                for required in ("anchor", "positive"):
                    if required not in row:
                        raise ValueError(f"{where} has no {required!r} column (it has {columns})")
                neg_columns = [c for c in columns if c.startswith("negative") and c != "negatives"]
                if "negatives" in row and neg_columns:
                    raise ValueError(
                        f"{where}: use either a 'negatives' list column or negative_* "
                        f"columns, not both (it has {columns})"
                    )
            at = f"{where} row {i}"
            anchor = _required(row.get("anchor"), f"{at} column 'anchor'")
            positive = _required(row.get("positive"), f"{at} column 'positive'")
            if "negatives" in row:
                raw = row["negatives"]
                if isinstance(raw, str):  # CSV cells: a JSON list
                    try:
                        raw = json.loads(raw) if raw.strip() else []
                    except json.JSONDecodeError:
                        raise ValueError(
                            f"{at} column 'negatives' must be a JSON list of strings"
                        ) from None
                if raw is None:
                    raw = []
                if not isinstance(raw, list):
                    raise ValueError(
                        f"{at} column 'negatives' must be a list, got {type(raw).__name__}"
                    )
                negs: list[str | None] = [
                    _required(v, f"{at} column 'negatives'[{j}]") for j, v in enumerate(raw)
                ]
            else:
                negs = [_text(row.get(c), f"{at} column {c!r}", optional=True) for c in neg_columns]
            anchors.append(anchor)
            positives.append(positive)
            negatives.append(negs)
            if "group" in row:
                group = row["group"]
                if group is None or group == "":
                    raise ValueError(f"{at} column 'group' is empty")
                groups.append(group)
            if "split" in row:
                name = row["split"]
                if name not in SPLIT_NAMES:
                    raise ValueError(
                        f"{at} column 'split' must be one of {list(SPLIT_NAMES)}, got {name!r}"
                    )
                splits.append(SPLIT_NAMES[name])
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ValueError(f"{where} is not valid CSV: {exc}") from None
    if not anchors:
        raise ValueError(f"{where} holds no examples")
    if groups and len(groups) != len(anchors):
        raise ValueError(f"{where}: column 'group' must be set on every row or on none")
    if splits and len(splits) != len(anchors):
        raise ValueError(f"{where}: column 'split' must be set on every row or on none")
    pairs = text_pairs_from_strings(
        anchors,
        positives,
        negatives,
        groups=groups or None,
        split=splits or None,
        fractions=fractions,
        seed=seed,
    )
    if not bool((pairs.split == 0).any()):
        raise ValueError(f"{where}: no example is in the training split")
    return pairs
