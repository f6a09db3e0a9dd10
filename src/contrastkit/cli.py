"""``contrastkit train|eval|mine|export|report``.

Bad usage and bad input exit with status 2 and one line on stderr, never a
traceback: argparse errors, config errors (naming the key), missing files,
unreadable checkpoints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from contrastkit import __version__

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad usage or input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


# flag -> config key, for the common training options
TRAIN_FLAGS: dict[str, tuple[str, type]] = {
    "dataset": ("data.name", str),
    "epochs": ("loop.epochs", int),
    "batch_size": ("loop.batch_size", int),
    "dim": ("encoder.dim", int),
    "manifold": ("encoder.manifold", str),
    "lr": ("optim.lr", float),
    "negatives": ("miner.num_negatives", int),
    "strategy": ("miner.strategy", str),
    "seed": ("loop.seed", int),
}


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an embedding (default: Poincaré embedding of the WordNet mammal closure)",
        description="Train an embedding. With no arguments: the shipped WordNet mammal closure, "
        "5-d Poincaré ball, Nickel & Kiela's loss with 50 negatives.",
    )
    p.add_argument("--config", help="YAML config file (see configs/)")
    p.add_argument("--run-dir", help="output directory (default: output.run_dir)")
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set optim.lr=0.5 (repeatable)",
    )
    for flag, (key, typ) in TRAIN_FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=typ, help=f"sets {key}")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="skip report.html")


def _add_other(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "eval",
        help="evaluate a run directory, or an embedding file against a dataset",
        description="Evaluate RUN_DIR's checkpoint, or --embeddings FILE (.npy [N, d] or .npz "
        "with 'embeddings') against --dataset, with the metrics the task calls for.",
    )
    e.add_argument("run_dir", nargs="?", help="a run directory written by `contrastkit train`")
    e.add_argument("--embeddings", help="an .npy/.npz embedding file instead of a run")
    e.add_argument("--dataset", default="mammals", help="dataset of --embeddings (data.name)")
    e.add_argument("--data-path", help="edge-list file or WordNet directory (data.path)")
    e.add_argument("--distance", default="poincare", help="distance of --embeddings")
    r = sub.add_parser("report", help="write report.html and PNGs for a run directory")
    r.add_argument("run_dir")
    r.add_argument("--out", help="HTML file or directory (default RUN_DIR/report.html)")
    r.add_argument(
        "--projection",
        default="auto",
        choices=["auto", "pca", "umap"],
        help="2-D projection of the embedding (auto: UMAP when installed)",
    )
    r.add_argument("--max-points", type=int, default=5000, help="points drawn in the projection")
    x = sub.add_parser("export", help="write a run's embeddings with their node ids")
    x.add_argument("run_dir")
    x.add_argument("--out", required=True, help="output file: .npy, .npz or .parquet (pyarrow)")
    x.add_argument("--faiss", metavar="INDEX_FILE", help="also write a FAISS flat index")
    m = sub.add_parser("mine", help="write hard negatives for a run's graph to a file")
    m.add_argument("run_dir")
    m.add_argument(
        "--out",
        required=True,
        help="output .npz with indices, mask, scores, ids (semi_hard: also fallback)",
    )
    m.add_argument("--k", type=int, default=10, help="negatives per node (default 10)")
    m.add_argument(
        "--strategy",
        default="hardest",
        choices=["hardest", "semi_hard", "weighted", "mixed", "random", "cluster", "category"],
        help="mining strategy (default hardest). semi_hard: negatives less close than the "
        "node's positive, the other end of its first training relation (in a hierarchy the "
        "first ancestor it is the child of); nodes without one, and rows with fewer than K "
        "semi-hard candidates, fall back to hardest (the output's 'fallback' marks them). "
        "category: negatives from other categories than the node's, spread across them; "
        "the categories are the dataset's node labels (exit 2 when it has none)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="contrastkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"contrastkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_other(sub)
    return parser


def _train_overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.overrides)
    for flag, (key, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            out.append(f"{key}={value}")
    if args.no_progress:
        out.append("loop.progress=false")
    if args.no_report:
        out.append("output.report=false")
    if args.run_dir:
        out.append(f"output.run_dir={args.run_dir}")
    return out


def _run(args: argparse.Namespace) -> int:
    from contrastkit.cli_commands import run_command

    if args.command == "train":
        args.overrides = _train_overrides(args)
    return run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    from contrastkit.train import CheckpointError, NonFiniteError
    from contrastkit.typed_config import ConfigError

    try:
        args = build_parser().parse_args(argv)
        return _run(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError, TypeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"contrastkit: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteError as exc:
        print(f"contrastkit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("contrastkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
