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

from contrastkit.train import DEFAULT_RECIPE, TrainConfig, atomic_write_bytes, load_config
from contrastkit.typed_config import ConfigError


def _run_dir(path: str) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{path!r} is not a run directory (no config.yaml)")
    return run_dir


def _trained(run_dir: Path):  # type: ignore[no-untyped-def]
    """A trainer restored from the run's last checkpoint."""
    from contrastkit.train import Trainer

    return Trainer.restore(run_dir)


def print_metrics(metrics: dict[str, float], title: str = "final metrics") -> None:
    width = max((len(k) for k in metrics), default=6)
    print(title)
    print("-" * (width + 14))
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:>12.4f}")


def cmd_train(args: argparse.Namespace) -> int:
    from contrastkit.train import resume_config, train

    if args.resume:
        if args.config:
            raise ConfigError("--resume reads RUN_DIR/config.yaml; do not pass --config too")
        config: TrainConfig = resume_config(Path(args.resume), args.overrides)
        trainer = train(config, resume=True)
    else:
        # no --config: the packaged default recipe (the mammal closure), not the neutral
        # TrainConfig() defaults
        config = load_config(args.config or DEFAULT_RECIPE, args.overrides)
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
    from contrastkit.train import DataConfig, FixedEmbedding, build_task, evaluate_task
    from contrastkit.typed_config import from_dict

    if (args.run_dir is None) == (args.embeddings is None):
        raise ConfigError("give either RUN_DIR or --embeddings FILE (with --dataset)")
    if args.run_dir is not None:
        trainer = _trained(_run_dir(args.run_dir))
        print_metrics(trainer.task.evaluate(trainer.encoder, trainer.distance), "evaluation")
        return 0
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
    names = trainer.task.item_names or [str(i) for i in range(z.shape[0])]
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


def _first_relation_partner(edges: torch.Tensor, num_nodes: int, directed: bool) -> torch.Tensor:
    """``[N]``: the other end of each node's first relation in ``edges [2, E]`` (column
    order), ``-1`` for a node in none. ``directed``: only relations ``(u, v)`` the node is
    the ``u`` of (a hierarchy's child -> ancestor); otherwise either end."""
    e = edges.shape[1]
    order = torch.arange(e, dtype=torch.int64)
    if directed:
        ends, others, keys = edges[0], edges[1], order
    else:
        # key 2 * column + side: the first relation wins, a node's own u-side first.
        ends = torch.cat([edges[0], edges[1]])
        others = torch.cat([edges[1], edges[0]])
        keys = torch.cat([2 * order, 2 * order + 1])
    none = int(keys.numel())
    first = torch.full((num_nodes,), none, dtype=torch.int64)
    first.scatter_reduce_(0, ends, keys, reduce="amin")
    by_key = torch.empty(none + 1, dtype=torch.int64)
    by_key[keys] = others
    by_key[none] = -1
    return by_key[first]


def _graph_task(trainer):  # type: ignore[no-untyped-def]
    """The run's :class:`~contrastkit.train.task.GraphTask`: the trainer's task, or the
    graph a task wraps; a run without a graph is a :class:`ConfigError`."""
    from contrastkit.train import GraphTask

    task = trainer.task
    for candidate in (task, getattr(task, "graph", None)):
        if isinstance(candidate, GraphTask):
            return candidate
    kind = getattr(task, "kind", type(task).__name__)
    raise ConfigError(f"contrastkit mine needs a run on a graph, this run's task is {kind!r}")


def _mine_semi_hard(z: torch.Tensor, k: int, trainer) -> tuple[Any, torch.Tensor, int]:  # type: ignore[no-untyped-def]
    """Semi-hard negatives against each node's first training relation's other end;
    nodes without one get hardest negatives (the fallback of the library's SemiHard).
    Returns the result, the ``[N]`` rows served by hardest, and how many had no positive."""
    from contrastkit.mining.exclusions import build_exclusions
    from contrastkit.mining.miner import mine
    from contrastkit.mining.result import MiningReport, MiningResult

    task = _graph_task(trainer)
    n = z.shape[0]
    partner = _first_relation_partner(task.train_edges, n, directed=task.hierarchical)
    has = partner >= 0
    indices = torch.full((n, k), -1, dtype=torch.int64)
    mask = torch.zeros((n, k), dtype=torch.bool)
    scores = torch.zeros((n, k), dtype=z.dtype)
    fallback = ~has
    for rows, strategy in (
        (torch.nonzero(has).squeeze(1), "semi_hard"),
        (torch.nonzero(~has).squeeze(1), "hardest"),
    ):
        if rows.numel() == 0:
            continue
        positive_ids = partner[rows] if strategy == "semi_hard" else None
        excl = build_exclusions(
            rows.numel(), n, query_ids=rows, positive_ids=positive_ids, edges=task.known
        )
        part = mine(
            z[rows],
            z,
            k,
            strategy,
            positives=None if positive_ids is None else z[positive_ids],
            exclusions=excl,
            distance=trainer.distance,
            generator=trainer.config.loop.seed,
        )
        indices[rows], mask[rows], scores[rows] = part.indices, part.mask, part.scores
        if part.report.fallback_rows is not None:
            fallback[rows] |= part.report.fallback_rows
    report = MiningReport("semi_hard", fallback_rows=fallback, fallback="hardest")
    report.masked_slots = int((~mask).sum())
    return MiningResult(indices, mask, scores, None, report), fallback, int((~has).sum())


def cmd_mine(args: argparse.Namespace) -> int:
    """Mine ``k`` negatives for every node of a run's graph against all nodes, excluding
    the node itself and its known relations (the strategies of :mod:`contrastkit.mining`).

    ``semi_hard`` takes each node's positive from its first training relation (see
    :func:`_first_relation_partner`), falling back to hardest for nodes without one;
    ``category`` takes the categories from the graph's node labels (``graph.y``)."""
    from contrastkit.mining.exclusions import build_exclusions
    from contrastkit.mining.miner import mine

    if args.k <= 0:
        raise ConfigError(f"--k must be > 0, got {args.k}")
    run_dir = _run_dir(args.run_dir)
    trainer = _trained(run_dir)
    task = _graph_task(trainer)
    graph = task.graph
    labels = graph.y
    if args.strategy == "category" and labels is None:
        raise ConfigError(
            f"--strategy category needs node labels (categories), and dataset "
            f"{trainer.config.data.name!r} of {args.run_dir!r} has none"
        )
    with torch.no_grad():
        z = trainer.encoder.embed_all().detach()
    n = z.shape[0]
    extra: dict[str, Any] = {}  # Any: numpy's stub types savez's **kwds as allow_pickle
    note = ""
    if args.strategy == "semi_hard":
        result, fallback, no_positive = _mine_semi_hard(z, args.k, trainer)
        extra["fallback"] = fallback.numpy()
        note = (
            f"; {int(fallback.sum())} rows fell back to hardest, "
            f"{no_positive} of them without a training relation"
        )
    else:
        use_labels = args.strategy == "category"
        excl = build_exclusions(
            n,
            n,
            query_ids=torch.arange(n),
            edges=task.known,
            query_labels=labels if use_labels else None,
            pool_labels=labels if use_labels else None,
        )
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
        ids=np.array(graph.names or [str(i) for i in range(n)]),
        **extra,
    )
    atomic_write_bytes(Path(args.out), buffer.getvalue())
    print(
        f"wrote {args.k} {args.strategy} negatives for {n} nodes to {args.out} "
        f"({result.num_valid} valid{note})"
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
