"""The WordNet mammal closure, Poincaré d = 5: contrastkit's trainer against gensim.

Both embed the shipped closure (``contrastkit.data.mammals.load_mammals``: 1,182
nodes, 6,542 child -> ancestor relations) in the same process run:

* contrastkit: ``contrastkit.train.run.train`` with the mammal recipe
  ``configs/mammals_poincare_d5.yaml`` (N&K's distance softmax, 50 uniform negatives
  per relation rejecting true relations, degree burn-in, Riemannian SGD through the
  sparse table step), timed end to end (set-up, final evaluation and checkpoint
  included);
* gensim's ``PoincareModel`` (size 5, its defaults otherwise: lr 0.1, 10 burn-in
  epochs at 0.01, batches of 10), trained in chunks of epochs until its training
  time reaches contrastkit's wall time, so both are compared at equal wall time.

gensim draws negatives from the degree distribution and resamples the whole set
until all are distinct and unrelated; on this closure a few ancestors (mammal,
placental, ...) hold much of the mass, so the chance that ``k`` draws are distinct
collapses with ``k`` (printed below) and ``negative=50`` never finishes an epoch.
gensim therefore runs with ``negative=10``, its default (``--gensim-negative``).

Both embeddings are scored by the same function,
``contrastkit.eval.reconstruction.reconstruction_ranking`` (directed, as Nickel &
Kiela 2017); gensim's own ``ReconstructionEvaluation`` is run on gensim's model as a
consistency check (it keeps the anchor itself among the candidates:
``include_self=True``).

    python benchmarks/bench_wordnet.py            # the recipe, 300 epochs (~4-6 min)
    python benchmarks/bench_wordnet.py --quick    # 60 epochs, 10 burn-in (~1-2 min)
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from contrastkit.data.mammals import load_mammals
from contrastkit.eval.reconstruction import reconstruction_ranking

PAPER = {"map": 0.927, "mean_rank": 1.26}  # Nickel & Kiela 2017, mammals, d = 5
RECIPE = Path(__file__).resolve().parents[1] / "configs" / "mammals_poincare_d5.yaml"


def run_contrastkit(
    epochs: int, burn_in: int | None, run_dir: Path
) -> tuple[float, torch.Tensor, dict]:
    from contrastkit.train import load_config, train

    overrides = [
        f"output.run_dir={run_dir}",
        f"loop.epochs={epochs}",
        f"eval.every_epochs={epochs}",
        "output.report=false",
        "loop.progress=false",
    ]
    if burn_in is not None:
        overrides.append(f"loop.burn_in_epochs={burn_in}")
    config = load_config(RECIPE, overrides)
    start = time.perf_counter()
    trainer = train(config)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [r["relations_per_s"] for r in records if r.get("kind") == "train"]
    info = {
        "steps": trainer.step,
        "final": trainer.final_metrics,
        "step_rate": float(np.median(rates)) if rates else float("nan"),
        "negatives": config.miner.num_negatives,
        "threads": config.loop.num_threads,
    }
    return wall, trainer.encoder.embed_all().detach().double(), info


def distinct_probability(model: object, k: int) -> float:
    """Poisson estimate that ``k`` degree-weighted draws are all distinct."""
    counts = np.diff(np.concatenate([[0], model._node_counts_cumsum]))  # type: ignore[attr-defined]
    p = counts / counts.sum()
    return math.exp(-k * (k - 1) / 2 * float((p * p).sum()))


def gensim_vectors(model: object, names: list[str]) -> torch.Tensor:
    kv = model.kv  # type: ignore[attr-defined]
    return torch.from_numpy(np.stack([kv.get_vector(n) for n in names])).double()


def run_gensim(
    relations: list[tuple[str, str]],
    names: list[str],
    edge_index: torch.Tensor,
    budget: float,
    negative: int,
    chunk: int,
) -> tuple[object, list[tuple[int, float, float, float]]]:
    """Train gensim in chunks of ``chunk`` epochs until ``budget`` seconds of training;
    returns the model and (epochs, seconds, MAP, mean rank) after each chunk."""
    from gensim.models.poincare import PoincareModel

    model = PoincareModel(relations, size=5, negative=negative, seed=0)
    curve: list[tuple[int, float, float, float]] = []
    spent, epochs = 0.0, 0
    while spent < budget:
        start = time.perf_counter()
        model.train(epochs=chunk)
        spent += time.perf_counter() - start
        epochs += chunk + (model.burn_in if epochs == 0 else 0)
        res = reconstruction_ranking(gensim_vectors(model, names), edge_index)
        curve.append((epochs, spent, res.map, res.mean_rank))
    return model, curve


def gensim_own_evaluation(model: object, relations: list[tuple[str, str]], tmp: Path) -> dict:
    from gensim.models.poincare import ReconstructionEvaluation

    path = tmp / "relations.tsv"
    path.write_text("".join(f"{u}\t{v}\n" for u, v in relations))
    return dict(ReconstructionEvaluation(str(path), model.kv).evaluate())  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 epochs, 10 burn-in")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--gensim-negative", type=int, default=10)
    parser.add_argument("--gensim-chunk", type=int, default=5, help="epochs between evaluations")
    args = parser.parse_args()
    torch.set_num_threads(1)
    graph = load_mammals()
    names, ei = graph.names, graph.edge_index
    relations = [(names[u], names[v]) for u, v in ei.t().tolist()]
    e = len(relations)
    epochs = args.epochs or (60 if args.quick else 300)
    burn_in = 10 if args.quick else None
    print(f"mammal closure: {graph.num_nodes:,} nodes, {e:,} relations; Poincaré d = 5, 1 thread")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wall, z_ck, info = run_contrastkit(epochs, burn_in, tmp / "run")
        ck = reconstruction_ranking(z_ck, ei)
        ck_rate = epochs * e / wall
        print(
            f"contrastkit  {epochs} epochs, K = {info['negatives']}: wall {wall:6.1f} s "
            f"({ck_rate:,.0f} relations/s end to end, {info['step_rate']:,.0f} per step)  "
            f"MAP {ck.map:.4f}  mean rank {ck.mean_rank:.3f}  "
            f"(trainer's own: MAP {info['final'].get('train/map', float('nan')):.4f})"
        )

        from gensim.models.poincare import PoincareModel

        probe = PoincareModel(relations, size=5, negative=args.gensim_negative, seed=0)
        odds = ", ".join(f"k={k}: {distinct_probability(probe, k):.1e}" for k in (10, 20, 50))
        print(f"gensim: P(k degree-weighted draws all distinct) {odds}")
        model, curve = run_gensim(
            relations, names, ei, wall, args.gensim_negative, args.gensim_chunk
        )
        for ep, sec, mp, mr in curve:
            print(
                f"gensim       {ep:4d} epochs, K = {args.gensim_negative}: train {sec:6.1f} s "
                f"({ep * e / sec:,.0f} relations/s)  MAP {mp:.4f}  mean rank {mr:.3f}"
            )
        own = gensim_own_evaluation(model, relations, tmp)
        same = reconstruction_ranking(gensim_vectors(model, names), ei, include_self=True)
        print(
            f"gensim ReconstructionEvaluation: MAP {float(own['MAP']):.4f} mean rank "
            f"{float(own['mean_rank']):.3f}; contrastkit's ranking with include_self=True: "
            f"MAP {same.map:.4f} mean rank {same.mean_rank:.3f}"
        )

    ep, sec, mp, mr = curve[-1]
    print("\nat equal wall time (gensim's first evaluation past contrastkit's wall time):")
    print(f"  {'':12} {'seconds':>8} {'relations/s':>12} {'MAP':>7} {'mean rank':>10}")
    print(f"  {'contrastkit':12} {wall:8.1f} {ck_rate:12,.0f} {ck.map:7.4f} {ck.mean_rank:10.3f}")
    print(f"  {'gensim':12} {sec:8.1f} {ep * e / sec:12,.0f} {mp:7.4f} {mr:10.3f}")
    print(
        f"  ratios contrastkit / gensim: relations/s {ck_rate / (ep * e / sec):.2f}, "
        f"MAP {ck.map / mp:.2f}; paper (N&K 2017): MAP {PAPER['map']}, "
        f"mean rank {PAPER['mean_rank']}"
    )


if __name__ == "__main__":
    main()
