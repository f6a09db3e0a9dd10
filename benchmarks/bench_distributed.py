"""Data-parallel scaling: 2 ranks x 1 thread against 1 rank x 1 thread, on gloo.

Two encoders train with in-batch InfoNCE through the real trainer step
(:meth:`Trainer.train_step`: the task's batch, DDP forward/backward, the gathered
loss, Adam):

* **MLP** — the digits pairs task (1,797 items, 64 features, MLP 64-1024-1024-32);
* **GNN** — the SBM nodes task (2,000 nodes, GraphSAGE 2 layers of 256, neighbour
  sampling with fan-outs 10, 10; the config's uncertainty combiner, whose weight is a
  parameter outside DDP).

A step of the configs' own small models (MLP 64-128-32) takes ~3 ms on one core, less
than the fixed cost of a step's few small collectives on gloo, so those scale poorly by
construction; the wider models are closer to what one distributes.

**Weak scaling** (the headline): the per-rank batch is the same on 1 and 2 ranks
(``--batch``, 256), so 2 ranks train on twice the examples per step and each rank does
the work one process does — the ``items/step`` column shows it: the rows each rank's
encoder computes per step (for the GNN every batch's 2-hop sample covers the whole
2,000-node graph, on 1 rank and on each of 2). ``--strong`` adds strong scaling (the
*global* batch the same, each rank gets half; the GNN's per-rank work does not halve).

Per round the runs alternate — 1 rank, 2 ranks, and a **control**: 2 independent
single processes at once, no communication at all — and each figure is the median over
``--rounds``. The control measures the machine: what 2 processes get side by side (a
2-core machine shared with other jobs, SMT siblings or a hypervisor's steal give far
less than 2x); the 2-rank run cannot beat it, and the gap between the two is what
data parallelism costs (collectives, waiting for the slower rank).

Columns: ``steps/s`` and ``examples/s`` (wall, the slowest rank; the control's summed
over its 2 processes), ``gather %`` (the share of the 2-rank step in the in-batch
gather, forward and backward, its wait for the other rank included), ``CPU ms/step``
per rank split into the training thread (``thread_time``) and every other thread of
the process (``process_time`` minus it: gloo's transport and work threads), ``coll
/step`` (collectives per step called from Python: the gather, its backward, the loss
with the parameters outside DDP; DDP's bucket all-reduces are counted apart: ``+ nB``).
Then per case:

* ``scaling`` — 2-rank examples/s over 1-rank examples/s (2.0 is perfect; the target
  is >= 1.6), and the control's ratio beside it (the machine's ceiling now);
* ``scaling predicted by CPU time per rank`` — ``2 x`` 1-rank CPU per step over the
  2-rank CPU per step and rank: what a core per rank gives (wall = CPU per step), and
  the same against the control's CPU per step (which includes the slowdown of two
  processes side by side, but no communication).

A micro-benchmark puts our gathers side by side, forward + backward on 2 ranks:
:func:`~contrastkit.dist.gather.all_gather_with_grad` of ``[B, 2, 32]`` against
PyTorch's ``torch.distributed.nn.functional.all_gather`` (backward: all-to-all + sum
on gloo), and what the in-batch losses take — the embeddings with their ``[B, 2]``
ids riding in one all-gather (:func:`~contrastkit.dist.gather.all_gather_riding`)
against a second all-gather for the ids.

    OMP_NUM_THREADS=1 python benchmarks/bench_distributed.py     # ~3 min quiet, 3 rounds
    python benchmarks/bench_distributed.py --rounds 1 --steps 20  # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
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
COLLECTIVES = (
    "all_gather",
    "all_reduce",
    "all_to_all_single",
    "broadcast",
    "all_gather_object",
    "barrier",
)


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

    entries.gather_in_batch = timed_forward
    gather_module.AllGatherWithGrad.backward = staticmethod(timed_backward)  # type: ignore[method-assign]
    return spent


def _counted_collectives() -> dict[str, int]:
    """Count the collectives called from Python (DDP's buckets run in C++)."""
    counts = {"n": 0}

    def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts["n"] += 1
            return fn(*args, **kwargs)

        return call

    for name in COLLECTIVES:
        setattr(dist, name, counting(getattr(dist, name)))
    return counts


def _ddp_buckets(trainer: Any) -> int:
    """The number of gradient buckets DDP all-reduces per step (0 without DDP)."""
    ddp = getattr(trainer.step_fn, "ddp", None)
    if ddp is None:
        return 0
    sizes = ddp._get_ddp_logging_data().get("bucket_sizes", "")
    return len([s for s in str(sizes).split(",") if s.strip()])


def _worker(
    rank: int,
    world: int,
    init: str,
    out: str,
    case: str,
    batch: int,
    steps: int,
    warmup: int,
) -> None:
    """One training process: ``world`` > 1 joins the group; ``world`` 1 trains alone
    (the control runs two of those at once, ``rank`` naming the output)."""
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
        counts = _counted_collectives()
        items = {"n": 0}
        task_batch = trainer.task.batch

        def counted_batch(*args: Any, **kwargs: Any) -> Any:
            b = task_batch(*args, **kwargs)
            items["n"] += int(b.items.numel())
            return b

        trainer.task.batch = counted_batch  # type: ignore[method-assign]
        per_epoch = sampler.batches_per_epoch
        start = cpu = thread = 0.0
        for t in range(warmup + steps):
            if t == warmup:
                if world > 1:
                    dist.barrier()
                spent["s"], counts["n"], items["n"] = 0.0, 0, 0
                start, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
            trainer.train_step(sampler.batch(perm, t % per_epoch))
            trainer.step += 1
        wall = time.perf_counter() - start
        cpu, thread = time.process_time() - cpu, time.thread_time() - thread
        collectives = counts["n"]
        if world > 1:
            dist.barrier()
            wall = time.perf_counter() - start  # the step of the slower rank included
        result = {
            "wall": wall,
            "gather": spent["s"],
            "cpu": cpu,
            "thread": thread,
            "collectives": collectives / steps,
            "buckets": _ddp_buckets(trainer),
            "items": items["n"] / steps,
        }
    torch.save(result, Path(out) / f"{rank}.pt")
    if world > 1:
        dist.destroy_process_group()


def run(
    case: str, world: int, batch: int, steps: int, warmup: int, independent: bool = False
) -> dict[str, float]:
    """``case`` on ``world`` ranks with a global batch of ``batch``; ``independent``:
    ``world`` single processes at once, each with ``batch``. Throughputs over the
    slowest process, summed over independent ones; CPU and items per process."""
    with tempfile.TemporaryDirectory() as tmp:
        group = 1 if independent else world
        args = (group, f"{tmp}/init", tmp, case, batch, steps, warmup)
        if independent:
            # world processes started together, none in a group: rank only names the file
            context = mp.get_context("spawn")
            procs = [context.Process(target=_worker, args=(r, *args)) for r in range(world)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
                if p.exitcode:
                    raise RuntimeError(f"a control process exited with {p.exitcode}")
        else:
            mp.spawn(_worker, args=args, nprocs=world, join=True)
        results = [torch.load(Path(tmp) / f"{r}.pt") for r in range(world)]
    wall = max(r["wall"] for r in results)
    examples = steps * batch * (world if independent else 1)
    mean = lambda key: sum(r[key] for r in results) / world  # noqa: E731
    return {
        "steps_per_s": steps / wall,
        "examples_per_s": examples / wall,
        "gather_share": mean("gather") / wall,
        "cpu_ms": 1e3 * mean("cpu") / steps,
        "thread_ms": 1e3 * mean("thread") / steps,
        "collectives": mean("collectives"),
        "buckets": results[0]["buckets"],
        "items": mean("items"),
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _gather_micro(rank: int, world: int, init: str, out: str, rows: int, dim: int) -> None:
    """Wall and CPU time (``process_time``: gloo's threads too) per forward + backward."""
    import torch.distributed.nn.functional as tdf

    warnings.filterwarnings("ignore", category=FutureWarning)  # tdf.all_gather: the peer

    from contrastkit.dist.gather import all_gather_riding, all_gather_with_grad

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    x = torch.randn(rows, 2, dim, requires_grad=True)
    ids = torch.randint(0, 1_000_000, (rows, 2))

    def separate(t: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(ids) for _ in range(world)]
        dist.all_gather(parts, ids)
        return all_gather_with_grad(t)

    def riding(t: torch.Tensor) -> torch.Tensor:
        return all_gather_riding(t, [ids])[0]

    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "ours": all_gather_with_grad,
        "torch": lambda t: torch.cat(tdf.all_gather(t)),
        "separate": separate,
        "riding": riding,
    }
    times = {}
    for name, fn in fns.items():
        for i in range(110):
            if i == 10:
                dist.barrier()
                start, cpu = time.perf_counter(), time.process_time()
            y = fn(x)
            (y * y).sum().backward()
        cpu = time.process_time() - cpu  # gloo's threads included
        dist.barrier()
        times[name] = (time.perf_counter() - start) / 100
        times[f"{name}_cpu"] = cpu / 100
    torch.save(times, Path(out) / f"{rank}.pt")
    dist.destroy_process_group()


def gather_micro(rows: int, dim: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_gather_micro, args=(2, f"{tmp}/init", tmp, rows, dim), nprocs=2, join=True)
        return dict(torch.load(Path(tmp) / "0.pt"))


def _row(case: str, mode: str, label: str, batch: int, r: dict[str, float], end: str) -> str:
    coll = f"{r['collectives']:.0f} + {r['buckets']:.0f}B" if label == "2 ranks" else "-"
    return (
        f"{case:<5} {mode:<6} {label:<13} {batch:>8} {r['items']:>10.0f} "
        f"{r['steps_per_s']:>7.1f} {r['examples_per_s']:>10.0f} "
        f"{100 * r['gather_share']:>7.1f}% {r['thread_ms']:>7.2f} + "
        f"{max(0.0, r['cpu_ms'] - r['thread_ms']):>5.2f} {coll:>9} {end}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256, help="per-rank batch (weak scaling)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (medians)")
    parser.add_argument("--cases", default="mlp,gnn", help="comma-separated: mlp, gnn")
    parser.add_argument("--strong", action="store_true", help="strong scaling too")
    parser.add_argument("--no-micro", action="store_true", help="skip the gather micro-benchmark")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(
        f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
        f"medians of {args.rounds} alternated rounds of {args.steps} steps"
    )
    print(
        f"{'case':<5} {'mode':<6} {'run':<13} {'global B':>8} {'items/step':>10} "
        f"{'steps/s':>7} {'examples/s':>10} {'gather %':>8} {'CPU ms/step main + comm':>23} "
        f"{'coll/step':>9}"
    )
    b = args.batch
    for case in args.cases.split(","):
        modes = [("weak", b, 2 * b)] + ([("strong", b, b)] if args.strong else [])
        for mode, one_batch, two_batch in modes:
            rounds: dict[str, list[dict[str, float]]] = {"one": [], "two": [], "pair": []}
            for _ in range(args.rounds):
                rounds["one"].append(run(case, 1, one_batch, args.steps, args.warmup))
                rounds["two"].append(run(case, 2, two_batch, args.steps, args.warmup))
                rounds["pair"].append(
                    run(case, 2, one_batch, args.steps, args.warmup, independent=True)
                )
            one, two, pair = (_median(rounds[k]) for k in ("one", "two", "pair"))
            ratio = two["examples_per_s"] / one["examples_per_s"]
            ceiling = pair["examples_per_s"] / one["examples_per_s"]
            print(_row(case, mode, "1 rank", one_batch, one, ""))
            print(_row(case, mode, "2 ranks", two_batch, two, f"scaling {ratio:.2f}x"))
            print(_row(case, mode, "2 x 1 alone", one_batch, pair, f"ceiling {ceiling:.2f}x"))
            # with a core per rank, wall time per step is CPU time per step
            per_rank = two_batch / 2
            cpu_ratio = 2 * (per_rank / two["cpu_ms"]) / (one_batch / one["cpu_ms"])
            vs_pair = 2 * (per_rank / two["cpu_ms"]) / (one_batch / pair["cpu_ms"])
            print(
                f"{case:<5} {mode:<6} scaling predicted by CPU time per rank: {cpu_ratio:.2f}x "
                f"against 1 rank, {vs_pair:.2f}x against the control's CPU time "
                f"(2 ranks {two['cpu_ms']:.1f} ms/step, control {pair['cpu_ms']:.1f}, "
                f"1 rank {one['cpu_ms']:.1f}; ratios per round: "
                + ", ".join(
                    f"{t['examples_per_s'] / o['examples_per_s']:.2f}"
                    for o, t in zip(rounds["one"], rounds["two"], strict=True)
                )
                + ")"
            )
    if not args.no_micro:
        m = gather_micro(b, 32)

        def versus(a: str, c: str) -> str:
            return (
                f"{1e3 * m[a]:.3f} vs {1e3 * m[c]:.3f} ms wall ({m[a] / m[c]:.2f}), "
                f"{1e3 * m[a + '_cpu']:.3f} vs {1e3 * m[c + '_cpu']:.3f} ms CPU of rank 0 "
                f"({m[a + '_cpu'] / m[c + '_cpu']:.2f})"
            )

        print(
            f"gather [{b}, 2, 32] forward+backward on 2 ranks, ours vs "
            f"torch.distributed.nn.functional.all_gather: {versus('ours', 'torch')}; with "
            f"[{b}, 2] ids riding in the same all-gather vs a second one: "
            f"{versus('riding', 'separate')}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
