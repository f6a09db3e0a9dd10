"""A text evaluation's encode on 2 gloo ranks against one process (1 thread each).

Under ``torchrun`` a text task's evaluation encodes every text with the batches split
over the ranks (:func:`~contrastkit.eval.sharded_encoding.sharded_encode`: rank ``i``
takes batches ``i, i + W, ...`` of the length-sorted plan one process runs). This
times the packaged MiniLM encoding ``--texts`` made-up texts of 2 to 30 words in
batches of 64: one process's :meth:`~contrastkit.models.text.TextEncoder.encode`, then
2 ranks' ``sharded_encode`` (its all-gather included), alternated over ``--rounds``.
Columns: wall seconds (the slower rank's, between barriers) and each process's CPU
seconds (``process_time``: the work it did, whatever else the machine runs). On a
machine with a free core per rank the wall time halves with the CPU; on a shared one
(another job on the second core) only the CPU per rank does. Last line: whether the
2 ranks' embedding equals one process's bit for bit.

    OMP_NUM_THREADS=1 python benchmarks/bench_sharded_encode.py   # ~1 min quiet
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORDS = (
    "the a of animal plant small large water tree body part made used kind any one "
    "that which person group"
).split()


def made_up_texts(n: int) -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30))) for _ in range(n)]


def _timed(encode: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float, float]:
    """``(encode(), wall seconds, CPU seconds of this process)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    z = encode()
    return z, time.perf_counter() - wall, time.process_time() - cpu


def _rank(rank: int, world: int, init: str, out: str, n: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    from contrastkit.eval.sharded_encoding import sharded_encode
    from contrastkit.models.text import TextEncoder

    encoder, texts = TextEncoder(), made_up_texts(n)
    dist.barrier()
    start = time.perf_counter()
    z, _, cpu = _timed(lambda: sharded_encode(encoder, texts, 64))
    dist.barrier()  # the wall time ends when the slower rank is done
    wall = time.perf_counter() - start
    torch.save({"z": z, "wall": wall, "cpu": cpu}, f"{out}.{rank}")
    dist.destroy_process_group()


def two_ranks(n: int) -> tuple[torch.Tensor, float, list[float]]:
    """``(embedding, wall seconds, [CPU seconds of each rank])``."""
    tmp = Path(tempfile.mkdtemp())
    mp.spawn(_rank, args=(2, str(tmp / "init"), str(tmp / "out"), n), nprocs=2, join=True)
    parts = [torch.load(f"{tmp / 'out'}.{r}", weights_only=False) for r in range(2)]
    return parts[0]["z"], max(p["wall"] for p in parts), [p["cpu"] for p in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from contrastkit.models.text import TextEncoder

    encoder, texts = TextEncoder(), made_up_texts(args.texts)
    one: list[tuple[float, float]] = []
    ranks: list[tuple[float, float, float]] = []
    equal = True
    for _ in range(args.rounds):
        z1, wall, cpu = _timed(lambda: encoder.encode(texts, 64))
        one.append((wall, cpu))
        z2, wall2, cpus = two_ranks(args.texts)
        ranks.append((wall2, *cpus))
        equal = equal and torch.equal(z1, z2)
    print(f"{args.texts} texts, MiniLM, batches of 64, 1 thread per process (median of rounds)")
    wall, cpu = (statistics.median(c) for c in zip(*one, strict=True))
    print(f"  one process  wall {wall:6.2f} s  CPU {cpu:6.2f} s")
    wall2, cpu0, cpu1 = (statistics.median(c) for c in zip(*ranks, strict=True))
    print(f"  2 ranks      wall {wall2:6.2f} s  CPU {cpu0:6.2f} s + {cpu1:6.2f} s")
    print(f"  CPU per rank / one process: {max(cpu0, cpu1) / cpu:.2f}; wall: {wall2 / wall:.2f}")
    print(f"  2 ranks' embedding equals one process's bit for bit: {equal}")


if __name__ == "__main__":
    main()
