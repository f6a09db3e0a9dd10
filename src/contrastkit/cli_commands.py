"""What each ``contrastkit`` sub-command does (argument parsing lives in :mod:`cli`)."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastkit.train.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint
from contrastkit.train.config import TrainConfig, load_config
from contrastkit.train.typed_config import ConfigError


def _run_dir(path: str) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{path!r} is not a run directory (no config.yaml)")
    return run_dir


def _trained(run_dir: Path):  # type: ignore[no-untyped-def]
    """A trainer restored from the run's last checkpoint."""
    from contrastkit.train.run import checkpoint_path, resume_config
    from contrastkit.train.trainer import Trainer

    config = resume_config(run_dir, ["loop.progress=false"])
    trainer = Trainer(config, run_dir)
    ckpt = checkpoint_path(run_dir)
    state = load_checkpoint(ckpt)
    if "trainer" not in state:
        raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no trainer state")
    trainer.load_state_dict(state["trainer"])
    return trainer


def print_metrics(metrics: dict[str, float], title: str = "final metrics") -> None:
    width = max((len(k) for k in metrics), default=6)
    print(title)
    print("-" * (width + 14))
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:>12.4f}")


def cmd_train(args: argparse.Namespace) -> int:
    from contrastkit.train.run import resume_config, train

    if args.resume:
        if args.config:
            raise ConfigError("--resume reads RUN_DIR/config.yaml; do not pass --config too")
        config: TrainConfig = resume_config(Path(args.resume), args.overrides)
        trainer = train(config, resume=True)
    else:
        config = load_config(args.config, args.overrides)
        trainer = train(config)
    print_metrics(trainer.final_metrics)
    print(f"run directory: {trainer.run_dir}")
    return 0


def _load_embeddings(path: str) -> torch.Tensor:
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"--embeddings {path!r} does not exist")
    if source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as data:
            if "embeddings" not in data:
                raise ConfigError(f"--embeddings {path!r} has no 'embeddings' array")
            array = data["embeddings"]
    elif source.suffix == ".npy":
        array = np.load(source, allow_pickle=False)
    else:
        raise ConfigError(f"--embeddings must be a .npy or .npz file, got {path!r}")
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise ConfigError(f"--embeddings must hold a float [N, d] array, got {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array))


def cmd_eval(args: argparse.Namespace) -> int:
    from contrastkit.functional.distances import get_distance
    from contrastkit.train.config import DataConfig
    from contrastkit.train.encoders import FixedEmbedding
    from contrastkit.train.evaluation import evaluate_task
    from contrastkit.train.task import build_task
    from contrastkit.train.typed_config import from_dict

    if (args.run_dir is None) == (args.embeddings is None):
        raise ConfigError("give either RUN_DIR or --embeddings FILE (with --dataset)")
    if args.run_dir is not None:
        trainer = _trained(_run_dir(args.run_dir))
        task, encoder, distance = trainer.task, trainer.encoder, trainer.distance
    else:
        data = from_dict(DataConfig, {"name": args.dataset, "path": args.data_path})
        task = build_task(data)
        z = _load_embeddings(args.embeddings)
        if z.shape[0] != task.num_nodes:
            raise ConfigError(
                f"--embeddings has {z.shape[0]} rows but dataset {args.dataset!r} has "
                f"{task.num_nodes} nodes"
            )
        encoder, distance = FixedEmbedding(z), get_distance(args.distance)
    print_metrics(evaluate_task(task, encoder, distance), "evaluation")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from contrastkit.report.build import build_report

    path = build_report(
        _run_dir(args.run_dir), args.out, projection=args.projection, max_points=args.max_points
    )
    print(f"report: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    trainer = _trained(_run_dir(args.run_dir))
    with torch.no_grad():
        z = trainer.encoder.embed_all().detach().float().numpy()
    names = trainer.task.graph.names or [str(i) for i in range(z.shape[0])]
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, z)
        atomic_write_bytes(out, buffer.getvalue())
        ids = out.with_suffix(".ids.json")
        atomic_write_bytes(ids, json.dumps(names).encode())
    elif suffix == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, embeddings=z, ids=np.array(names))
        atomic_write_bytes(out, buffer.getvalue())
    elif suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("--out .parquet needs pyarrow: pip install pyarrow") from None
        table = pa.table({"id": names, "embedding": list(z)})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(out, sink.getvalue().to_pybytes())
    else:
        raise ConfigError(f"--out must end in .npy, .npz or .parquet, got {args.out!r}")
    if args.faiss:
        _write_faiss(torch.from_numpy(z), trainer, Path(args.faiss))
    print(f"wrote {z.shape[0]} embeddings of dimension {z.shape[1]} to {out}")
    return 0


def _write_faiss(z: torch.Tensor, trainer: Any, path: Path) -> None:
    """An exact FAISS index of the embedding, written to a temporary name and renamed."""
    import os

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


def cmd_mine(args: argparse.Namespace) -> int:
    """Mine ``k`` negatives for every node of a run's graph against all nodes, excluding
    the node itself and its known relations (the strategies of :mod:`contrastkit.mining`)."""
    from contrastkit.mining.exclusions import build_exclusions
    from contrastkit.mining.miner import mine

    if args.k <= 0:
        raise ConfigError(f"--k must be > 0, got {args.k}")
    trainer = _trained(_run_dir(args.run_dir))
    with torch.no_grad():
        z = trainer.encoder.embed_all().detach()
    n = z.shape[0]
    excl = build_exclusions(n, n, query_ids=torch.arange(n), edges=trainer.task.known)
    result = mine(
        z,
        z,
        args.k,
        args.strategy,
        exclusions=excl,
        distance=trainer.distance,
        generator=trainer.config.loop.seed,
    )
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        indices=result.indices.numpy(),
        mask=result.mask.numpy(),
        scores=result.scores.numpy(),
        ids=np.array(trainer.task.graph.names or [str(i) for i in range(n)]),
    )
    atomic_write_bytes(Path(args.out), buffer.getvalue())
    print(
        f"wrote {args.k} {args.strategy} negatives for {n} nodes to {args.out} "
        f"({result.num_valid} valid)"
    )
    return 0


COMMANDS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "report": cmd_report,
    "export": cmd_export,
    "mine": cmd_mine,
}


def run_command(args: argparse.Namespace) -> int:
    result = COMMANDS[args.command](args)
    sys.stdout.flush()
    return result
