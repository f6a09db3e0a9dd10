"""Few-shot meta-learning: MAML, first-order MAML, ProtoNet and the scratch baseline.

5-way 3-shot classification of held-out classes, every learner scored on the *same*
test episodes (means and 95 % intervals; the differences are paired per episode, with
their own interval):

* MAML (second order): the meta-trained initialisation + ``inner_steps`` (5) steps;
* FOMAML: the same, meta-trained with first-order meta-gradients;
* scratch: the same network at its random initialisation + the same 5 steps;
* ProtoNet: the same encoder, meta-trained on the same episodes, nearest prototype.

Data: ``wordnet`` (default) — WordNet noun synsets by lexicographer class (16 / 5 / 5
classes), MiniLM gloss features, GraphSAGE over the hypernym graph
(``configs/wordnet_fewshot_maml.yaml``; the features are cached in ``--cache``); or
``sbm`` — the SBM fixture (``configs/sbm_fewshot_maml.yaml``). Each learner's checkpoint
is chosen on validation classes. No peer library runs beside ours: learn2learn has no
wheel for Python 3.11 and ``higher`` is unmaintained (issue 25).

Targets (issue 25): MAML >= scratch + 10 points; MAML >= ProtoNet - 3 points.

    python benchmarks/bench_fewshot.py                 # WordNet (~15 min on one thread)
    python benchmarks/bench_fewshot.py --data sbm      # the SBM fixture (~2 min)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from contrastkit.meta.evaluation import mean_ci95
from contrastkit.meta.run import build_fewshot_data
from contrastkit.meta.trainer import MetaTrainer
from contrastkit.train.config import load_config

CONFIGS = Path(__file__).parents[1] / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("wordnet", "sbm"), default="wordnet")
    parser.add_argument("--episodes", type=int, default=400, help="test episodes (>= 200)")
    parser.add_argument("--steps", type=int, default=None, help="meta-training steps")
    parser.add_argument("--cache", default="runs/fewshot_cache", help="WordNet feature cache")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = CONFIGS / (
        "wordnet_fewshot_maml.yaml" if args.data == "wordnet" else "sbm_fewshot_maml.yaml"
    )
    common = [
        f"meta.test_episodes={args.episodes}",
        f"loop.seed={args.seed}",
        "loop.progress=false",
        "output.run_dir=runs/bench_fewshot",
    ]
    if args.data == "wordnet":
        common.append(f"meta.cache_dir={args.cache}")
    if args.steps is not None:
        common.append(f"meta.steps={args.steps}")
    t0 = time.perf_counter()
    data = build_fewshot_data(load_config(base, common))
    print(f"data: {args.data}, {data.x.shape[0]} items x {data.x.shape[1]} features "
          f"({time.perf_counter() - t0:.1f} s to load)")  # fmt: skip

    accuracy: dict[str, torch.Tensor] = {}
    seconds: dict[str, float] = {}
    chosen: dict[str, int] = {}
    for method in ("maml", "fomaml", "protonet"):
        overrides = [*common, f"meta.method={method}"]
        if method == "protonet" and args.data == "wordnet":  # its recipe's smaller rate
            recipe = load_config(CONFIGS / "wordnet_fewshot_protonet.yaml")
            overrides.append(f"optim.lr={recipe.optim.lr}")
        config = load_config(base, overrides)
        t = time.perf_counter()
        trainer = MetaTrainer(config, data)
        trainer.fit(lambda record: None)
        seconds[method] = time.perf_counter() - t
        chosen[method] = trainer.best_step
        accuracy[method] = trainer.accuracy(trainer.test_episodes, trainer.best_params)
        if method == "maml":
            t = time.perf_counter()
            accuracy["scratch"] = trainer.scratch_accuracy(trainer.test_episodes)
            seconds["scratch"] = time.perf_counter() - t
            chosen["scratch"] = 0
        meta = config.meta
    print(
        f"\n{meta.ways}-way {meta.shots}-shot, {meta.queries} queries per class, "
        f"{args.episodes} test episodes of {meta.test_classes} held-out classes; "
        f"{meta.inner_steps} inner steps of {meta.inner_lr}; {meta.steps} meta-steps"
    )
    names = {
        "maml": "MAML (2nd order) init + 5 steps",
        "fomaml": "FOMAML init + 5 steps",
        "scratch": "same net from scratch + 5 steps",
        "protonet": "ProtoNet, same encoder",
    }
    print(f"{'learner':<34}{'accuracy':>18}{'best val step':>15}{'seconds':>10}")
    for key, label in names.items():
        mean, ci = mean_ci95(accuracy[key])
        print(f"{label:<34}{mean:>11.4f} ± {ci:.4f}{chosen[key]:>15}{seconds[key]:>10.1f}")
    print("\npaired differences (same episodes), points:")
    checks = [
        ("maml", "scratch", 10.0, "MAML - scratch"),
        ("fomaml", "scratch", 10.0, "FOMAML - scratch"),
        ("maml", "protonet", -3.0, "MAML - ProtoNet"),
        ("fomaml", "protonet", -3.0, "FOMAML - ProtoNet"),
        ("maml", "fomaml", None, "MAML - FOMAML"),
    ]
    for a, b, target, label in checks:
        mean, ci = mean_ci95(100 * (accuracy[a] - accuracy[b]))
        verdict = (
            ""
            if target is None
            else f"  target >= {target:+.0f}: " + ("met" if mean >= target else "MISSED")
        )
        print(f"  {label:<20}{mean:+8.2f} ± {ci:.2f}{verdict}")


if __name__ == "__main__":
    main()
