"""``contrastkit train|eval|mine|export|report|tune``.

Bad usage and bad input exit with status 2 and one line on stderr, never a
traceback: argparse errors, config errors (naming the key), missing or unreadable
files, unreadable checkpoints. A training flag (``--lr``) and ``--set`` of the same key
(``optim.lr``) together are such an error: give one.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from contrastkit import __version__

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad usage or input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def finite_float(text: str) -> float:
    """argparse type of a float flag: a finite number (``inf``/``nan`` are refused)."""
    value = float(text)  # argparse turns its ValueError into "invalid finite_float value"
    if not math.isfinite(value):
        raise ValueError(text)
    return value


finite_float.__name__ = "finite number"  # argparse: "invalid finite number value: 'inf'"

# flag -> config key, for the common training options
TRAIN_FLAGS: dict[str, tuple[str, Any]] = {
    "dataset": ("data.name", str),
    "epochs": ("loop.epochs", int),
    "batch_size": ("loop.batch_size", int),
    "dim": ("encoder.dim", int),
    "manifold": ("encoder.manifold", str),
    "lr": ("optim.lr", finite_float),
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
    r = sub.add_parser(
        "report",
        help="write report.html and PNGs for a run directory; with several, compare them",
    )
    r.add_argument(
        "run_dir",
        nargs="+",
        help="a run directory; two or more write a comparison (losses, evaluations, final "
        "metrics, stability across runs differing only in loop.seed)",
    )
    r.add_argument(
        "--out",
        help="HTML file or directory (default RUN_DIR/report.html; for several runs "
        "./compare.html)",
    )
    r.add_argument(
        "--projection",
        default="auto",
        choices=["auto", "pca", "umap"],
        help="2-D projection of the embedding (auto: UMAP when installed)",
    )
    r.add_argument("--max-points", type=int, default=5000, help="points drawn in the projection")
    x = sub.add_parser(
        "export", help="write a run's embeddings with their node ids, or its trained encoder"
    )
    x.add_argument("run_dir")
    x.add_argument("--out", help="output file: .npy, .npz or .parquet (pyarrow)")
    x.add_argument("--faiss", metavar="INDEX_FILE", help="also write a FAISS flat index")
    x.add_argument(
        "--model",
        metavar="DIR",
        help="write the trained encoder to a new directory: a sentence-transformers model "
        "(text runs) or config.json + weights for contrastkit.load_encoder (mlp, gnn)",
    )
    new = x.add_mutually_exclusive_group()
    new.add_argument(
        "--texts",
        metavar="FILE",
        help="embed these texts instead (text runs): one per line, or .jsonl with 'text'",
    )
    new.add_argument(
        "--features", metavar="FILE", help="embed these [N, F] .npy features instead (mlp runs)"
    )
    new.add_argument(
        "--graph",
        metavar="FILE",
        help="embed this .npz graph (edge_index and x) instead (gnn runs; edges in both "
        "directions as the run's were)",
    )
    m = sub.add_parser(
        "mine", help="write hard negatives for a run's graph, or text triplets, to a file"
    )
    m.add_argument("run_dir")
    m.add_argument(
        "--out",
        required=True,
        help="output .npz with indices, mask, scores, ids (semi_hard: also fallback); for a "
        "text run a .parquet of triplets (anchor, positive, negative, their ids, scores and "
        "difficulty s(a,n) - s(a,p))",
    )
    m.add_argument("--k", type=int, default=10, help="negatives per node (default 10)")
    m.add_argument(
        "--strategy",
        default="hardest",
        choices=[
            "hardest",
            "semi_hard",
            "weighted",
            "mixed",
            "random",
            "cluster",
            "category",
            "range",
        ],
        help="mining strategy (default hardest). semi_hard: negatives less close than the "
        "node's positive, the other end of its first training relation (in a hierarchy the "
        "first ancestor it is the child of); nodes without one, and rows with fewer than K "
        "semi-hard candidates, fall back to hardest (the output's 'fallback' marks them). "
        "category: negatives from other categories than the node's, spread across them; "
        "the categories are the dataset's node labels (exit 2 when it has none; for a text "
        "run WordNet's lexicographer files). range (text runs): ranks --range-min .. "
        "--range-max - 1 of the surviving candidates",
    )
    # text runs: the window and the false-negative margins of sentence-transformers'
    # mine_hard_negatives
    m.add_argument("--range-min", type=int, default=0, help="text runs: first rank of range")
    m.add_argument("--range-max", type=int, default=10, help="text runs: end rank of range")
    m.add_argument(
        "--sampling", default="top", choices=["top", "random"], help="text runs: within range"
    )
    m.add_argument("--margin", type=float, help="text runs: semi_hard band s_p - m < s_n < s_p")
    m.add_argument("--absolute-margin", type=float, help="text runs: keep s_n < s_p - m")
    m.add_argument("--relative-margin", type=float, help="text runs: keep s_n < s_p - m|s_p|")
    m.add_argument("--max-score", type=float, help="text runs: keep s_n <= t")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="contrastkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"contrastkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_other(sub)
    from contrastkit.tune.cli import add_tune_parser

    add_tune_parser(sub, finite_float)
    return parser


def _flag_value(value: Any) -> str:
    """A flag's value as YAML that reads back exactly: ``repr`` of a float (``1e-05``,
    a number under YAML 1.2), a string quoted (``--dataset 1e3`` stays a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return _yaml_quoted(str(value))


def _yaml_quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that reads back as exactly ``text``:
    characters YAML may not hold raw (controls, DEL, surrogates, ...) are escaped."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == " " or (ch.isprintable() and code < 0xD800) or 0xE000 <= code <= 0xFFFD:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _flag_overrides(args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    """config key -> (the flag that sets it, ``key=value``) for the flags given."""
    out: dict[str, tuple[str, str]] = {}
    for flag, (key, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            out[key] = (f"--{flag.replace('_', '-')}", f"{key}={_flag_value(value)}")
    if args.no_progress:
        out["loop.progress"] = ("--no-progress", "loop.progress=false")
    if args.no_report:
        out["output.report"] = ("--no-report", "output.report=false")
    if args.run_dir:
        out["output.run_dir"] = ("--run-dir", f"output.run_dir={_flag_value(args.run_dir)}")
    return out


def _sets_key(path: list[str], value: Any, key: list[str]) -> bool:
    """Whether an override of ``path`` with ``value`` sets ``key`` (itself, or a mapping
    above it that holds it)."""
    if path == key:
        return True
    if len(path) >= len(key) or key[: len(path)] != path:
        return False
    for part in key[len(path) :]:
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def _train_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides, then the flags'; a flag and a ``--set`` of the same key is a
    :class:`~contrastkit.typed_config.ConfigError` naming both (neither silently wins)."""
    from contrastkit.train.recipe_config import migrate_override
    from contrastkit.typed_config import ConfigError, parse_override

    flags = _flag_overrides(args)
    for text in args.overrides:
        path, value = parse_override(migrate_override(text))
        for key, (flag, _) in flags.items():
            if _sets_key(path, value, key.split(".")):
                raise ConfigError(
                    f"{flag} and --set {text.split('=', 1)[0].strip()} both set {key}; give one"
                )
    return [*args.overrides, *(override for _, override in flags.values())]


def _run(args: argparse.Namespace) -> int:
    from contrastkit.cli_commands import run_command

    if args.command == "train":
        args.overrides = _train_overrides(args)
    return run_command(args)


# what torch.load says about pickles (the protocol of a foreign file, weights_only):
# never useful beside the one-line error a bad checkpoint gives
TORCH_LOAD_WARNINGS = (
    r"Detected pickle protocol",
    r".*weights_only",
    r"You are using `torch\.load`",
    r"TypedStorage is deprecated",
)


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _one_line_settings(show: Any) -> Any:
    """``warnings.showwarning`` printing an ignored setting as one line
    (``contrastkit: warning: optim.momentum=0.9 is ignored by ...``), every other
    warning through ``show``."""
    from contrastkit.train.ignored_settings import IgnoredSettingWarning

    def show_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, IgnoredSettingWarning):
            print(f"contrastkit: warning: {message}", file=sys.stderr if file is None else file)
        else:
            show(message, category, filename, lineno, file, line)

    return show_warning


def main(argv: Sequence[str] | None = None) -> int:
    from contrastkit.eval import CollapsedEmbeddingError
    from contrastkit.train import CheckpointError, NonFiniteError
    from contrastkit.typed_config import ConfigError

    try:
        with warnings.catch_warnings():
            for pattern in TORCH_LOAD_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            warnings.showwarning = _one_line_settings(warnings.showwarning)
            args = build_parser().parse_args(argv)
            return _run(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except CollapsedEmbeddingError as exc:  # a training failure, not bad input
        print(f"contrastkit: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError, TypeError) as exc:
        print(f"contrastkit: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a path that is a directory, lies under a file, no permission
        print(f"contrastkit: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteError as exc:
        print(f"contrastkit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("contrastkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
