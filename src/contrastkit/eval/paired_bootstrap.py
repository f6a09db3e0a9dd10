r"""Per-query retrieval ranks of a run, and a paired bootstrap of two runs' difference.

A text run's evaluation (:class:`~contrastkit.train.text_task.TextPairTask`) writes
the rank :math:`\rho_q` of every query's one relevant item, at the full width and at
each Matryoshka width, to ``snapshots/retrieval_ranks_NNN.npz`` (``NNN`` the
evaluation's index). Per query,

.. math::
    g_q = \mathrm{nDCG@}K_q = \frac{[\rho_q \le K]}{\log_2(\rho_q + 1)}

and the run's nDCG@K is :math:`\bar g`. Two runs A, B evaluated on the *same* queries
differ by :math:`\bar\delta` with :math:`\delta_q = g^B_q - g^A_q`; the paired
bootstrap (Efron & Tibshirani 1993; Koehn 2004 for MT metrics) resamples the
*queries* with replacement ``num_resamples`` times and reports the percentile
interval of :math:`\bar\delta^{*}` and the share of resamples with
:math:`\bar\delta^{*} \le 0`. Pairing removes the between-query variance both runs
share, so the interval is much narrower than two separate intervals would suggest.

Command line::

    python -m contrastkit.eval.paired_bootstrap RUN_A RUN_B [--key test_full] [--k 10]

compares the last evaluation of each run (``--key test_dim96`` for a Matryoshka
width, ``validation_full`` for the validation split).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from contrastkit._validation import check_positive_int

RANKS_FILE = "retrieval_ranks_{:03d}.npz"
_RANKS_RE = re.compile(r"retrieval_ranks_(\d{3,})\.npz$")


def save_retrieval_ranks(run_dir: str | Path, index: int, ranks: dict[str, Tensor]) -> Path:
    """Write ``ranks`` (``{"{split}_full" | "{split}_dim{d}": [Q] ranks,
    "{split}_query_ids": [Q] text ids}``, int64) of evaluation ``index`` to
    ``run_dir/snapshots/``, through a temporary name."""
    from contrastkit.train.checkpoint import atomic_write_bytes

    check_positive_int("index", index, allow_zero=True)
    arrays = {k: v.detach().cpu().numpy().astype(np.int64) for k, v in ranks.items()}
    path = Path(run_dir) / "snapshots" / RANKS_FILE.format(index)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_retrieval_ranks(run_dir: str | Path, index: int = -1) -> dict[str, np.ndarray]:
    """The arrays of evaluation ``index`` (default the last) of ``run_dir``."""
    folder = Path(run_dir) / "snapshots"
    files = sorted(
        (int(m.group(1)), p)
        for p in (folder.iterdir() if folder.is_dir() else [])
        if (m := _RANKS_RE.search(p.name))
    )
    if not files:
        raise ValueError(f"run_dir {str(run_dir)!r} has no {RANKS_FILE.format(0)}-style files")
    _, path = files[index]
    with np.load(path, allow_pickle=False) as data:
        return {k: np.asarray(data[k]) for k in data.files}


def ndcg_per_query(ranks: Tensor | np.ndarray, k: int = 10) -> np.ndarray:
    """``[Q]`` float64 :math:`[\\rho_q \\le k] / \\log_2(\\rho_q + 1)` of ranks ``>= 1``."""
    check_positive_int("k", k)
    r = np.asarray(ranks.numpy() if isinstance(ranks, Tensor) else ranks, dtype=np.float64)
    if r.ndim != 1 or (r.size and r.min() < 1):
        raise ValueError(f"ranks must be a 1-d array of ranks >= 1, got shape {r.shape}")
    return np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)


@dataclass(frozen=True)
class BootstrapInterval:
    """``mean`` of the per-query values (or differences), its ``low``/``high``
    percentile interval at ``confidence``, and ``p_nonpositive`` (the share of
    resampled means <= 0: a one-sided bootstrap p-value for "mean > 0")."""

    mean: float
    low: float
    high: float
    confidence: float
    num_queries: int
    p_nonpositive: float


def bootstrap_mean(
    values: np.ndarray,
    *,
    num_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Percentile bootstrap interval of the mean of ``values [Q]`` (queries resampled
    with replacement; a seeded generator)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-d array, got shape {x.shape}")
    check_positive_int("num_resamples", num_resamples)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    q = x.size
    means = np.empty(num_resamples)
    for start in range(0, num_resamples, 1000):  # [1000, Q] index blocks bound memory
        stop = min(start + 1000, num_resamples)
        means[start:stop] = x[rng.integers(0, q, size=(stop - start, q))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return BootstrapInterval(
        float(x.mean()), float(low), float(high), confidence, q, float((means <= 0).mean())
    )


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    num_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """The paired bootstrap of ``mean(b - a)`` over the same ``[Q]`` queries."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-d of one length, got {a.shape} and {b.shape}")
    return bootstrap_mean(b - a, num_resamples=num_resamples, confidence=confidence, seed=seed)


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    *,
    key: str = "test_full",
    k: int = 10,
    index_a: int = -1,
    index_b: int = -1,
    num_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, BootstrapInterval]:
    """``{"a", "b", "b_minus_a"}`` bootstrap intervals of nDCG@``k`` at width ``key``
    of evaluation ``index_a`` of ``run_a`` and ``index_b`` of ``run_b``; the two must
    have scored the same queries (a ``ValueError`` otherwise)."""
    ra, rb = read_retrieval_ranks(run_a, index_a), read_retrieval_ranks(run_b, index_b)
    for name, r in (("run_a", ra), ("run_b", rb)):
        if key not in r:
            raise ValueError(f"{name} has no ranks for key {key!r}; has {sorted(r)}")
    ids = key.split("_")[0] + "_query_ids"
    if not np.array_equal(ra[ids], rb[ids]):
        raise ValueError("run_a and run_b evaluated different queries: no paired comparison")
    ga, gb = ndcg_per_query(ra[key], k), ndcg_per_query(rb[key], k)
    opts = {"num_resamples": num_resamples, "seed": seed}
    return {
        "a": bootstrap_mean(ga, **opts),
        "b": bootstrap_mean(gb, **opts),
        "b_minus_a": paired_bootstrap(ga, gb, **opts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contrastkit.eval.paired_bootstrap",
        description="Paired bootstrap of two text runs' held-out nDCG@K.",
    )
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--key", default="test_full", help="e.g. test_dim96, validation_full")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--index-a", type=int, default=-1, help="evaluation of run_a")
    parser.add_argument("--index-b", type=int, default=-1, help="evaluation of run_b")
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args(argv)
    try:
        out = compare_runs(
            args.run_a,
            args.run_b,
            key=args.key,
            k=args.k,
            index_a=args.index_a,
            index_b=args.index_b,
            num_resamples=args.resamples,
        )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, r in out.items():
        print(
            f"{name:10s} nDCG@{args.k} ({args.key}) {r.mean:+.4f}  "
            f"{100 * r.confidence:.0f}% [{r.low:+.4f}, {r.high:+.4f}]  "
            f"Q={r.num_queries}  P(mean<=0)={r.p_nonpositive:.4f}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main())
