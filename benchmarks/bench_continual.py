"""Continual learning on the 5-task WordNet stream: naive, replay, online EWC, joint.

Runs ``configs/wordnet_stream_{naive,replay,ewc,joint}.yaml`` (fixed seeds, one thread
each) one after another and prints their R-matrix metrics side by side: average
accuracy (ACC), backward transfer (BWT), forward transfer (FWT) and forgetting of
each task's held-out relations (the configs' ``continual.metric``), with the wall time
and the acceptance checks of issue 25:

* naive sequential fine-tuning: BWT < -0.10;
* replay (5 % buffer) and online EWC: |BWT| at most half of naive's, ACC >= naive - 0.01;
* joint training: the upper bound;
* all four under 10 minutes on 2 cores.

Usage::

    PYTHONPATH=src python benchmarks/bench_continual.py [--set key=value ...] [--only naive,ewc]

``--set`` overrides apply to every config (e.g. ``--set loop.seed=1``).
``--validation`` trains on 80 % of each task's training relations and measures the
other 20 % (:func:`~contrastkit.continual.stream.validation_stream`), never the test
relations: the replay settings were chosen this way.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from contrastkit.continual.learner import ContinualLearner, build_stream
from contrastkit.continual.stream import TaskStream, validation_stream
from contrastkit.train.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
METHODS = ("naive", "replay", "ewc", "joint")


def run(
    method: str, overrides: list[str], stream: TaskStream | None, validation: bool
) -> tuple[dict[str, float], float, ContinualLearner]:
    config = load_config(
        CONFIGS / f"wordnet_stream_{method}.yaml", ["loop.progress=false", *overrides]
    )
    start = time.perf_counter()
    if stream is None and validation:
        stream = validation_stream(build_stream(config), seed=config.loop.seed + 1)
    # the four configs share the stream (same seed and settings): built once
    learner = ContinualLearner(config, stream=stream)
    metrics = learner.fit()
    return metrics, time.perf_counter() - start, learner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--only", default=",".join(METHODS))
    parser.add_argument("--show-r", action="store_true", help="print every R matrix")
    parser.add_argument(
        "--validation", action="store_true", help="measure a validation split, not the test"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, tuple[dict[str, float], float]] = {}
    print(f"{'method':<8} {'ACC':>7} {'BWT':>8} {'FWT':>8} {'forget':>8} {'time s':>7}")
    stream = None
    for method in args.only.split(","):
        metrics, seconds, learner = run(method, args.overrides, stream, args.validation)
        stream = learner.stream
        results[method] = (metrics, seconds)
        m = metrics
        print(
            f"{method:<8} {m['acc']:7.4f} {m['bwt']:+8.4f} {m['fwt']:+8.4f} "
            f"{m['forgetting']:+8.4f} {seconds:7.1f}",
            flush=True,
        )
        if args.show_r:
            print(learner.r.numpy().round(3))
        if learner.buffer is not None:
            table = sum(p.numel() * p.element_size() for p in learner.encoder.parameters())
            print(
                f"  replay memory {learner.buffer.nbytes() / 1024:.0f} KiB for "
                f"{learner.buffer.capacity} relations; the model {table / 1024:.0f} KiB"
            )
    total = sum(s for _, s in results.values())
    print(f"total time {total:.1f} s (target < 600 s)")
    if "naive" not in results:
        return
    naive = results["naive"][0]
    verdict = "ok" if naive["bwt"] < -0.10 else "MISSED"
    print(f"naive BWT {naive['bwt']:+.4f} (target < -0.10): {verdict}")
    for method in ("replay", "ewc"):
        if method not in results:
            continue
        m = results[method][0]
        cut = 1.0 - abs(m["bwt"]) / abs(naive["bwt"]) if naive["bwt"] else float("nan")
        ok = cut >= 0.5 and m["acc"] >= naive["acc"] - 0.01
        print(
            f"{method}: |BWT| cut {cut:.1%} (target >= 50 %), ACC - naive "
            f"{m['acc'] - naive['acc']:+.4f} (target >= -0.01): {'ok' if ok else 'MISSED'}"
        )
    if "joint" in results:
        print(f"joint ACC {results['joint'][0]['acc']:.4f} (upper bound)")


if __name__ == "__main__":
    main()
