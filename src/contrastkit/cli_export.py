"""``contrastkit export``: a run's embedding as ``.npy`` / ``.npz`` / ``.parquet`` with a
metadata file beside it, and optionally an exact FAISS index; its encoder (``--model``)
and the embeddings of new inputs (``--texts`` / ``--features`` / ``--graph``) in
:mod:`.cli_export_model`."""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastkit import __version__
from contrastkit.cli_common import _run_dir, _trained, check_file_target
from contrastkit.cli_export_model import (
    check_model_target,
    check_run_fits,
    embed_inputs,
    read_inputs,
    requested_flag,
    write_model,
)
from contrastkit.train import atomic_write_bytes, resume_config
from contrastkit.train.checkpoint import atomic_write_text
from contrastkit.typed_config import ConfigError

EXPORT_SUFFIXES = (".npy", ".npz", ".parquet")


def meta_path(path: Path) -> Path:
    """The JSON sidecar of an exported file: ``<path>.meta.json`` beside it."""
    return path.with_name(path.name + ".meta.json")


def _export_meta(trainer: Any, run_dir: Path, z: np.ndarray, **fields: Any) -> str:
    """The sidecar's JSON: what the rows are, how to compare them and where they came from
    (``inputs``: ``{"from": "run"}`` for the run's items, or the new inputs' flag, file and
    format)."""
    meta = {
        "contrastkit_version": __version__,
        "run_dir": str(run_dir.absolute()),
        "count": int(z.shape[0]),
        "dimension": int(z.shape[1]),
        "dtype": str(z.dtype),
        "manifold": trainer.config.encoder.manifold,
        "distance": trainer.distance.name,
        **fields,
    }
    return json.dumps(meta, indent=2) + "\n"


def _faiss_settings(trainer: Any) -> dict[str, Any]:
    """How ``--faiss`` indexes the run's rows; a distance FAISS has no metric for, or no
    faiss installed, is a :class:`ConfigError` (checked before anything is written)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        raise ConfigError("--faiss needs the faiss package: pip install faiss-cpu") from None
    name = trainer.distance.name
    if name not in ("cosine", "dot", "sqeuclidean", "euclidean"):
        raise ConfigError(
            f"--faiss: the run's distance {name!r} has no FAISS metric "
            "(cosine, dot, sqeuclidean or euclidean)"
        )
    inner = name in ("cosine", "dot")
    return {
        "format": "faiss",
        "index": "flat",
        "metric": "inner_product" if inner else "l2",
        # cosine: the index holds L2-normalised rows, its inner products are cosines
        "normalized": name == "cosine",
        "score": {
            "cosine": "inner product of L2-normalised rows (cosine similarity)",
            "dot": "inner product of the raw rows",
            "sqeuclidean": "squared L2 distance of the raw rows",
            "euclidean": "squared L2 distance of the raw rows (take the square root)",
        }[name],
    }


def cmd_export(args: argparse.Namespace) -> int:
    model = check_model_target(args.model) if args.model else None
    flag = requested_flag(args)
    if args.out is None:
        if model is None or flag is not None or args.faiss:
            needs = f"--{flag[0]}" if flag is not None else "--faiss" if args.faiss else "export"
            raise ConfigError(f"{needs} needs --out FILE (.npy, .npz or .parquet)")
        run_dir = _run_dir(args.run_dir)
        check_run_fits(resume_config(run_dir).encoder.kind, model, None)
        print(write_model(_trained(run_dir), run_dir, model))
        return 0
    out = check_file_target(args.out, "--out", EXPORT_SUFFIXES)
    check_file_target(meta_path(out), "--out's metadata")
    faiss_path = None
    if args.faiss:
        faiss_path = check_file_target(args.faiss, "--faiss")
        check_file_target(meta_path(faiss_path), "--faiss's metadata")
        if faiss_path.absolute() == out.absolute():
            raise ConfigError(f"--faiss and --out name the same file {args.out!r}")
    run_dir = _run_dir(args.run_dir)
    check_run_fits(resume_config(run_dir).encoder.kind, model, None if flag is None else flag[0])
    inputs = None if flag is None else read_inputs(*flag)  # a bad file: before the model loads
    trainer = _trained(run_dir)
    trainer.encoder.eval()  # no dropout: the rows a loaded encoder gives
    faiss_meta = _faiss_settings(trainer) if faiss_path is not None else None
    if inputs is None:
        with torch.no_grad():
            z = trainer.encoder.embed_all().detach().float().numpy()
        names = trainer.task.item_names or [str(i) for i in range(z.shape[0])]
        source: dict[str, Any] = {"from": "run"}
    else:
        z, names, source = embed_inputs(trainer, inputs), inputs.ids, inputs.meta()
    if model is not None:
        print(write_model(trainer, run_dir, model))
    suffix = out.suffix.lower()
    ids = _write_rows(out, z, names)
    meta = _export_meta(
        trainer,
        run_dir,
        z,
        file=out.name,
        format=suffix[1:],
        normalized=False,
        inputs=source,
        **ids,
    )
    atomic_write_text(meta_path(out), meta)
    if faiss_path is not None and faiss_meta is not None:
        _write_faiss(torch.from_numpy(z), trainer, faiss_path)
        faiss_meta.update(file=faiss_path.name, rows_of=out.name, inputs=source)
        atomic_write_text(meta_path(faiss_path), _export_meta(trainer, run_dir, z, **faiss_meta))
    print(f"wrote {z.shape[0]} embeddings of dimension {z.shape[1]} to {out}")
    return 0


def _write_rows(out: Path, z: np.ndarray, names: list[str]) -> dict[str, str]:
    """``z [n, d]`` and its ``names`` to ``out`` by its suffix, atomically; the
    sidecar's fields saying where the rows and ids are."""
    suffix = out.suffix.lower()
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, z)
        atomic_write_bytes(out, buffer.getvalue())
        ids_file = out.with_suffix(".ids.json")
        atomic_write_bytes(ids_file, json.dumps(names).encode())
        return {"ids": ids_file.name}
    if suffix == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, embeddings=z, ids=np.array(names))
        atomic_write_bytes(out, buffer.getvalue())
        return {"rows": "array 'embeddings'", "ids": "array 'ids'"}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("--out .parquet needs pyarrow: pip install pyarrow") from None
    table = pa.table({"id": names, "embedding": list(z)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(out, sink.getvalue().to_pybytes())
    return {"rows": "column 'embedding'", "ids": "column 'id'"}


def _write_faiss(z: torch.Tensor, trainer: Any, path: Path) -> None:
    """An exact FAISS index of the embedding, written to a temporary name and renamed."""
    import faiss

    from contrastkit.mining.faiss_backend import FaissIndex

    index = FaissIndex(z, distance=trainer.distance, index="flat")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        faiss.write_index(index.index, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
