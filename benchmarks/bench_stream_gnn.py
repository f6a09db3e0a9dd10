"""Continual learning with the inductive GNN encoder (``encoder.kind: gnn``): naive
sequential fine-tuning vs online EWC (and replay) on a task stream, the MLP over the
same features beside it.

Every method runs the same stream (built once) with fixed seeds, one thread; the table
prints average accuracy (ACC), backward transfer (BWT), forward transfer (FWT),
forgetting and the untrained encoder's mean metric (``b``), with |BWT| of each method
as a ratio of naive's.

* ``--stream sbm`` (default): the growing SBM fixture (5 tasks of 6 blocks of 10 nodes,
  ``continual.feature_dim`` noisy block-indicator features), MRR of held-out edges;
* ``--stream wordnet``: ``configs/wordnet_stream_naive.yaml``'s 5 lexicographer-file
  tasks with MiniLM gloss features (encoded once, ~1 min), MAP of held-out relations.

Usage::

    PYTHONPATH=src python benchmarks/bench_stream_gnn.py [--stream sbm|wordnet]
        [--ewc 10,100] [--replay 0.05] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from contrastkit.continual.learner import ContinualLearner
from contrastkit.continual.stream import TaskStream
from contrastkit.train.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

SBM = [
    "continual.enabled=true",
    "continual.feature_dim=4",
    "continual.passes=10",
    "encoder.dim=16",
    "encoder.hidden=32",
    "objective.temperature=0.2",
    "optim.name=adam",
    "optim.lr=0.01",
    "loop.batch_size=32",
]
WORDNET = ["encoder.hidden=64", "optim.lr=0.005"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", choices=("sbm", "wordnet"), default="sbm")
    parser.add_argument("--ewc", default="10,100", help="EWC lambdas to run")
    parser.add_argument("--replay", default="0.05", help="replay buffer fractions to run")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.stream == "sbm":
        base_file, base = None, SBM
    else:
        base_file, base = CONFIGS / "wordnet_stream_naive.yaml", WORDNET
    runs: list[tuple[str, list[str]]] = [("gnn naive", ["encoder.kind=gnn"])]
    runs += [
        (f"gnn ewc {lam}", ["encoder.kind=gnn", f"continual.ewc.lambda_={lam}"])
        for lam in filter(None, args.ewc.split(","))
    ]
    runs += [
        (f"gnn replay {f}", ["encoder.kind=gnn", f"continual.replay.buffer_fraction={f}"])
        for f in filter(None, args.replay.split(","))
    ]
    runs.append(("mlp naive", ["encoder.kind=mlp"]))
    stream: TaskStream | None = None
    naive_bwt = float("nan")
    print(f"{'method':<16} {'ACC':>7} {'BWT':>8} {'FWT':>8} {'forget':>8} {'b':>7} "
          f"{'|BWT|/naive':>11} {'time s':>7}")  # fmt: skip
    for name, extra in runs:
        config = load_config(base_file, ["loop.progress=false", *base, *extra, *args.overrides])
        start = time.perf_counter()
        learner = ContinualLearner(config, stream=stream)
        stream = learner.stream  # features included: every run reads the same stream
        m = learner.fit()
        wall = time.perf_counter() - start
        if name == "gnn naive":
            naive_bwt = m["bwt"]
        ratio = abs(m["bwt"]) / abs(naive_bwt) if naive_bwt else float("nan")
        print(
            f"{name:<16} {m['acc']:>7.3f} {m['bwt']:>8.3f} {m['fwt']:>8.3f} "
            f"{m['forgetting']:>8.3f} {float(learner.baseline.mean()):>7.3f} "
            f"{ratio:>11.2f} {wall:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
