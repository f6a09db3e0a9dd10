"""Reconstruction ranking (mean rank, MAP) at WordNet-noun scale, against gensim.

The graph has the size of the WordNet noun closure (82,115 nodes, 743,241
relations); the embedding is 10-dimensional Poincaré. Two scenarios:

1. *trained-like*: nodes in random groups of 10, each linked to the 9 others of its
   group, embedded near a random group centre (MAP ~ 1, the sparse path: only
   negatives closer than an anchor's farthest positive are searched);
2. *worst case*: uniform random relations and a random embedding (MAP ~ 0, every
   negative is placed by binary search).

Every anchor costs the same, so by default a seeded share of the anchors is timed
(against all 82,115 candidates) and the total is extrapolated linearly; ``--full``
evaluates every anchor. gensim's ``ReconstructionEvaluation`` (a Python loop over
anchors with a masked array per anchor) runs on a few hundred anchors of scenario
2 and is extrapolated the same way; its numbers are compared with ours
(``include_self=True``, gensim's convention) on exactly those anchors.

The baseline is the machine's GEMM rate: one pass of the ``N x N`` GEMM over
``d + 2`` columns in row tiles, the least any exact evaluation has to do. Wall time
and process CPU time are both printed; the machine is shared, so read the ratios.

    python benchmarks/bench_eval.py            # full-size graph, anchors sampled (~1-3 min)
    python benchmarks/bench_eval.py --quick    # 10k nodes, seconds
    python benchmarks/bench_eval.py --full     # every anchor of both scenarios
    python benchmarks/bench_eval.py --wordnet  # worst case on the real WordNet noun closure
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from contrastkit.eval.reconstruction import reconstruction_ranking


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def planted(
    n: int, d: int, gen: torch.Generator, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    group = torch.randperm(n, generator=gen) // 10
    order = torch.argsort(group, stable=True)
    members = order.view(-1, 10) if n % 10 == 0 else order[: n - n % 10].view(-1, 10)
    src = members.repeat_interleave(10, dim=1).reshape(-1)
    dst = members.repeat(1, 10).reshape(-1)
    keep = src != dst
    centres = (torch.rand(int(group.max()) + 1, d, generator=gen, dtype=dtype) - 0.5) * 1.6
    centres = centres / centres.norm(dim=1, keepdim=True).clamp_min(1.0) * 0.9
    x = centres[group] + 1e-3 * torch.randn(n, d, generator=gen, dtype=dtype)
    return x, torch.stack([src[keep], dst[keep]])


def anchor_share(ei: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    if share >= 1.0:
        return ei
    n = int(ei.max()) + 1
    chosen = torch.rand(n, generator=gen) < share
    return ei[:, chosen[ei[0]]]


def gemm_pass(x: torch.Tensor, share: float) -> float:
    """Seconds for the full ``N x N`` GEMM over ``d + 2`` columns (the scorer's shape),
    timed on ``share`` of the rows and extrapolated."""
    left = torch.cat([x, torch.ones(x.shape[0], 2, dtype=x.dtype)], 1)
    rows = max(4096, int(share * x.shape[0]))
    start = time.perf_counter()
    for lo in range(0, rows, 4096):
        torch.mm(left[lo : lo + 4096], left.T)
    return (time.perf_counter() - start) * x.shape[0] / rows


def run_ours(name: str, x: torch.Tensor, ei: torch.Tensor, total_edges: int, base: float) -> float:
    wall, cpu, res = timed(lambda: reconstruction_ranking(x, ei, distance="poincare"))
    scale = total_edges / ei.shape[1]
    print(
        f"{name:<28} anchors' edges {ei.shape[1]:>8,}  wall {wall:7.1f} s  cpu {cpu:7.1f} s  "
        f"-> all {wall * scale:7.1f} s  = {wall * scale / base:5.2f} GEMM passes  "
        f"({total_edges / (wall * scale):,.0f} relations/s)  MAP {res.map:.4f}  "  # type: ignore[attr-defined]
        f"mean rank {res.mean_rank:,.1f}"  # type: ignore[attr-defined]
    )
    return wall * scale


def run_gensim(
    x: torch.Tensor,
    ei: torch.Tensor,
    anchors: int,
    ours: dict[str, float],
    gen: torch.Generator,
) -> None:
    try:
        from gensim.models.poincare import PoincareKeyedVectors, ReconstructionEvaluation
    except ImportError:
        print("gensim not installed: peer comparison skipped")
        return
    n = x.shape[0]
    kv = PoincareKeyedVectors(vector_size=x.shape[1], vector_count=0, dtype=np.float64)
    kv.add_vectors([f"n{i}" for i in range(n)], x.double().numpy())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "relations.tsv"
        path.write_text("".join(f"n{u}\tn{v}\n" for u, v in ei.T.tolist()))
        ev = ReconstructionEvaluation(str(path), kv)
    all_anchors = len(ev.relations)
    subset = torch.randperm(n, generator=gen)[: anchors * 3].tolist()
    subset = [u for u in subset if u in ev.relations][:anchors]
    ev.relations = {u: ev.relations[u] for u in subset}
    wall, cpu, want = timed(ev.evaluate)
    total = wall * all_anchors / len(subset)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.tensor(subset)] = True
    mine = reconstruction_ranking(x.double(), ei[:, mask[ei[0]]], include_self=True)
    diff = max(
        abs(mine.mean_rank - float(want["mean_rank"])),  # type: ignore[index]
        abs(mine.map - float(want["MAP"])),  # type: ignore[index]
    )
    print(
        f"{'gensim ReconstructionEval':<28} {len(subset)} anchors  wall {wall:7.1f} s  "
        f"cpu {cpu:7.1f} s  -> all {all_anchors:,} anchors {total / 60:7.1f} min"
    )
    print(f"  agreement with gensim on those anchors: max |difference| = {diff:.2e}")
    # gensim's cost does not depend on the embedding: one figure serves both scenarios.
    for name, seconds in ours.items():
        print(f"  speed-up, ours vs gensim ({name}): {total / seconds:,.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k nodes")
    parser.add_argument("--full", action="store_true", help="every anchor, no extrapolation")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gensim-anchors", type=int, default=200)
    parser.add_argument(
        "--wordnet",
        action="store_true",
        help="worst case on the real noun closure (/usr/share/wordnet), not a random graph",
    )
    args = parser.parse_args()
    if args.quick and args.wordnet:
        parser.error("--wordnet evaluates the full closure; it does not combine with --quick")
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    n, e, d = (10_000, 90_000, 10) if args.quick else (82_115, 743_241, 10)
    gen = torch.Generator().manual_seed(0)
    share_planted, share_random = (1.0, 1.0) if args.full or args.quick else (0.1, 0.02)
    print(f"N = {n:,} nodes, E = {e:,} relations, d = {d}, {args.dtype}, {args.threads} threads")

    x_rand = (torch.rand(n, d, generator=gen, dtype=dtype) - 0.5) * 0.3
    base = gemm_pass(x_rand, 1.0 if args.full else share_planted)
    print(f"{'N x N GEMM pass (baseline)':<28} wall {base:7.1f} s (extrapolated from a share)")

    x_pl, ei_pl = planted(n, d, gen, dtype)
    trained = run_ours(
        "ours, trained-like", x_pl, anchor_share(ei_pl, share_planted, gen), ei_pl.shape[1], base
    )
    if args.wordnet:
        from contrastkit.data.closure import wordnet_closure_graph
        from contrastkit.data.wordnet import load_wordnet_nouns

        ei_rand = wordnet_closure_graph(load_wordnet_nouns()).edge_index
        print(f"worst case on the WordNet noun closure: {ei_rand.shape[1]:,} relations")
    else:
        ei_rand = torch.randint(0, n, (2, e), generator=gen)
        ei_rand = ei_rand[:, ei_rand[0] != ei_rand[1]]  # a closure has no self-loops
    e = ei_rand.shape[1]
    ours_total = run_ours(
        "ours, worst case", x_rand, anchor_share(ei_rand, share_random, gen), e, base
    )
    ours = {"trained-like": trained, "worst case": ours_total}
    run_gensim(x_rand, ei_rand, args.gensim_anchors, ours, gen)


if __name__ == "__main__":
    main()
