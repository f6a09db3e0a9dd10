"""Re-mining a hard pool: exact Poincaré top-k of every node against every node.

Times :func:`~contrastkit.mining.topk.exact_topk` with a Poincaré distance, which
scans an order-equivalent inner product (:mod:`~contrastkit.mining.poincare_topk`),
against the elementwise scan it replaced (:func:`~contrastkit.mining.topk.scan_topk`
scoring every tile by the distance itself), side by side in one run, and checks that
both find the same neighbours. The pool is the 82,115 WordNet nouns with each node's
ancestors excluded, as the noun recipe's hard stage mines it: the table of a run
(``--run-dir``, float64 as the recipe keeps it), or by default random points spread
towards the ball's rim as a trained table's are.

    python benchmarks/bench_poincare_topk.py [--run-dir RUN] [--queries 82115] [--threads 1]

Measured on the epoch-1200 table of the noun recipe, one thread: 710.1 s for the
elementwise scan, 28.7 s for the inner-product one (24.7x), the same indices.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from contrastkit.functional.distances import PoincareDistance
from contrastkit.mining.exclusions import build_exclusions
from contrastkit.mining.topk import Head, exact_topk, scan_topk
from contrastkit.train import DataConfig, build_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, help="take the table of this run")
    parser.add_argument("--queries", type=int, default=8192, help="first N nodes as queries")
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = build_task(DataConfig(name="wordnet_nouns"))
    n = task.num_nodes
    if args.run_dir is not None:
        from diagnose_link_prediction import load_table

        table = load_table(args.run_dir)
    else:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(n, 10, generator=gen, dtype=torch.float64)
        depth = torch.rand(n, 1, generator=gen, dtype=torch.float64) * 12.0  # 1 - |x| down to 6e-6
        table = x / x.norm(dim=1, keepdim=True) * (1.0 - torch.exp(-depth))
    dist = PoincareDistance(eps=1e-8)
    q = torch.arange(min(args.queries, n))
    excl = build_exclusions(q.numel(), n, query_ids=q, edges=task.related)
    start = time.perf_counter()
    _, fast = exact_topk(table[q], table, args.k, distance=dist, exclusions=excl)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    (slow,), _ = scan_topk(table[q], table, [Head(args.k)], distance=dist, exclusions=excl)
    t_slow = time.perf_counter() - start
    same = float((slow.indices == fast).double().mean())
    print(
        f"{q.numel():,} queries x {n:,} nodes, top-{args.k}, ancestors excluded, "
        f"{args.threads} thread(s): elementwise scan {t_slow:.1f} s, inner-product scan "
        f"{t_fast:.1f} s ({t_slow / t_fast:.1f}x); same indices {same:.4%}"
    )


if __name__ == "__main__":
    main()
