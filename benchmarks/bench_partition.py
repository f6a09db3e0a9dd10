"""Graph partitioning and Cluster-GCN batches: quality and speed, measured in one run.

1. Quality on an SBM of 8 planted blocks of 2,000 nodes (intra degree ~20, inter
   ~2.8): the edge cut of METIS, of recursive spectral bisection and of the plain
   Fiedler median split (no rounding: what the spectral method was before the
   balanced 2-means step) as ratios to the planted cut, and their imbalance
   (targets: METIS <= 1.1x / 1.05, spectral <= 2x / 1.10).
2. Speed on 100,000 nodes and 1,000,000 undirected edges (an SBM of 50 blocks):
   ``partition(method="metis")`` (target < 10 s) against pymetis called directly on
   the same CSR (the peer: our overhead is validation and the CSR build), and the
   spectral method against METIS (time and cut).
3. Cluster-GCN batches on that graph (64 clusters, 4 per batch): ours against PyG's
   ``ClusterLoader`` collate on the same clusters (its METIS call replaced by our
   assignment: PyG needs pyg-lib or torch-sparse for METIS, neither installable
   here), batches per second and the kept-edge share.

Timings interleave the contenders inside each repetition and report medians, one
thread; the machine is shared, so ratios are the result.

    python benchmarks/bench_partition.py            # full run (~1-2 minutes)
    python benchmarks/bench_partition.py --quick    # 10x smaller speed graph
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from unittest import mock

import torch

from contrastkit.data.sbm import planted_partition
from contrastkit.graph import partition_spectral
from contrastkit.graph.cluster_loader import ClusterData
from contrastkit.graph.csr import to_csr
from contrastkit.graph.partitioning import edge_cut, imbalance, metis_available, partition


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def fiedler_median(edge_index: torch.Tensor, num_nodes: int, num_parts: int) -> torch.Tensor:
    """Spectral bisection with the Fiedler median split only (one start, no rounding)."""
    with (
        mock.patch.object(partition_spectral, "MAX_DIRECTIONS", 1),
        mock.patch.object(partition_spectral, "ROUNDING_ROUNDS", 1),
    ):
        return partition(edge_index, num_nodes, num_parts, method="spectral")


def quality() -> None:
    g = planted_partition(16_000, 8, p_in=0.01, p_out=0.0002, generator=0)
    planted = edge_cut(g.edge_index, g.y)
    print(f"1. SBM 8 x 2,000 nodes, {g.edge_index.shape[1] // 2:,} edges, planted cut {planted:,}")
    print(f"   {'method':<16} {'cut':>8} {'cut/planted':>12} {'imbalance':>10} {'time s':>8}")
    rows: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("spectral", lambda: partition(g.edge_index, g.num_nodes, 8, method="spectral")),
        ("fiedler median", lambda: fiedler_median(g.edge_index, g.num_nodes, 8)),
    ]
    if metis_available():
        rows.insert(0, ("metis", lambda: partition(g.edge_index, g.num_nodes, 8, method="metis")))
    else:
        print("   metis: pymetis is not installed (pip install pymetis)")
    for name, fn in rows:
        seconds, parts = timed(fn)
        assert isinstance(parts, torch.Tensor)
        cut = edge_cut(g.edge_index, parts)
        print(
            f"   {name:<16} {cut:>8,} {cut / planted:>12.3f} {imbalance(parts, 8):>10.4f} "
            f"{seconds:>8.2f}"
        )


def speed(num_nodes: int, num_edges: int, reps: int) -> tuple[torch.Tensor, int]:
    """Section 2; returns the graph for section 3."""
    blocks, degree = 50, 2 * num_edges / num_nodes
    size = num_nodes / blocks
    g = planted_partition(
        num_nodes,
        blocks,
        p_in=0.8 * degree / size,
        p_out=0.2 * degree / (num_nodes - size),
        generator=0,
    )
    ei, n = g.edge_index, g.num_nodes
    print(f"\n2. {n:,} nodes, {ei.shape[1] // 2:,} undirected edges, 64 parts, median of {reps}")
    if not metis_available():
        print("   metis: pymetis is not installed (pip install pymetis); spectral only")
    import numpy as np

    times: dict[str, list[float]] = {"ours metis": [], "pymetis direct": [], "spectral": []}
    cuts: dict[str, int] = {}
    for rep in range(reps):
        if metis_available():
            import pymetis

            seconds, parts = timed(lambda: partition(ei, n, 64, method="metis"))
            times["ours metis"].append(seconds)
            assert isinstance(parts, torch.Tensor)
            cuts["ours metis"] = edge_cut(ei, parts)
            csr = to_csr(ei, n, undirected=True, remove_self_loops=True)
            adjacency = pymetis.CSRAdjacency(
                csr.rowptr.numpy().astype(np.int32), csr.col.numpy().astype(np.int32)
            )
            seconds, _ = timed(partial(pymetis.part_graph, 64, adjacency=adjacency))
            times["pymetis direct"].append(seconds)
        if rep == 0:  # spectral is slow at this size: one run
            seconds, parts = timed(lambda: partition(ei, n, 64, method="spectral"))
            times["spectral"].append(seconds)
            assert isinstance(parts, torch.Tensor)
            cuts["spectral"] = edge_cut(ei, parts)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for name, seconds in med.items():
        cut = f"cut {cuts[name]:,}" if name in cuts else "(CSR prebuilt, no checks)"
        print(f"   {name:<16} {seconds:>7.2f} s   {cut}")
    if "ours metis" in med:
        target = "PASS" if med["ours metis"] < 10 else "MISS"
        print(f"   METIS < 10 s: {target}")
        print(f"   ours / pymetis direct: {med['ours metis'] / med['pymetis direct']:.2f}x time")
        print(f"   spectral / metis: {med['spectral'] / med['ours metis']:.1f}x time, ", end="")
        print(f"{cuts['spectral'] / cuts['ours metis']:.2f}x cut")
    return ei, n


def pyg_loader(ei: torch.Tensor, n: int, parts: torch.Tensor) -> Any:
    """PyG's ClusterLoader over the clusters ``parts`` (its METIS call replaced), or
    ``None`` without torch_geometric."""
    try:
        from torch_geometric.data import Data
        from torch_geometric.loader import ClusterData as PygData
        from torch_geometric.loader import ClusterLoader as PygLoader
    except ImportError:
        return None
    with mock.patch.object(PygData, "_metis", lambda self, e, k: parts):
        data = PygData(Data(edge_index=ei, num_nodes=n), 64, log=False)
    return PygLoader(data, batch_size=4)


def loader(ei: torch.Tensor, n: int, reps: int) -> None:
    method = "metis" if metis_available() else "spectral"
    parts = partition(ei, n, 64, method=method)
    ours = ClusterData(ei, n, parts=parts)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randperm(64, generator=gen)[:4] for _ in range(16)]
    print(f"\n3. Cluster-GCN batches: {n:,} nodes, 64 clusters ({method}), 4 per batch")
    pyg = pyg_loader(ei, n, parts)
    ours_t, pyg_t = [], []
    for _ in range(reps):
        ours_t.append(timed(lambda: [ours.batch(b) for b in batches])[0] / len(batches))
        if pyg is not None:
            pyg_t.append(timed(lambda: [pyg._collate(b) for b in batches])[0] / len(batches))
    share = statistics.mean(ours.batch(b).edge_share for b in batches)
    print(f"   ours  {1 / statistics.median(ours_t):8.1f} batches/s, kept edge share {share:.3f}")
    if pyg_t:
        ratio = statistics.median(pyg_t) / statistics.median(ours_t)
        print(f"   PyG   {1 / statistics.median(pyg_t):8.1f} batches/s   ours / PyG: {ratio:.2f}x")
    else:
        print("   PyG: torch_geometric is not installed")
    print(f"   one-cluster batches keep {ours.intra_share:.3f} of all edges")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10x smaller speed graph")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, e = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    quality()
    ei, num_nodes = speed(n, e, args.reps)
    loader(ei, num_nodes, args.reps)


if __name__ == "__main__":
    main()
