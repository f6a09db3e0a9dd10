"""A trained encoder as a directory that plain PyTorch / PyG code loads and runs.

:func:`save_encoder` writes an :class:`~contrastkit.models.mlp.MLP` or a
:class:`~contrastkit.models.gnn.GNNEncoder` the way the Hugging Face hub mixins (and
PyG's ``PyGModelHubMixin``) lay a model out:

* ``config.json`` — ``{"format": "contrastkit-encoder", "format_version": 1,
  "kind": "mlp" | "gnn", "init_args": {...}, "weights": FILE, "metadata": {...}}``:
  ``init_args`` the module's constructor arguments (its ``init_args``), ``metadata``
  free provenance (the CLI writes the run, its distance and manifold, and what the
  inputs are);
* ``model.safetensors`` (when the ``safetensors`` package is installed) or
  ``pytorch_model.bin``, a ``torch.save``\\ d state dict of plain tensors that loads
  with ``torch.load(..., weights_only=True)``.

:func:`load_encoder` rebuilds the module from ``kind`` and ``init_args`` (the class
comes from a fixed table, never from a name in the file), loads the weights strictly
and returns it in eval mode:

* ``mlp``: ``module(x [N, in_dim]) -> [N, out_dim]``;
* ``gnn``: ``module(x [N, in_dim], edge_index [2, E]) -> [N, out_dim]``, messages
  flowing along ``edge_index`` exactly as given (row 0 to row 1, PyG's convention):
  pass both directions of an undirected graph, as a run's message-passing graph has
  (its task's ``message_edges``; ``torch_geometric.utils.to_undirected``).

A sentence-transformers directory (one with ``modules.json``, what ``contrastkit
export --model`` writes for a text run) loads as a ``SentenceTransformer``, offline.

Example:
    >>> import tempfile, torch
    >>> from contrastkit.models import MLP
    >>> mlp = MLP(4, [8], 2).eval()
    >>> path = save_encoder(mlp, tempfile.mkdtemp() + "/enc")
    >>> x = torch.randn(3, 4)
    >>> torch.equal(load_encoder(path)(x), mlp(x))
    True
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from contrastkit._atomic_dir import write_directory
from contrastkit.models.gnn import GNNEncoder
from contrastkit.models.mlp import MLP

FORMAT = "contrastkit-encoder"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
TORCH_NAME = "pytorch_model.bin"
# the classes a saved encoder may name, by kind: nothing else is ever built from a file
ENCODER_CLASSES: dict[str, type[nn.Module]] = {"mlp": MLP, "gnn": GNNEncoder}


def _kind_of(module: nn.Module) -> str:
    for kind, cls in ENCODER_CLASSES.items():
        if type(module) is cls:
            return kind
    names = ", ".join(c.__name__ for c in ENCODER_CLASSES.values())
    raise TypeError(f"module must be one of {names}, got {type(module).__name__}")


def _safetensors_available() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def save_encoder(
    module: nn.Module,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, Any] | None = None,
    safetensors: bool | None = None,
) -> Path:
    """Write ``module`` (an ``MLP`` or ``GNNEncoder``) as the directory ``path``.

    Args:
        module: the encoder; its ``init_args`` rebuild it.
        path: the directory to create (absent or empty); written to a temporary
            directory beside it and renamed.
        metadata: JSON-able provenance stored under ``config.json``'s ``"metadata"``.
        safetensors: weights as ``model.safetensors`` (default: when the package is
            installed) or, ``False``, as a ``torch.save``\\ d ``pytorch_model.bin``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: ``module`` is another class.
        FileExistsError: ``path`` is a file or a non-empty directory.
        ImportError: ``safetensors=True`` without the package.
    """
    kind = _kind_of(module)
    if safetensors is None:
        safetensors = _safetensors_available()
    elif safetensors and not _safetensors_available():
        raise ImportError("safetensors=True needs the safetensors package: pip install safetensors")
    # plain, contiguous CPU tensors: what safetensors and weights_only loading accept
    state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    weights = SAFETENSORS_NAME if safetensors else TORCH_NAME
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "init_args": dict(cast(dict[str, Any], module.init_args)),
        "weights": weights,
        "metadata": dict(metadata or {}),
    }
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"

    def fill(tmp: Path) -> None:
        if safetensors:
            from safetensors.torch import save

            data = save(state, metadata={"format": "pt"})
        else:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            data = buffer.getvalue()
        (tmp / weights).write_bytes(data)  # a plain file: the umask's mode
        (tmp / CONFIG_NAME).write_text(text, encoding="utf-8")

    return write_directory(path, fill)


def read_encoder_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``config.json`` of a saved encoder directory.

    Raises:
        FileNotFoundError: no ``config.json`` in ``path``.
        ValueError: naming the file when it is not a contrastkit encoder's config."""
    file = Path(path) / CONFIG_NAME
    if not file.is_file():
        raise FileNotFoundError(f"{str(path)!r} holds no {CONFIG_NAME} (not a saved encoder)")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{file}: not a contrastkit encoder config (format {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{file}: format_version must be {FORMAT_VERSION}, got {config.get('format_version')!r}"
        )
    if config.get("kind") not in ENCODER_CLASSES:
        raise ValueError(
            f"{file}: kind must be one of {sorted(ENCODER_CLASSES)}, got {config.get('kind')!r}"
        )
    if not isinstance(config.get("init_args"), dict):
        raise ValueError(f"{file}: init_args must be an object, got {config.get('init_args')!r}")
    if config.get("weights") not in (SAFETENSORS_NAME, TORCH_NAME):
        raise ValueError(
            f"{file}: weights must be {SAFETENSORS_NAME!r} or {TORCH_NAME!r}, "
            f"got {config.get('weights')!r}"
        )
    return config


def _load_state(file: Path) -> dict[str, Tensor]:
    if not file.is_file():
        raise FileNotFoundError(f"{str(file)!r} does not exist (the encoder's weights)")
    if file.name == SAFETENSORS_NAME:
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(
                f"{file} needs the safetensors package: pip install safetensors"
            ) from None
        try:
            return load_file(str(file))
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(f"{file}: not a readable safetensors file ({exc})") from None
    try:
        state = torch.load(io.BytesIO(file.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign: pickle/zip errors of many types
        raise ValueError(f"{file}: not a readable state dict ({exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{file}: not a state dict of tensors")
    return state


def load_encoder(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> nn.Module:
    """The encoder saved in ``path``, on ``device``, in eval mode (module docstring):
    an ``MLP`` or ``GNNEncoder`` from :func:`save_encoder`, or a ``SentenceTransformer``
    from a sentence-transformers directory.

    Raises:
        FileNotFoundError: ``path`` is no directory, or a file is missing.
        ValueError: naming the file when the config or the weights do not fit."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r} is not a directory")
    if (root / "modules.json").is_file():  # save_encoder never writes one
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(root), device=str(device), local_files_only=True).eval()
    config = read_encoder_config(root)
    try:
        module = ENCODER_CLASSES[config["kind"]](**config["init_args"])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{root / CONFIG_NAME}: init_args do not build the encoder ({exc})"
        ) from None
    state = _load_state(root / config["weights"])
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{root / config['weights']}: does not fit the config ({first})") from None
    return module.to(device).eval()
