"""Which negatives help on the mammal closure: random vs hard vs curriculum, at equal
wall time.

Every variant is the mammal recipe (``configs/mammals_poincare_d5.yaml``: Poincaré
d = 5, 50 negatives per relation, degree burn-in, RSGD) with one change, trained for
the same wall-clock budget (``loop.time_budget_s``; mining, refreshes and the rest
of the loop count against it) and then scored by the reconstruction ranking:

* ``random``: N&K's uniform negatives, rejecting true relations (the recipe);
* ``hard``: all 50 from each anchor's 100 closest non-related nodes, re-mined every
  100 steps; ``mixed``: 25 of those and 25 uniform; ``semihard``: the closest ones
  that still score below the positive;
* ``curriculum``: mixed negatives under a 3-stage linear curriculum (negatives
  12 -> 50 and the difficulty cap raised stage by stage);
* ``late hard``: random negatives, then from epoch 150 mixed with 5 of the 50 hard
  (``miner_stages``; the stage that lifts the noun Poincaré recipe);
* ``temperature``: random negatives with the temperature annealed 2 -> 1 (cosine).

Runs are sequential in one process on one thread, so they see the same machine.

    python benchmarks/ablation_negatives.py                 # 90 s per variant (~12 min)
    python benchmarks/ablation_negatives.py --budget 30     # quicker, less converged
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from contrastkit.train import load_config, train

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "mammals_poincare_d5.yaml"

VARIANTS: dict[str, list[str]] = {
    "random (N&K uniform)": ["miner.strategy=uniform"],
    "hard": ["miner.strategy=hard"],
    "mixed (half hard)": ["miner.strategy=mixed", "miner.hard_ratio=0.5"],
    "semi-hard": ["miner.strategy=semihard"],
    "curriculum (mixed, 3 stages)": [
        "miner.strategy=mixed",
        "schedule.curriculum=linear",
        "schedule.curriculum_stages=3",
    ],
    "late hard (random, then 5 of 50 hard from epoch 150)": [
        "miner.strategy=uniform",
        "miner_stages=[{from_epoch: 150, set: {strategy: mixed, hard_ratio: 0.1}}]",
    ],
    "temperature 2 -> 1 (random)": [
        "miner.strategy=uniform",
        "objective.temperature=2.0",
        "schedule.temperature=cosine",
        "schedule.temperature_end=1.0",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per variant")
    parser.add_argument(
        "--epochs", type=int, default=300, help="the schedules' horizon (loop.epochs)"
    )
    parser.add_argument("--only", nargs="*", default=None, help="variant names to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, overrides) in enumerate(VARIANTS.items()):
            if args.only and not any(o in name for o in args.only):
                continue
            config = load_config(
                RECIPE,
                [
                    *overrides,
                    f"loop.epochs={args.epochs}",
                    f"loop.time_budget_s={args.budget}",
                    "eval.every_epochs=100000",
                    f"output.run_dir={Path(tmp) / str(i)}",
                    "output.report=false",
                    "loop.progress=false",
                ],
            )
            trainer = train(config)
            m = trainer.final_metrics
            rows.append((name, trainer.train_seconds, trainer.epoch, m["map"], m["mean_rank"]))
            print(
                f"{name:30} {trainer.train_seconds:6.1f} s  {trainer.epoch:4d} epochs  "
                f"MAP {m['train/map']:.4f}  mean rank {m['train/mean_rank']:.3f}",
                flush=True,
            )
    print("\n| negatives | wall (s) | epochs | MAP | mean rank |\n|---|---|---|---|---|")
    for name, sec, ep, mp, mr in rows:
        print(f"| {name} | {sec:.0f} | {ep} | {mp:.3f} | {mr:.2f} |")


if __name__ == "__main__":
    main()
