"""The trainer's step, this checkout against another (an older commit), side by side.

Runs ``bench_relation_step.py --trainer-only`` of each checkout with its own ``src`` on
``PYTHONPATH``, alternating old and new ``--rounds`` times on the same machine, and
prints each path's median relations/s and the ratio new / old. Absolute rates on a
shared 2-core machine are noise; the ratio of interleaved runs is what to read.

    git worktree add /tmp/old <commit>
    python benchmarks/compare_trainer_step.py --old /tmp/old --batch 16384 --threads 1
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+\|\s+([\d,\s]+)\|")


def rates(checkout: Path, batch: int, threads: int) -> list[float]:
    """One run's relations/s per trainer path ((e), (f), (g)) of ``checkout``."""
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "1073741824")
    env.setdefault("MALLOC_TRIM_THRESHOLD_", "2147483648")
    cmd = [
        sys.executable,
        str(checkout / "benchmarks" / "bench_relation_step.py"),
        "--trainer-only",
        "--quick",
        "--batch",
        str(batch),
        "--threads",
        str(threads),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            return [float(x.replace(",", "")) for x in m.group(3).split()]
    raise RuntimeError(f"no rate line in the output of {checkout}:\n{out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the other checkout")
    parser.add_argument("--batch", type=int, default=16384)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    new = Path(__file__).resolve().parents[1]
    runs: dict[str, list[list[float]]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for name, checkout in (("old", args.old), ("new", new)):
            runs[name].append(rates(checkout, args.batch, args.threads))
            print(f"{name}: {runs[name][-1]}", flush=True)
    paths = ["(e) per relation", "(f) shared/32", "(g) recipe, f64"]
    print(f"\nB = {args.batch}, {args.threads} thread(s), medians of {args.rounds} runs each:")
    for i, path in enumerate(paths):
        old = statistics.median(r[i] for r in runs["old"])
        cur = statistics.median(r[i] for r in runs["new"])
        print(f"{path:>18}: old {old:>10,.0f}  new {cur:>10,.0f}  new/old {cur / old:.3f}")


if __name__ == "__main__":
    main()
