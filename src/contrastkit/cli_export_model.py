"""``contrastkit export RUN --model DIR`` and ``--texts`` / ``--features`` / ``--graph``:
a run's trained encoder taken out of contrastkit, and run on new inputs.

``--model DIR`` writes, by ``encoder.kind``:

* ``text`` — a sentence-transformers directory (:meth:`TextEncoder.save
  <contrastkit.models.text.TextEncoder.save>`: the model, an ``encoder.projection``
  head as a ``Dense`` module, ``Normalize``; the run's distance as its
  ``similarity_fn_name``): ``SentenceTransformer(DIR).encode(texts)`` gives the run's
  embeddings;
* ``mlp`` / ``gnn`` — ``config.json`` and the weights
  (:func:`~contrastkit.models.saved_encoder.save_encoder`), loaded by
  :func:`contrastkit.load_encoder`;
* ``embedding`` — refused (exit 2): a free table embeds only the items it was trained
  on, its rows are what ``--out`` writes; nothing of it applies to a new input.

``--texts FILE`` (text runs), ``--features FILE.npy`` (mlp) and ``--graph FILE.npz``
(gnn) embed new inputs with the run's encoder in eval mode, rows in input order:

* texts: a ``.jsonl`` file of objects with a ``"text"`` (and optional ``"id"``)
  field, one per line (blank lines skipped); any other file is UTF-8 with one text per
  line (a blank line is refused: it would be a row of nothing; use ``.jsonl`` for
  texts holding line breaks);
* features: ``[N, F]`` the same kind of features the run's encoder read (``F`` its
  input width);
* graph: :func:`~contrastkit.data.edge_files.load_npz`'s format with an ``x``
  ``[N, F]``; its edges become a message-passing graph by the run's task's own rule
  (``message_edges``: both directions of every edge, duplicates merged, as
  ``torch_geometric.utils.to_undirected``), so the run's own graph gives the run's
  rows, whether it lists each edge once or both ways.

The row ids are the input's own (``.jsonl`` ``id`` on every line, the graph's
``names``) or else the row numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from contrastkit import __version__
from contrastkit._atomic_dir import check_new_directory
from contrastkit.cli_common import check_directory_target
from contrastkit.typed_config import ConfigError

T = TypeVar("T")

if TYPE_CHECKING:
    from contrastkit.models.text import SimilarityName

# the flag that embeds new inputs -> the encoder.kind that reads them
INPUT_FLAGS = {"texts": "text", "features": "mlp", "graph": "gnn"}
# a run's distance -> sentence-transformers' similarity_fn_name (None: its default)
ST_SIMILARITY: dict[str, SimilarityName] = {
    "cosine": "cosine",
    "dot": "dot",
    "euclidean": "euclidean",
}


@dataclass
class NewInputs:
    """What ``--texts`` / ``--features`` / ``--graph`` named, read: the flag's name, its
    file and format, the row ids and the rows' content (``texts``; ``x [N, F]``;
    ``x`` and the file's ``edge_index [2, E]``)."""

    flag: str
    path: Path
    format: str
    ids: list[str]
    texts: list[str] | None = None
    x: Tensor | None = None
    edge_index: Tensor | None = None

    @property
    def option(self) -> str:
        return f"--{self.flag}"

    def meta(self) -> dict[str, str]:
        """The sidecar's ``inputs``: the flag, the file and its format."""
        return {"from": self.option, "file": str(self.path.absolute()), "format": self.format}


def requested_flag(args: Any) -> tuple[str, Path] | None:
    """The one input flag given on the command line and its file (``None``: the run's
    own items)."""
    for flag in INPUT_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            path = Path(value)
            if not path.is_file():
                raise ConfigError(f"--{flag} {value!r} is not a file")
            return flag, path
    return None


def read_inputs(flag: str, path: Path) -> NewInputs:
    """Read and check the file of ``--<flag>`` (before the run's model is loaded)."""
    if flag == "texts":
        texts, ids, fmt = read_texts(path)
        return NewInputs(flag, path, fmt, ids, texts=texts)
    if flag == "features":
        x = _features(path)
        return NewInputs(flag, path, "npy", [str(i) for i in range(x.shape[0])], x=x)
    x, edge_index, names = _graph(path)
    ids = names or [str(i) for i in range(x.shape[0])]
    return NewInputs(flag, path, "npz", ids, x=x, edge_index=edge_index)


def check_model_target(path: str) -> Path:
    """``--model DIR``: absent or an empty directory (one-line ConfigError otherwise)."""
    target = check_directory_target(path, "--model")
    try:
        return check_new_directory(target)
    except FileExistsError:
        raise ConfigError(
            f"--model {path!r} exists and is not empty; name a new or empty directory"
        ) from None


def check_run_fits(kind: str, model: Path | None, flag: str | None) -> None:
    """Refuse, before the run is loaded, a ``--model`` of a table and an input flag for
    another ``encoder.kind`` than ``kind`` (one line naming the flag and the kind)."""
    if model is not None and kind not in ("text", "mlp", "gnn"):
        raise ConfigError(
            f"--model: the run's encoder.kind {kind!r} is a free table with no encoder to "
            "export (it embeds only its own items); --out writes its rows"
        )
    if flag is not None and INPUT_FLAGS[flag] != kind:
        other = [f"--{f}" for f, k in INPUT_FLAGS.items() if k == kind]
        hint = f" (use {other[0]})" if other else " (it embeds only its own items)"
        raise ConfigError(
            f"--{flag} needs a run with encoder.kind {INPUT_FLAGS[flag]!r}; "
            f"this run's encoder.kind is {kind!r}{hint}"
        )


def write_model(trainer: Any, run_dir: Path, target: Path) -> str:
    """Write the run's encoder to ``target`` (module docstring); the line to print."""
    kind = trainer.config.encoder.kind
    encoder = trainer.encoder
    if kind == "text":
        text = encoder.text
        text.save(target, similarity_fn_name=ST_SIMILARITY.get(trainer.distance.name))
        return f"wrote the sentence-transformers model ({text.dim} dims) to {target}"
    from contrastkit.models.saved_encoder import save_encoder

    module = encoder.mlp if kind == "mlp" else encoder.gnn
    metadata = {
        "contrastkit_version": __version__,
        "run_dir": str(run_dir.absolute()),
        "manifold": trainer.config.encoder.manifold,
        "distance": trainer.distance.name,
        "inputs": (
            "x [N, in_dim] float32"
            if kind == "mlp"
            else "x [N, in_dim] float32, edge_index [2, E] with both directions of every edge"
        ),
    }
    save_encoder(module, target, metadata=metadata)
    return f"wrote the {kind} encoder ({module.out_dim} dims) to {target}"


def embed_inputs(trainer: Any, inputs: NewInputs) -> np.ndarray:
    """``z [n, d]``: the new inputs' rows, in their order, by the run's encoder in eval
    mode (features of another width than the encoder reads: a ConfigError)."""
    encoder = trainer.encoder
    encoder.eval()
    with torch.no_grad():
        if inputs.texts is not None:
            z = encoder.encode_texts(inputs.texts)
        elif inputs.x is not None:
            module = encoder.mlp if inputs.flag == "features" else encoder.gnn
            x = inputs.x
            if x.shape[1] != module.in_dim:
                raise ConfigError(
                    f"{inputs.option} {str(inputs.path)!r}: features must be "
                    f"[N, {module.in_dim}] for the run's encoder, got {list(x.shape)}"
                )
            device = next(module.parameters()).device
            x = x.to(device)
            if inputs.edge_index is None:
                z = module(x)
            else:
                # the run's task turns the file's edges into messages as it did its own
                edges = trainer.task.message_edges(inputs.edge_index, x.shape[0])
                z = module(x, edges.to(device))
        else:
            raise ValueError("inputs hold neither texts nor features x (NewInputs)")
    return z.detach().float().cpu().numpy()


def read_texts(path: Path) -> tuple[list[str], list[str], str]:
    """``(texts, ids, format)`` of a ``--texts`` file (module docstring)."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--texts {str(path)!r} is not UTF-8 text ({exc.reason})") from None
    # split on "\n" only: str.splitlines would also split inside texts at U+2028 etc.
    lines = [line.removesuffix("\r") for line in raw.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it starts none
    if path.suffix.lower() == ".jsonl":
        texts, ids = _jsonl_texts(path, lines)
        fmt = "jsonl"
    else:
        blank = next((i for i, line in enumerate(lines) if not line.strip()), None)
        if blank is not None:
            raise ConfigError(
                f"--texts {str(path)!r} line {blank + 1} is blank (one text per line; "
                "a .jsonl file holds texts with line breaks)"
            )
        texts, ids, fmt = lines, [str(i) for i in range(len(lines))], "lines"
    if not texts:
        raise ConfigError(f"--texts {str(path)!r} holds no texts")
    return texts, ids, fmt


def _jsonl_texts(path: Path, lines: list[str]) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    ids: list[str | None] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--texts {str(path)!r} line {number}: not JSON ({exc.msg})"
            ) from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise ConfigError(
                f"--texts {str(path)!r} line {number}: needs a string field 'text', got {line!r}"
            )
        texts.append(text)
        ids.append(None if record.get("id") is None else str(record["id"]))
    if all(i is not None for i in ids):
        return texts, [str(i) for i in ids]
    return texts, [str(i) for i in range(len(texts))]


def _read_input(path: Path, flag: str, suffix: str, read: Callable[[Path], T]) -> T:
    """``read(path)`` for the input flag ``flag``, which must name a ``suffix`` file; a
    bad file is a :class:`ConfigError` (one line) naming the flag."""
    if path.suffix.lower() != suffix:
        raise ConfigError(f"{flag} must end in {suffix}, got {str(path)!r}")
    try:
        return read(path)
    except ValueError as exc:
        raise ConfigError(f"{flag} {exc}") from None


def _features(path: Path) -> Tensor:
    """``[N, F]`` float32 features from ``--features FILE.npy``."""
    from contrastkit.data.edge_files import load_node_features

    x = _read_input(path, "--features", ".npy", load_node_features)
    if x.shape[0] == 0:
        raise ConfigError(f"--features {str(path)!r} holds no rows")
    return x


def _graph(path: Path) -> tuple[Tensor, Tensor, list[str] | None]:
    """``(x [N, F], edge_index [2, E], names)`` from ``--graph FILE.npz``."""
    from contrastkit.data.edge_files import load_npz

    graph = _read_input(path, "--graph", ".npz", load_npz)
    if graph.x is None or graph.x.dim() != 2 or graph.num_nodes == 0:
        raise ConfigError(
            f"--graph {str(path)!r} has no array 'x' of node features [N, F] (N > 0); "
            "a gnn encoder reads them"
        )
    x = graph.x.float()
    if not bool(torch.isfinite(x).all()):
        raise ConfigError(f"--graph {str(path)!r}: x holds NaN or infinite values")
    return x, graph.edge_index, graph.names
