"""Graph data and sampling speed, as ratios measured in one run.

1. SBM generation: a planted partition with ~1M undirected edges (2M stored
   entries) on 100k nodes in 10 blocks; time per graph (target < 10 s).
2. Neighbour sampling throughput on that graph: 2-hop fan-out [10, 10] around
   batches of 1,024 seeds, ours (vectorised Floyd sampling + table relabelling)
   against two per-node Python baselines with the same output layout: pure Python
   lists (``Random.sample`` per node, a dict for relabelling — the fastest loop we
   could write) and the same loop over tensors (CSR slices and ``randperm`` per
   node, as a direct port of per-node code does). Reports sampled edges per second
   and the speed-ups (target >= 20x).
3. Layer-wise sampling (LADIES weights, budgets [2048, 2048]) for scale.
4. PyG's own ``NeighborLoader`` when pyg-lib or torch-sparse is importable (it is not
   on our machines: the row says so), and the machine's matmul rate (a 1024^2 float32
   GEMM), so that times can be compared across machines as "GEMM equivalents".

Timings interleave the contenders inside each repetition and report medians; the
machine is shared, so absolute numbers are noise and the ratios are the result.

    python benchmarks/bench_graph.py            # full run (~1-2 minutes)
    python benchmarks/bench_graph.py --quick    # 100k edges, a few seconds
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch

from contrastkit.data.sbm import planted_partition
from contrastkit.graph.csr import CSR
from contrastkit.graph.layerwise import layerwise_sample
from contrastkit.graph.sampling import neighbor_sample, sampling_csr


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def python_neighbor_sample(
    rowptr: list[int], col: list[int], seeds: list[int], fanouts: list[int], rng: random.Random
) -> tuple[list[int], list[int], list[int]]:
    """Per-node reference: what a straightforward implementation does."""
    local = {v: i for i, v in enumerate(seeds)}
    n_id = list(seeds)
    src: list[int] = []
    dst: list[int] = []
    frontier = list(seeds)
    for fanout in fanouts:
        new: list[int] = []
        for v in frontier:
            nbrs = col[rowptr[v] : rowptr[v + 1]]
            if len(nbrs) > fanout:
                nbrs = rng.sample(nbrs, fanout)
            for u in nbrs:
                if u not in local:
                    local[u] = len(n_id)
                    n_id.append(u)
                    new.append(u)
                src.append(local[u])
                dst.append(local[v])
        frontier = new
    return n_id, src, dst


def torch_loop_neighbor_sample(
    csr: CSR, seeds: torch.Tensor, fanouts: list[int], gen: torch.Generator
) -> tuple[list[int], list[int], list[int]]:
    """Per-node reference written against tensors (``randperm`` per over-full node)."""
    local = {int(v): i for i, v in enumerate(seeds)}
    n_id = [int(v) for v in seeds]
    src: list[int] = []
    dst: list[int] = []
    frontier = list(n_id)
    for fanout in fanouts:
        new: list[int] = []
        for v in frontier:
            nbrs = csr.col[csr.rowptr[v] : csr.rowptr[v + 1]]
            if nbrs.numel() > fanout:
                nbrs = nbrs[torch.randperm(nbrs.numel(), generator=gen)[:fanout]]
            for u in nbrs.tolist():
                if u not in local:
                    local[u] = len(n_id)
                    n_id.append(u)
                    new.append(u)
                src.append(local[u])
                dst.append(local[v])
        frontier = new
    return n_id, src, dst


def matmul_seconds(reps: int = 5) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    return statistics.median(timed(lambda: a @ b) for _ in range(reps))


def pyg_loader_row(edge_index: torch.Tensor, num_nodes: int) -> str:
    import torch_geometric.typing as pyg_typing

    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        return (
            "PyG NeighborLoader: unavailable (needs pyg-lib or torch-sparse; not installable here)"
        )
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    data = Data(edge_index=edge_index, num_nodes=num_nodes)
    loader = NeighborLoader(data, num_neighbors=[10, 10], batch_size=1024)
    it = iter(loader)
    t = statistics.median(timed(lambda: next(it)) for _ in range(5))
    return f"PyG NeighborLoader: {t * 1e3:.1f} ms per batch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k-edge graph, fewer repetitions")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--reps", type=int, default=None, help="sampling repetitions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    num_nodes, target_edges = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    reps = args.reps or (3 if args.quick else 7)
    blocks = 10
    size = num_nodes // blocks
    # 80% of the expected edges inside blocks, 20% between them.
    p_in = 0.8 * target_edges / (blocks * size * (size - 1) / 2)
    p_out = 0.2 * target_edges / (blocks * (blocks - 1) / 2 * size * size)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    mm = matmul_seconds()
    print(f"matmul 1024^2 float32: {mm * 1e3:.2f} ms ({2 * 1024**3 / mm / 1e9:.1f} GFLOP/s)")

    gen_times = []
    for r in range(3 if not args.quick else 2):
        start = time.perf_counter()
        graph = planted_partition(num_nodes, blocks, p_in, p_out, generator=r)
        gen_times.append(time.perf_counter() - start)
    pairs = graph.meta["num_pairs"]
    t_gen = statistics.median(gen_times)
    print(
        f"SBM generation: {pairs:,} undirected edges ({graph.num_edges:,} entries), "
        f"{num_nodes:,} nodes: {t_gen:.2f} s median (target < 10 s; "
        f"{t_gen / mm:.0f} GEMM equivalents)"
    )

    start = time.perf_counter()
    csr: CSR = sampling_csr(graph.edge_index, num_nodes)
    print(f"CSR build: {time.perf_counter() - start:.2f} s")
    rowptr, col = csr.rowptr.tolist(), csr.col.tolist()
    fanouts = [10, 10]
    gen = torch.Generator().manual_seed(0)
    rng = random.Random(0)
    ours_t, base_t, ours_e, base_e, lw_t, loop_t = [], [], [], [], [], []
    for rep in range(reps):
        seeds = torch.randperm(num_nodes, generator=gen)[:1024]
        seed_list = seeds.tolist()
        start = time.perf_counter()
        sub = neighbor_sample(csr, seeds, fanouts, generator=gen)
        ours_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, src, _ = python_neighbor_sample(rowptr, col, seed_list, fanouts, rng)
        base_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        layerwise_sample(csr, seeds, [2048, 2048], generator=gen)
        lw_t.append(time.perf_counter() - start)
        if rep < 2:  # the tensor loop is slow: two repetitions are enough
            start = time.perf_counter()
            torch_loop_neighbor_sample(csr, seeds, fanouts, gen)
            loop_t.append(time.perf_counter() - start)
        ours_e.append(sub.edge_index.shape[1])
        base_e.append(len(src))
    t_ours, t_base = statistics.median(ours_t), statistics.median(base_t)
    e_ours, e_base = statistics.median(ours_e), statistics.median(base_e)
    print(
        f"neighbour sampling [10, 10], 1024 seeds: ours {t_ours * 1e3:.1f} ms "
        f"({e_ours / t_ours / 1e6:.2f} M edges/s), Python per-node {t_base * 1e3:.1f} ms "
        f"({e_base / t_base / 1e6:.2f} M edges/s); speed-up {t_base / t_ours:.1f}x "
        f"(target >= 20x); ours = {t_ours / mm:.1f} GEMM equivalents"
    )
    t_loop = statistics.median(loop_t)
    print(
        f"per-node loop over tensors (randperm per node): {t_loop * 1e3:.0f} ms; "
        f"speed-up {t_loop / t_ours:.0f}x"
    )
    print(f"layer-wise sampling [2048, 2048], 1024 seeds: {statistics.median(lw_t) * 1e3:.1f} ms")
    print(pyg_loader_row(graph.edge_index, num_nodes))


if __name__ == "__main__":
    main()
