"""Peak memory of a cached (gradient-caching) MNR step at a large batch against a
plain MNR step at a small one, each in a fresh subprocess.

Each child builds the packaged all-MiniLM-L6-v2 (or ``--model DIR``) as the trainer's
text encoder, AdamW and the MNR objective, and takes one training step
(:class:`~contrastkit.train.step.AutogradStep`: encode, loss, backward, update) on
``B`` WordNet (lemma names -> definition) pairs — plain at ``--small`` pairs, cached at
``--large`` pairs in chunks of ``--chunk`` texts (2 x ``--small`` by default: the
texts of a plain small batch). It prints its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after loading the model and after
the step. The parent prints both and the ratio cached / plain (the issue's target:
<= 2).

    python benchmarks/bench_text_memory.py --small 32 --large 1024
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(batch: int, chunk: int, model: str | None, seq: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    from contrastkit.data.wordnet_text import load_wordnet_text_pairs
    from contrastkit.functional.distances import get_distance
    from contrastkit.losses.combine import FixedWeighting
    from contrastkit.models.text import TextEncoder
    from contrastkit.objectives.batch import Batch
    from contrastkit.objectives.registry import (
        ObjectiveContext,
        build_objectives,
        parse_objectives,
    )
    from contrastkit.train.step import AutogradStep
    from contrastkit.train.text_encoder import TextItemEncoder

    pairs = load_wordnet_text_pairs(kinds=("lemmas",), seed=0).subset("train")
    take = torch.randperm(pairs.num_pairs, generator=torch.Generator().manual_seed(0))[:batch]
    texts = pairs.text_list(pairs.anchors[take]) + pairs.text_list(pairs.positives[take])
    text = TextEncoder(model, max_seq_length=seq)
    encoder = TextItemEncoder(text, texts)
    objectives = build_objectives(
        parse_objectives({"mnr": 1.0}),
        ObjectiveContext(distance=get_distance("cosine"), dim=encoder.dim, num_items=len(texts)),
    )
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=2e-5)
    step = AutogradStep(
        encoder,
        objectives,
        FixedWeighting({"mnr": 1.0}),
        optimizer,
        grad_cache_chunk_size=chunk,
    )
    # texts are distinct per row here: anchors 0..B-1, positives B..2B-1
    u, v = torch.arange(batch), torch.arange(batch, 2 * batch)
    b = Batch.from_ids(
        u, v, torch.empty(batch, 0, dtype=torch.long), torch.empty(batch, 0, dtype=torch.bool), 0.05
    )
    loaded = _peak_mb()
    t0 = time.perf_counter()
    out = step.compute(b)
    step.apply(out, 2e-5)
    seconds = time.perf_counter() - t0
    result = {
        "batch": batch,
        "chunk": chunk,
        "loaded_mb": loaded,
        "peak_mb": _peak_mb(),
        "seconds": seconds,
        "loss": float(out.combined.total),
    }
    print(json.dumps(result))


def run_child(batch: int, chunk: int, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(batch),
        str(chunk),
        "--seq",
        str(args.seq),
        "--threads",
        str(args.threads),
    ]
    if args.model is not None:
        cmd += ["--model", str(args.model)]
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=32, help="plain MNR batch (pairs)")
    parser.add_argument("--large", type=int, default=1024, help="cached MNR batch (pairs)")
    parser.add_argument("--chunk", type=int, default=0, help="texts per chunk (0: 2 x small)")
    parser.add_argument("--seq", type=int, default=64, help="max_seq_length")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--child", nargs=2, type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child[0], args.child[1], args.model, args.seq, args.threads)
        return 0
    chunk = args.chunk or 2 * args.small
    plain = run_child(args.small, 0, args)
    cached = run_child(args.large, chunk, args)
    print(f"{'':34}{'loaded MB':>11}{'peak MB':>10}{'step s':>9}")
    for name, r in (
        (f"plain MNR, batch {args.small}", plain),
        (f"cached MNR, batch {args.large}/{chunk}", cached),
    ):
        print(f"{name:34}{r['loaded_mb']:>11.0f}{r['peak_mb']:>10.0f}{r['seconds']:>9.1f}")
    ratio = cached["peak_mb"] / plain["peak_mb"]
    print(f"peak RSS ratio cached / plain: {ratio:.2f} (target <= 2)")
    # what the step itself added over the loaded model and data
    grow_p = plain["peak_mb"] - plain["loaded_mb"]
    grow_c = cached["peak_mb"] - cached["loaded_mb"]
    print(f"step's own growth: plain {grow_p:.0f} MB, cached {grow_c:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
