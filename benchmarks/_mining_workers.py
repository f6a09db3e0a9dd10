"""Workers of ``bench_mining.py``: each runs one contender in a fresh interpreter.

``measure`` samples the process's RSS every 2 ms during the call; the reported
memory is the peak minus the RSS just before it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

GB = 2**30


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``fn``; return (result, seconds, peak extra RSS bytes sampled every 2 ms)."""
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    done.set()
    th.join()
    peak[0] = max(peak[0], _rss())
    return out, dt, peak[0] - base


# ----------------------------------------------------------------------------- workers
def w_matmul(a: dict[str, Any]) -> dict[str, Any]:
    x = torch.randn(1024, 128)
    y = torch.randn(8192, 128)
    x @ y.T
    t0 = time.perf_counter()
    for _ in range(20):
        x @ y.T
    dt = time.perf_counter() - t0
    return {"gflops": 20 * 2 * 1024 * 8192 * 128 / dt / 1e9}


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)


def w_topk_ours(a: dict[str, Any]) -> dict[str, Any]:
    from contrastkit.mining.topk import exact_topk

    q, x = _unit(a["nq"], 128, 0), _unit(a["nx"], 128, 1)
    (_, i), dt, mem = measure(lambda: exact_topk(q, x, 10, distance="dot"))
    np.save(a["out"], i.numpy())
    return {"time": dt, "mem": mem}


def w_topk_faiss(a: dict[str, Any]) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(a["threads"])
    q, x = _unit(a["nq"], 128, 0).numpy(), _unit(a["nx"], 128, 1).numpy()
    index = faiss.IndexFlatIP(128)
    _, t_add, _ = measure(lambda: index.add(x))
    (_, i), dt, mem = measure(lambda: index.search(q, 10))
    np.save(a["out"], i)
    return {"time": dt, "mem": mem, "add_time": t_add}


def _semihard_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    labels = torch.arange(n) % (n // 8)
    centers = torch.randn(n // 8, 128, generator=g)
    z = centers[labels] + 1.5 * torch.randn(n, 128, generator=g)
    return torch.nn.functional.normalize(z, dim=1), labels


def w_semihard_ours(a: dict[str, Any]) -> dict[str, Any]:
    from contrastkit.mining.negative_miner import mine_in_batch
    from contrastkit.mining.strategies import SemiHard

    z, y = _semihard_data(a["n"])
    strat = SemiHard(band=0.2, fallback="none")

    def run() -> Any:
        return mine_in_batch(z, y, 10, strat, distance="euclidean", generator=0)

    run()  # warm-up (first-call allocations)
    t, dt, mem = measure(run)
    d = torch.cdist(z, z)
    r = t.result
    ap = d[t.anchor, t.positive.clamp_min(0)].unsqueeze(1)
    an = d[t.anchor.unsqueeze(1), r.safe_indices()]
    # float32 ties at the band edges: 1e-5 slack
    ok = ((an > ap - 1e-5) & (an < ap + 0.2 + 1e-5))[r.mask].all()
    return {"time": dt, "mem": mem, "triplets": r.num_valid, "valid": bool(ok)}


def w_semihard_pml(a: dict[str, Any]) -> dict[str, Any]:
    from pytorch_metric_learning.miners import TripletMarginMiner

    z, y = _semihard_data(a["n"])
    miner = TripletMarginMiner(margin=0.2, type_of_triplets="semihard")
    out, dt, mem = measure(lambda: miner(z, y))
    return {"time": dt, "mem": mem, "triplets": int(out[0].numel())}


def _graph(n: int, e: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    ei = torch.randint(0, n, (2, e), generator=g)
    return ei[:, ei[0] != ei[1]]


def _graph_inputs(a: dict[str, Any]) -> tuple[Any, torch.Tensor, torch.Tensor]:
    from contrastkit.graph.csr import to_csr

    ei = _graph(a["n"], a["e"])
    csr = to_csr(ei, a["n"], undirected=True)
    z = torch.randn(a["n"], 128, generator=torch.Generator().manual_seed(4))
    anchors = torch.randperm(a["n"], generator=torch.Generator().manual_seed(5))[: a["b"]]
    return csr, z, anchors


def w_khop_ours(a: dict[str, Any]) -> dict[str, Any]:
    from contrastkit.graph.csr import to_csr
    from contrastkit.graph.khop import k_hop_rings
    from contrastkit.mining.graph_negatives import khop_negatives

    ei = _graph(a["n"], a["e"])
    _, t_csr, _ = measure(lambda: to_csr(ei, a["n"], undirected=True))
    csr, z, anchors = _graph_inputs(a)
    warm = torch.randperm(a["n"], generator=torch.Generator().manual_seed(6))[:200]
    khop_negatives(z, csr, warm, 10, hops=2)  # first-call page faults, not the method
    rings, t_rings, _ = measure(lambda: k_hop_rings(csr, anchors, 2, min_hop=2, sort_nodes=False))
    res, dt, mem = measure(lambda: khop_negatives(z, csr, anchors, 10, hops=2))
    return {
        "time": dt,
        "mem": mem,
        "csr_time": t_csr,
        "rings_time": t_rings,
        "ring_size": rings.node.numel() / a["b"],
        "filled": res.num_valid / (10 * a["b"]),
    }


def w_khop_python(a: dict[str, Any]) -> dict[str, Any]:
    csr, z, anchors = _graph_inputs(a)
    rp, col = csr.rowptr.tolist(), csr.col.tolist()
    adj = [col[rp[i] : rp[i + 1]] for i in range(csr.num_nodes)]
    zn = torch.nn.functional.normalize(z, dim=1).numpy()
    zr = z.numpy()
    subset = anchors[: a["sub"]].tolist()
    n = csr.num_nodes

    def seed_port(s: int) -> list[int]:  # GraphHardNegativeMiner.sample_from_graph
        visited = [False] * n
        visited[s] = True
        level, ball = [s], []
        for _ in range(2):
            nxt = []
            for u in level:
                for v in adj[u]:
                    if not visited[v]:
                        visited[v] = True
                        nxt.append(v)
            ball += nxt
            level = nxt
        imm = set(adj[s])
        cand = [v for v in ball if v not in imm and v != s]
        za = zr[s]
        na = float(np.linalg.norm(za))
        scored = [(v, float(za @ zr[v]) / (na * float(np.linalg.norm(zr[v])))) for v in cand]
        scored.sort(key=lambda t: -t[1])
        return [v for v, _ in scored[:10]]

    def bfs(s: int) -> list[int]:
        seen = {s}
        ring1 = adj[s]
        seen.update(ring1)
        ring2 = []
        for u in ring1:
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    ring2.append(v)
        return ring2

    def tuned(s: int) -> list[int]:
        cand = np.asarray(bfs(s), dtype=np.int64)
        if cand.size == 0:
            return []
        sc = zn[cand] @ zn[s]
        top = np.argpartition(-sc, min(9, cand.size - 1))[:10]
        return cand[top[np.argsort(-sc[top])]].tolist()

    out = {}
    for name, fn in (("seed_port", seed_port), ("tuned", tuned), ("bfs_only", bfs)):
        t0 = time.perf_counter()
        for s in subset:
            fn(s)
        out[name] = (time.perf_counter() - t0) / len(subset)
    return out


WORKERS = {k[2:]: v for k, v in list(globals().items()) if k.startswith("w_")}
