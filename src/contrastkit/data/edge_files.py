"""Graphs from files: CSV/TSV edge lists, ``.npz`` archives, ``.npy`` node features.

Edge lists hold one edge per line, ``source<sep>target[<sep>weight]``; blank
lines and lines starting with ``comment`` are skipped. Node ids are either
integers used as they are (``ids="int"``) or arbitrary strings mapped to
``0..N-1`` in order of first appearance (``ids="str"``); ``"auto"`` picks
``"int"`` when every id is a non-negative integer literal. Every malformed line
raises ``ValueError`` naming the file and its 1-based line number, as does a
non-UTF-8 line and an integer id so large that the ``max id + 1`` rows it implies are
absurd for the file (above :data:`MAX_NODE_ID`, or above ``max(2**20, 100 *`` the
number of edges``)``: renumber such ids densely or read them with ``ids="str"``).
A truncated or foreign ``.npz``/``.npy`` file is a ``ValueError`` naming it.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.tsv"
    >>> _ = p.write_text("a\\tb\\t0.5\\nb\\tc\\t2\\n")
    >>> g = read_edge_list(p)
    >>> g.names, g.edge_index.tolist(), g.edge_weight.tolist()
    (['a', 'b', 'c'], [[0, 1], [1, 2]], [0.5, 2.0])
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.lib.npyio import NpzFile
from torch import Tensor

from contrastkit._validation import check_choice, check_positive_int
from contrastkit.data.graph_data import GraphData

IdMode = Literal["auto", "int", "str"]
PathLike = str | os.PathLike[str]

#: the largest integer node id read without ``num_nodes`` (int64 index arithmetic and
#: int32 kernels downstream; an embedding table of 2**31 rows is not a typo's price)
MAX_NODE_ID = 2**31 - 1
#: ids up to this are always accepted; above it, only up to 100x the number of edges
SPARSE_ID_FLOOR = 2**20
# what np.load raises for a truncated, foreign or pickled file
_NUMPY_LOAD_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def _delimiter_for(path: Path, delimiter: str | None) -> str | None:
    if delimiter is not None:
        return delimiter
    suffixes = [s.lower() for s in path.suffixes]
    if ".csv" in suffixes:
        return ","
    if ".tsv" in suffixes:
        return "\t"
    return None  # any whitespace


def read_edge_list(
    path: PathLike,
    *,
    delimiter: str | None = None,
    weighted: bool | None = None,
    ids: IdMode = "auto",
    header: bool = False,
    comment: str = "#",
    num_nodes: int | None = None,
    undirected: bool = False,
) -> GraphData:
    """Read an edge list.

    Args:
        path: the file.
        delimiter: field separator; default ``,`` for ``.csv``, tab for ``.tsv``, else
            any whitespace.
        weighted: whether lines carry a third weight column (default: decided by the
            first data line; every line must then agree).
        ids: ``"auto"`` (default), ``"int"`` or ``"str"`` (see the module docstring).
        header: skip the first non-comment line (default False).
        comment: prefix of lines to skip (default ``#``).
        num_nodes: number of nodes (default ``max id + 1``, or the number of distinct
            string ids); an integer id ``>= num_nodes`` is an error naming its line, extra
            string-id nodes get the name ``""``.
        undirected: also store every edge reversed (weights duplicated).

    Returns:
        :class:`GraphData` with ``edge_index`` ``[2, E]``, ``edge_weight`` ``[E]`` if
        weighted, ``names`` for string ids. An empty file raises ``ValueError``.
    """
    check_choice("ids", ids, ("auto", "int", "str"))
    if num_nodes is not None:
        check_positive_int("num_nodes", num_nodes, allow_zero=True)
    path = Path(path)
    sep = _delimiter_for(path, delimiter)
    src: list[str] = []
    dst: list[str] = []
    weights: list[float] = []
    line_of: list[int] = []
    skipped_header = not header
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not an edge-list file")
    with open(path, "rb") as fh:
        for lineno, raw_bytes in enumerate(fh, 1):
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"{path}: line {lineno}: not UTF-8 text "
                    f"(byte {raw_bytes[exc.start]:#04x} at column {exc.start + 1})"
                ) from None
            line = raw.strip()
            if not line or (comment and line.startswith(comment)):
                continue
            if not skipped_header:
                skipped_header = True
                continue
            fields = [f.strip() for f in line.split(sep)] if sep else line.split()
            if weighted is None:
                weighted = len(fields) == 3
            expected = 3 if weighted else 2
            if len(fields) != expected or not fields[0] or not fields[1]:
                raise ValueError(
                    f"{path}: line {lineno}: expected {expected} fields "
                    f"(source, target{', weight' if weighted else ''}), got {len(fields)}: {line!r}"
                )
            if weighted:
                try:
                    edge_weight = float(fields[2])
                except ValueError:
                    raise ValueError(
                        f"{path}: line {lineno}: weight {fields[2]!r} is not a number"
                    ) from None
                if not math.isfinite(edge_weight):
                    raise ValueError(
                        f"{path}: line {lineno}: weight {fields[2]!r} is not a finite number"
                    )
                weights.append(edge_weight)
            src.append(fields[0])
            dst.append(fields[1])
            line_of.append(lineno)
    if not src:
        raise ValueError(f"{path}: no edges found (empty graph)")
    tokens = src + dst
    if ids == "auto":
        # Signed literals count as integers so that a negative id is reported, not renamed.
        ids = "int" if all(t.lstrip("+-").isdigit() for t in tokens) else "str"
    names: list[str] | None = None
    if ids == "str":
        index: dict[str, int] = {}
        for t in tokens:  # first-appearance order, source before target on each line
            index.setdefault(t, len(index))
        names = list(index)
        flat = torch.tensor([index[t] for t in tokens], dtype=torch.int64)
        n = len(names) if num_nodes is None else num_nodes
        if n < len(names):
            raise ValueError(f"num_nodes is {num_nodes} but the file names {len(names)} nodes")
    else:
        values = [_parse_int(t, path, line_of, i) for i, t in enumerate(tokens)]
        if num_nodes is None:
            _check_id_bound(values, path, line_of)
        else:
            _check_in_range(values, num_nodes, path, line_of)
        flat = torch.tensor(values, dtype=torch.int64).reshape(-1)
        n = num_nodes if num_nodes is not None else (int(flat.max()) + 1 if flat.numel() else 0)
    edge_index = flat.reshape(2, -1)
    weight = torch.tensor(weights, dtype=torch.float32) if weighted else None
    if undirected:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        weight = torch.cat([weight, weight]) if weight is not None else None
    return GraphData(
        edge_index=edge_index,
        num_nodes=n,
        edge_weight=weight,
        names=None if names is None else names + [""] * (n - len(names)),
        meta={"source": str(path)},
    )


def _check_id_bound(values: list[int], path: Path, line_of: list[int]) -> None:
    """Refuse an id whose ``max id + 1`` rows are absurd for a file of this size."""
    edges = len(line_of)
    bound = min(MAX_NODE_ID, max(SPARSE_ID_FLOOR, 100 * edges))
    i = max(range(len(values)), key=values.__getitem__)
    if values[i] > bound:
        raise ValueError(
            f"{path}: line {line_of[i % edges]}: node id {values[i]} is too large for "
            f"{edges} edges (integer ids are row numbers: this one implies "
            f"{values[i] + 1} nodes; the bound is {bound}): renumber the ids densely, "
            f"read them as names (ids='str'), or pass num_nodes"
        )


def _check_in_range(values: list[int], num_nodes: int, path: Path, line_of: list[int]) -> None:
    for i, value in enumerate(values):
        if value >= num_nodes:
            raise ValueError(
                f"{path}: line {line_of[i % len(line_of)]}: node id {value} "
                f"is out of range for num_nodes={num_nodes}"
            )


def _parse_int(token: str, path: Path, line_of: list[int], i: int) -> int:
    try:
        value = int(token)
    except ValueError:
        raise ValueError(
            f"{path}: line {line_of[i % len(line_of)]}: node id {token!r} is not an integer"
        ) from None
    if value < 0:
        raise ValueError(f"{path}: line {line_of[i % len(line_of)]}: negative node id {value}")
    return value


def write_edge_list(path: PathLike, graph: GraphData, *, delimiter: str | None = None) -> None:
    """Write ``graph`` as an edge list (names when present, else integer ids; weights as a
    third column when present). Inverse of :func:`read_edge_list`."""
    path = Path(path)
    sep = _delimiter_for(path, delimiter) or "\t"
    labels = graph.names if graph.names is not None else None
    cols = graph.edge_index.t().tolist()
    weights = graph.edge_weight.tolist() if graph.edge_weight is not None else None
    lines = []
    for k, (a, b) in enumerate(cols):
        fields = [labels[a], labels[b]] if labels is not None else [str(a), str(b)]
        if weights is not None:
            fields.append(repr(float(weights[k])))
        lines.append(sep.join(fields))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def save_npz(path: PathLike, graph: GraphData) -> None:
    """Save ``edge_index``, ``num_nodes`` and the optional ``x``, ``y``, ``edge_weight``,
    ``names`` into a compressed ``.npz`` (no pickled objects)."""
    arrays: dict[str, np.ndarray] = {
        "edge_index": graph.edge_index.cpu().numpy(),
        "num_nodes": np.array(graph.num_nodes, dtype=np.int64),
    }
    for key in ("x", "y", "edge_weight"):
        value = getattr(graph, key)
        if value is not None:
            arrays[key] = value.detach().cpu().numpy()
    if graph.names is not None:
        arrays["names"] = np.array(graph.names, dtype=str)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def _unreadable(path: PathLike, kind: str, exc: BaseException) -> ValueError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ValueError(f"{path}: not a readable {kind} file (truncated or foreign): {reason}")


def load_npz(path: PathLike) -> GraphData:
    """Load a graph saved by :func:`save_npz` (or any ``.npz`` with an ``edge_index`` [2, E]
    array; ``num_nodes`` defaults to ``max id + 1`` or the rows of ``x``). A truncated,
    foreign or malformed file is a ``ValueError`` naming it."""
    if Path(path).is_dir():
        raise ValueError(f"{path}: is a directory, not an .npz file")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, NpzFile):
            raise ValueError(f"{path}: not an .npz archive (a single .npy array)")
        with z:
            if "edge_index" not in z.files:
                raise ValueError(f"{path}: no 'edge_index' array (found {sorted(z.files)})")
            arrays: dict[str, Any] = {key: z[key] for key in z.files}
    except FileNotFoundError:
        raise
    except ValueError as exc:
        if str(exc).startswith(f"{path}:"):
            raise
        raise _unreadable(path, ".npz", exc) from None
    except _NUMPY_LOAD_ERRORS as exc:
        raise _unreadable(path, ".npz", exc) from None
    raw_edges = arrays["edge_index"]
    if (
        raw_edges.ndim != 2
        or raw_edges.shape[0] != 2
        or not np.issubdtype(raw_edges.dtype, np.integer)
    ):
        raise ValueError(
            f"{path}: edge_index must be an integer [2, E] array, "
            f"got {raw_edges.dtype} {raw_edges.shape}"
        )
    edge_index = torch.from_numpy(raw_edges.astype(np.int64))
    x = torch.from_numpy(arrays["x"]) if "x" in arrays else None
    if "num_nodes" in arrays:
        raw_n = arrays["num_nodes"]
        if raw_n.shape != () or not np.issubdtype(raw_n.dtype, np.integer) or int(raw_n) < 0:
            raise ValueError(f"{path}: num_nodes must be an integer >= 0, got {raw_n!r}")
        n = int(raw_n)
    elif x is not None:
        n = int(x.shape[0])
    else:
        n = int(edge_index.max()) + 1 if edge_index.numel() else 0
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(
            f"{path}: edge_index must index nodes [0, {n}), "
            f"got [{int(edge_index.min())}, {int(edge_index.max())}]"
        )
    y = torch.from_numpy(arrays["y"]) if "y" in arrays else None
    w = torch.from_numpy(arrays["edge_weight"]) if "edge_weight" in arrays else None
    names = [str(s) for s in arrays["names"].tolist()] if "names" in arrays else None
    return GraphData(edge_index, n, x=x, y=y, edge_weight=w, names=names)


def load_node_features(
    path: PathLike, num_nodes: int | None = None, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Node features ``[N, F]`` from a ``.npy`` file (a 1-D array becomes ``[N, 1]``).

    Raises ``ValueError`` naming the file if it is truncated or foreign, the row count
    differs from ``num_nodes`` or values are not finite.
    """
    if Path(path).is_dir():
        raise ValueError(f"{path}: is a directory, not an .npy file")
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except _NUMPY_LOAD_ERRORS as exc:
        raise _unreadable(path, ".npy", exc) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise ValueError(f"{path}: features must be an .npy array, got an .npz archive")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: features must be numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{path}: features must be 1-D or 2-D, got shape {arr.shape}")
    if num_nodes is not None and arr.shape[0] != num_nodes:
        raise ValueError(f"{path}: features have {arr.shape[0]} rows but num_nodes={num_nodes}")
    x = torch.from_numpy(np.ascontiguousarray(arr)).to(dtype)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{path}: features contain NaN or infinite values")
    return x
