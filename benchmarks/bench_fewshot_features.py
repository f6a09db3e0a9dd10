"""Few-shot WordNet classification with two sources of node features, side by side:
MiniLM over the glosses vs a trained hierarchy embedding (``meta.features: run``).

The same synset sample, class split and test episodes for both (they depend on the
seed and the labels only); each learner (``--methods``, default ProtoNet and MAML of
``configs/wordnet_fewshot_maml.yaml`` / ``_protonet.yaml``) is meta-trained on each
feature source and scored on the same test episodes (mean ± 95 % interval, and the
paired difference run - MiniLM). The hierarchy run must hold every sampled synset and
its hypernyms (a run over all nouns, e.g. ``configs/nouns_poincare_d10.yaml``; fewer
epochs give a rougher one), or pass ``--set meta.features_missing=zero``.

    PYTHONPATH=src python benchmarks/bench_fewshot_features.py --run runs/nouns_poincare_d10
        [--methods protonet,maml] [--episodes 400] [--cache runs/fewshot_cache] [--set k=v]
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
    parser.add_argument("--run", required=True, help="the trained hierarchy run directory")
    parser.add_argument("--methods", default="protonet,maml")
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--cache", default="runs/fewshot_cache", help="MiniLM feature cache")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = [
        f"meta.test_episodes={args.episodes}",
        f"meta.cache_dir={args.cache}",
        "loop.progress=false",
        "output.run_dir=runs/bench_fewshot_features",
        *args.overrides,
    ]
    sources = {"minilm": [], "run": ["meta.features=run", f"meta.features_run={args.run}"]}
    accuracy: dict[tuple[str, str], torch.Tensor] = {}
    print(f"{'method':<10}{'features':<10}{'dim':>5}{'accuracy':>18}{'seconds':>9}")
    for method in args.methods.split(","):
        base = CONFIGS / f"wordnet_fewshot_{method if method == 'protonet' else 'maml'}.yaml"
        for source, extra in sources.items():
            config = load_config(base, [*common, f"meta.method={method}", *extra])
            t = time.perf_counter()
            data = build_fewshot_data(config)
            trainer = MetaTrainer(config, data)
            trainer.fit(lambda record: None)
            acc = trainer.accuracy(trainer.test_episodes, trainer.best_params)
            accuracy[method, source] = acc
            mean, ci = mean_ci95(acc)
            print(
                f"{method:<10}{source:<10}{data.x.shape[1]:>5}{mean:>11.4f} ± {ci:.4f}"
                f"{time.perf_counter() - t:>9.1f}",
                flush=True,
            )
        mean, ci = mean_ci95(100 * (accuracy[method, "run"] - accuracy[method, "minilm"]))
        print(f"  {method}: run - minilm {mean:+.2f} ± {ci:.2f} points (paired)")


if __name__ == "__main__":
    main()
