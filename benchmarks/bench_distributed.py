"""Data-parallel scaling: 2 ranks x 1 thread against 1 rank x 1 thread, on gloo.

Two encoders train with in-batch InfoNCE through the real trainer step
(:meth:`Trainer.train_step`: the task's batch, DDP forward/backward, the gathered
loss, Adam):

* **MLP** — the digits pairs task (1,797 items, 64 features, MLP 64-1024-1024-32);
* **GNN** — the SBM nodes task (2,000 nodes, GraphSAGE 2 layers of 256, neighbour
  sampling with fan-outs 10, 10).

A step of the configs' own small models (MLP 64-128-32) takes ~3 ms on one core, less
than the fixed cost of a step's five small collectives on gloo (DDP's all-reduce, two
all-gathers, the gather's backward, the logged loss), so those scale poorly by
construction; the wider models are closer to what one distributes.

Each configuration runs on 1 process and on 2 processes (``torch.multiprocessing``,
file rendezvous, one thread each), the per-rank batch the same in both (weak
scaling: 2 ranks train on twice the examples per step), and again with the *global*
batch the same (strong scaling: each rank gets half). Reported per case: steps/s,
examples/s, the 2-rank/1-rank examples-per-second ratio (the scaling; 2.0 is
perfect, the target is >= 1.6) and the share of the 2-rank step spent in the
gather (forward all-gathers and the backward all-reduce, waiting for the slower rank
included).

A micro-benchmark puts our :func:`~contrastkit.dist.gather.all_gather_with_grad`
(backward: one all-reduce of the stacked gradient) beside PyTorch's
``torch.distributed.nn.functional.all_gather`` (backward: all-to-all + sum on
gloo), forward + backward of ``[B, 2, d]``, as a ratio.

The machine this was written on has 2 cores shared with other jobs: the 2-rank runs
compete with them for the second core, so read the numbers with the load printed
beside them (``os.getloadavg``). The CPU time per step and rank (``process_time``,
gloo's threads included) is printed too, with the scaling it predicts when every rank
has a core of its own (wall time per step = CPU time per step).

    python benchmarks/bench_distributed.py            # ~1-2 min
    python benchmarks/bench_distributed.py --steps 20 --quick
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

CASES = {
    "mlp": (
        "configs/digits_pairs.yaml",
        [
            "pairs.num_negatives=0",
            "objectives={infonce: {in_batch: true, temperature: 0.1}}",
            "encoder.hidden=1024",
            "encoder.layers=3",
        ],
    ),
    "gnn": (
        "configs/sbm_gnn_nodes.yaml",
        ["objectives={infonce: {in_batch: true}}", "encoder.hidden=256"],
    ),
}


def _timed_gather() -> dict[str, float]:
    """Patch the gather (forward and backward) to add its wall time to a counter."""
    import contrastkit.dist.gather as gather_module
    import contrastkit.objectives.entries_contrastive as entries

    spent = {"s": 0.0}
    forward, backward = entries.gather_in_batch, gather_module.AllGatherWithGrad.backward

    def timed_forward(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            spent["s"] += time.perf_counter() - t

    def timed_backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        t = time.perf_counter()
        try:
            return backward(ctx, grad)
        finally:
            spent["s"] += time.perf_counter() - t

    entries.gather_in_batch = timed_forward  # type: ignore[assignment]
    gather_module.AllGatherWithGrad.backward = staticmethod(timed_backward)  # type: ignore[method-assign,assignment]
    return spent


def _worker(
    rank: int, world: int, init: str, out: str, case: str, batch: int, steps: int, warmup: int
) -> None:
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    from contrastkit.train.config import load_config
    from contrastkit.train.distributed_sampler import DistributedBatchSampler
    from contrastkit.train.trainer import Trainer

    path, extra = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            path,
            [
                *extra,
                f"loop.batch_size={batch}",
                "loop.log_every=1000000",
                "loop.progress=false",
                f"output.run_dir={tmp}",
            ],
        )
        trainer = Trainer(config, tmp)
        if world == 1:
            n = trainer.task.num_examples()
            trainer.use_sampler(DistributedBatchSampler(n, batch, 1, 0, config.loop.seed))
        sampler = trainer.sampler
        assert sampler is not None
        perm = sampler.permutation()
        spent = _timed_gather()
        per_epoch = sampler.batches_per_epoch
        start = cpu = 0.0
        for t in range(warmup + steps):
            if t == warmup:
                if world > 1:
                    dist.barrier()
                spent["s"], start, cpu = 0.0, time.perf_counter(), time.process_time()
            trainer.train_step(sampler.batch(perm, t % per_epoch))
            trainer.step += 1
        if world > 1:
            dist.barrier()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    torch.save({"wall": wall, "gather": spent["s"], "cpu": cpu}, Path(out) / f"{rank}.pt")
    if world > 1:
        dist.destroy_process_group()


def run(case: str, world: int, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Steps/s, examples/s and the gather's share of ``case`` on ``world`` ranks with a
    global batch of ``batch``."""
    with tempfile.TemporaryDirectory() as tmp:
        args = (world, f"{tmp}/init", tmp, case, batch, steps, warmup)
        mp.spawn(_worker, args=args, nprocs=world, join=True)
        results = [torch.load(Path(tmp) / f"{r}.pt") for r in range(world)]
    wall = max(r["wall"] for r in results)
    gather = sum(r["gather"] for r in results) / world
    return {
        "steps_per_s": steps / wall,
        "examples_per_s": steps * batch / wall,
        "gather_share": gather / wall,
        "cpu_ms": 1e3 * sum(r["cpu"] for r in results) / world / steps,
    }


def _gather_micro(rank: int, world: int, init: str, out: str, rows: int, dim: int) -> None:
    import torch.distributed.nn.functional as tdf

    warnings.filterwarnings("ignore", category=FutureWarning)  # tdf.all_gather: the peer

    from contrastkit.dist.gather import all_gather_with_grad

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    x = torch.randn(rows, 2, dim, requires_grad=True)
    times = {}
    for name, fn in (
        ("ours", all_gather_with_grad),
        ("torch", lambda t: torch.cat(tdf.all_gather(t))),
    ):
        for i in range(60):
            if i == 10:
                dist.barrier()
                start = time.perf_counter()
            y = fn(x)
            (y * y).sum().backward()
        dist.barrier()
        times[name] = (time.perf_counter() - start) / 50
    torch.save(times, Path(out) / f"{rank}.pt")
    dist.destroy_process_group()


def gather_micro(rows: int, dim: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_gather_micro, args=(2, f"{tmp}/init", tmp, rows, dim), nprocs=2, join=True)
        return dict(torch.load(Path(tmp) / "0.pt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256, help="per-rank batch (weak scaling)")
    parser.add_argument("--quick", action="store_true", help="weak scaling only")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    b = args.batch
    header = f"{'case':<5} {'scaling':<7} {'ranks':>5} {'global B':>8} {'steps/s':>8} "
    print(header + f"{'examples/s':>10} {'gather %':>8} {'CPU ms/step':>11} {'2r/1r ex/s':>10}")
    for case in CASES:
        modes = [("weak", b, 2 * b)] if args.quick else [("weak", b, 2 * b), ("strong", b, b)]
        for mode, one_batch, two_batch in modes:
            one = run(case, 1, one_batch, args.steps, args.warmup)
            two = run(case, 2, two_batch, args.steps, args.warmup)
            ratio = two["examples_per_s"] / one["examples_per_s"]
            for ranks, r, batch in ((1, one, one_batch), (2, two, two_batch)):
                print(
                    f"{case:<5} {mode:<7} {ranks:>5} {batch:>8} {r['steps_per_s']:>8.1f} "
                    f"{r['examples_per_s']:>10.0f} {100 * r['gather_share']:>7.1f}% "
                    f"{r['cpu_ms']:>11.2f} " + (f"{ratio:>9.2f}x" if ranks == 2 else "")
                )
            # with a core per rank, wall time per step is CPU time per step: the scaling
            # the CPU times predict (examples per CPU-second of one rank, 2 ranks vs 1)
            cpu_ratio = (two_batch / 2 / two["cpu_ms"]) / (one_batch / one["cpu_ms"]) * 2
            print(f"{case:<5} {mode:<7} scaling predicted by CPU time per rank: {cpu_ratio:.2f}x")
    micro = gather_micro(b, 32)
    print(
        f"gather [{b}, 2, 32] forward+backward on 2 ranks: ours {1e3 * micro['ours']:.3f} ms, "
        f"torch.distributed.nn.functional.all_gather {1e3 * micro['torch']:.3f} ms "
        f"(ours/torch {micro['ours'] / micro['torch']:.2f})"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
