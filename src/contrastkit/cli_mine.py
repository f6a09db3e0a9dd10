"""``contrastkit mine``: ``k`` negatives for every node of a graph run (``.npz``), or
triplets of a text run's training examples with their difficulty (``.parquet``)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastkit.cli_common import _run_dir, _trained, check_file_target
from contrastkit.train import atomic_write_bytes
from contrastkit.typed_config import ConfigError


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
