"""What each ``contrastkit`` sub-command does (argument parsing lives in :mod:`cli`)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastkit import __version__
from contrastkit.train import DEFAULT_RECIPE, TrainConfig, atomic_write_bytes, load_config
from contrastkit.train.checkpoint import atomic_write_text
from contrastkit.typed_config import ConfigError

EXPORT_SUFFIXES = (".npy", ".npz", ".parquet")
# what np.load raises for a truncated, foreign or pickled file
_NUMPY_LOAD_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


@contextlib.contextmanager
def held_warnings() -> Iterator[None]:
    """Hold the warnings raised inside: shown after it when it succeeds, dropped when
    it raises (the CLI's error is then one line, not a library's warnings and a line)."""
    with warnings.catch_warnings(record=True) as caught:
        yield
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _run_dir(path: str) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{path!r} is not a run directory (no config.yaml)")
    return run_dir


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a directory."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
        if parent.is_symlink():  # a dangling link: nothing can be made under it
            return parent
    return None


def check_directory_target(path: str | os.PathLike[str], name: str) -> Path:
    """``path`` can be (or is) a directory we write into: not a file, not under one.

    Raises:
        ConfigError: one line naming ``name`` (the flag or key) and the path."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{name} {str(target)!r} is a file, not a directory")
    above = _file_above(target)
    if above is not None:
        raise ConfigError(f"{name} {str(target)!r} lies under the file {str(above)!r}")
    return target


def check_file_target(
    path: str | os.PathLike[str], name: str, suffixes: tuple[str, ...] | None = None
) -> Path:
    """``path`` can be written as a file: a known suffix (``suffixes``), not a
    directory, not under a file.

    Raises:
        ConfigError: one line naming ``name`` (the flag) and the path."""
    target = Path(path)
    if suffixes is not None and target.suffix.lower() not in suffixes:
        listed = ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1]
        raise ConfigError(f"{name} must end in {listed}, got {str(path)!r}")
    if target.is_dir():
        raise ConfigError(f"{name} {str(target)!r} is a directory; name a file")
    above = _file_above(target)
    if above is not None:
        raise ConfigError(f"{name} {str(target)!r} lies under the file {str(above)!r}")
    return target


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

    with held_warnings():
        if args.resume:
            if args.config:
                raise ConfigError("--resume reads RUN_DIR/config.yaml; do not pass --config too")
            check_directory_target(args.resume, "--resume")
            config: TrainConfig = resume_config(Path(args.resume), args.overrides)
        else:
            # no --config: the packaged default recipe (the mammal closure), not the
            # neutral TrainConfig() defaults
            config = load_config(args.config or DEFAULT_RECIPE, args.overrides)
        # before any training: a run directory that cannot be one is a one-line error
        check_directory_target(
            config.output.run_dir, "--run-dir" if args.run_dir else "output.run_dir"
        )
    if config.task.kind == "fewshot":  # meta-learning runs its own loop (contrastkit.meta)
        from contrastkit.meta.run import train_fewshot

        run = train_fewshot(config, resume=bool(args.resume))
        print_metrics(run.final_metrics)
        print(f"run directory: {run.run_dir}")
        return 0
    if config.continual.enabled:  # a task stream, learned online (contrastkit.continual)
        from contrastkit.continual.run import train_continual

        learner = train_continual(config, resume=bool(args.resume))
        print_metrics(learner.final_metrics, f"continual metrics ({config.continual.metric})")
        print(f"run directory: {config.output.run_dir}")
        return 0
    if config.search:
        print(
            f"contrastkit: the config's search: block ({len(config.search)} keys) is for "
            "`contrastkit tune`; training the config's own values",
            file=sys.stderr,
        )
    from contrastkit.dist import shutdown

    try:
        trainer = train(config, resume=bool(args.resume))
    finally:
        shutdown()  # the process group train() joined under torchrun (none otherwise)
    if not trainer.is_main:  # under torchrun: rank 0 prints
        return 0
    title = f"final metrics (ties: {trainer.ties})" if trainer.ranks_relations else "final metrics"
    print_metrics(trainer.final_metrics, title)
    print(f"run directory: {trainer.run_dir}")
    return 0


def _load_embeddings(path: str) -> torch.Tensor:
    source = Path(path)
    if source.suffix not in (".npy", ".npz"):
        raise ConfigError(f"--embeddings must be a .npy or .npz file, got {path!r}")
    if source.is_dir():
        raise ConfigError(f"--embeddings {path!r} is a directory, not a .npy/.npz file")
    if not source.is_file():
        raise FileNotFoundError(f"--embeddings {path!r} does not exist")
    try:
        if source.suffix == ".npz":
            with np.load(source, allow_pickle=False) as data:
                if "embeddings" not in data:
                    raise ConfigError(f"--embeddings {path!r} has no 'embeddings' array")
                array = data["embeddings"]
        else:
            array = np.load(source, allow_pickle=False)
    except ConfigError:
        raise
    except _NUMPY_LOAD_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"--embeddings {path!r} is not a readable {source.suffix} file "
            f"(truncated or not numpy's): {reason}"
        ) from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise ConfigError(
            f"--embeddings must hold a float [N, d] array, got {array.dtype} {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ConfigError(f"--embeddings {path!r} holds NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(array))


def cmd_eval(args: argparse.Namespace) -> int:
    from contrastkit.functional.distances import get_distance
    from contrastkit.train import DataConfig, FixedEmbedding, build_task, evaluate_task
    from contrastkit.typed_config import from_dict

    if (args.run_dir is None) == (args.embeddings is None):
        raise ConfigError("give either RUN_DIR or --embeddings FILE (with --dataset)")
    if args.run_dir is not None:
        trainer = _trained(_run_dir(args.run_dir))
        title = f"evaluation (ties: {trainer.ties})" if trainer.ranks_relations else "evaluation"
        print_metrics(trainer.evaluate(), title)
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

    if args.out is not None:
        above = _file_above(Path(args.out))
        if above is not None:
            raise ConfigError(f"--out {args.out!r} lies under the file {str(above)!r}")
    if args.max_points <= 0:
        raise ConfigError(f"--max-points must be > 0, got {args.max_points}")
    run_dirs = args.run_dir if isinstance(args.run_dir, list) else [args.run_dir]
    if len(run_dirs) > 1:
        from contrastkit.report.compare import compare_runs

        dirs = [_run_dir(d) for d in run_dirs]
        path = compare_runs(dirs, args.out if args.out is not None else "compare.html")
        print(f"comparison: {path}")
        return 0
    path = build_report(
        _run_dir(run_dirs[0]), args.out, projection=args.projection, max_points=args.max_points
    )
    print(f"report: {path}")
    return 0


def meta_path(path: Path) -> Path:
    """The JSON sidecar of an exported file: ``<path>.meta.json`` beside it."""
    return path.with_name(path.name + ".meta.json")


def _export_meta(trainer: Any, run_dir: Path, z: np.ndarray, **fields: Any) -> str:
    """The sidecar's JSON: what the rows are, how to compare them and where they came from."""
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
    out = check_file_target(args.out, "--out", EXPORT_SUFFIXES)
    check_file_target(meta_path(out), "--out's metadata")
    faiss_path = None
    if args.faiss:
        faiss_path = check_file_target(args.faiss, "--faiss")
        check_file_target(meta_path(faiss_path), "--faiss's metadata")
        if faiss_path.absolute() == out.absolute():
            raise ConfigError(f"--faiss and --out name the same file {args.out!r}")
    run_dir = _run_dir(args.run_dir)
    trainer = _trained(run_dir)
    faiss_meta = _faiss_settings(trainer) if faiss_path is not None else None
    with torch.no_grad():
        z = trainer.encoder.embed_all().detach().float().numpy()
    names = trainer.task.item_names or [str(i) for i in range(z.shape[0])]
    suffix = out.suffix.lower()
    ids: dict[str, str] = {}
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, z)
        atomic_write_bytes(out, buffer.getvalue())
        ids_file = out.with_suffix(".ids.json")
        atomic_write_bytes(ids_file, json.dumps(names).encode())
        ids = {"ids": ids_file.name}
    elif suffix == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, embeddings=z, ids=np.array(names))
        atomic_write_bytes(out, buffer.getvalue())
        ids = {"rows": "array 'embeddings'", "ids": "array 'ids'"}
    else:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("--out .parquet needs pyarrow: pip install pyarrow") from None
        table = pa.table({"id": names, "embedding": list(z)})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(out, sink.getvalue().to_pybytes())
        ids = {"rows": "column 'embedding'", "ids": "column 'id'"}
    meta = _export_meta(
        trainer, run_dir, z, file=out.name, format=suffix[1:], normalized=False, **ids
    )
    atomic_write_text(meta_path(out), meta)
    if faiss_path is not None and faiss_meta is not None:
        _write_faiss(torch.from_numpy(z), trainer, faiss_path)
        faiss_meta.update(file=faiss_path.name, rows_of=out.name)
        atomic_write_text(meta_path(faiss_path), _export_meta(trainer, run_dir, z, **faiss_meta))
    print(f"wrote {z.shape[0]} embeddings of dimension {z.shape[1]} to {out}")
    return 0


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


def _mine_text(args: argparse.Namespace, trainer: Any, out: Path) -> int:
    """``contrastkit mine`` on a text run: triplets of the training examples with their
    difficulty, as Parquet (:func:`~contrastkit.mining.text_triplets.mine_task_triplets`)."""
    from contrastkit.mining.text_triplets import TextMiningConfig, mine_task_triplets

    if out.suffix.lower() != ".parquet":
        raise ConfigError(f"--out must end in .parquet for a text run, got {args.out!r}")
    if args.strategy not in ("hardest", "semi_hard", "range", "random", "cluster", "category"):
        raise ConfigError(f"--strategy {args.strategy!r} is not available for a text run")
    if args.strategy == "category" and getattr(trainer.task, "text_pairs", None) is None:
        raise ConfigError(
            "--strategy category needs WordNet categories (pairs.source wordnet_text)"
        )
    try:
        config = TextMiningConfig(
            args.strategy,
            num_negatives=args.k,
            range_min=args.range_min,
            range_max=args.range_max,
            sampling=args.sampling,
            margin=args.margin,
            absolute_margin=args.absolute_margin,
            relative_margin=args.relative_margin,
            max_score=args.max_score,
            seed=trainer.config.loop.seed,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    triplets = mine_task_triplets(trainer.task, trainer.encoder, config, distance=trainer.distance)
    triplets.to_parquet(out)
    summary = triplets.summary()
    share = summary.get("violated_share", 0.0)
    print(
        f"wrote {len(triplets)} {args.strategy} triplets to {args.out} "
        f"(difficulty s(a,n) - s(a,p): median {summary.get('difficulty_median', 0.0):.3f}, "
        f"{share:.1%} violated)"
    )
    return 0


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
    out = check_file_target(args.out, "--out", (".npz", ".parquet"))
    run_dir = _run_dir(args.run_dir)
    trainer = _trained(run_dir)
    if hasattr(trainer.task, "examples") and hasattr(trainer.task, "pool_ids"):
        return _mine_text(args, trainer, out)
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--out must end in .npz for a run on a graph, got {args.out!r}")
    if args.strategy == "range":
        raise ConfigError("--strategy range is for text runs (pairs of texts)")
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
    atomic_write_bytes(out, buffer.getvalue())
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


def cmd_tune(args: argparse.Namespace) -> int:
    from contrastkit.tune.cli import run_tune

    return run_tune(args)


def run_command(args: argparse.Namespace) -> int:
    if args.command == "train":
        # training's own warnings are shown as they come; cmd_train holds the setup's
        result = cmd_train(args)
    elif args.command == "tune":  # trials train: their warnings as they come too
        result = cmd_tune(args)
    else:
        with held_warnings():
            result = COMMANDS[args.command](args)
    sys.stdout.flush()
    return result
