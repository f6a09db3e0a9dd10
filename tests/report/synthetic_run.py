"""A realistic synthetic run directory, in the format the trainer writes, for report tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

OBJECTIVES = ("info_nce", "triplet", "spectral")
EVAL_METRICS = ("map", "mean_rank", "auc", "ap", "probe_accuracy", "alignment", "uniformity")
CLASS_NAMES = ("carnivore", "ungulate", "primate", "rodent", "cetacean", "bat")
CONFIG_YAML = """data:
  dataset: wordnet_mammals
encoder:
  kind: embedding
  dim: 16
objectives:
  info_nce: 1.0
  triplet: 0.5
  spectral: 0.1
loop:
  steps: 400
  lr: 0.01
# <script>alert("escaped")</script>
"""


def train_record(step: int, steps: int, rng: np.random.Generator) -> dict[str, object]:
    t = step / steps
    noise = rng.normal(0.0, 0.08, size=len(OBJECTIVES))
    components = {
        "info_nce": 3.5 * math.exp(-3.0 * t) + 0.4,
        "triplet": 0.45 * math.exp(-5.0 * t) + 0.01,
        "spectral": 0.2 * math.exp(-1.5 * t) + 0.05,
    }
    weights = {"info_nce": 1.0, "triplet": 0.5 * min(1.0, 2 * t), "spectral": 0.1}
    record: dict[str, object] = {"kind": "train", "step": step, "epoch": step // 50}
    total = 0.0
    for (name, value), eps in zip(components.items(), noise, strict=True):
        value *= math.exp(eps)
        record[f"loss/{name}"] = value
        record[f"weight/{name}"] = weights[name]
        total += weights[name] * value
    stage_index = 0 if t < 0.33 else (1 if t < 0.67 else 2)
    record.update(
        loss=total,
        temperature=0.05 + 0.45 * 0.5 * (1 + math.cos(math.pi * t)),
        stage=("easy", "semi-hard", "hard")[stage_index],
        stage_index=stage_index,
        lr=0.01 * min(1.0, step / 20 + 0.05) * 0.5 * (1 + math.cos(math.pi * t)) + 1e-5,
        sim_gap=0.05 + 0.55 * (1 - math.exp(-4 * t)) + rng.normal(0, 0.03),
        violation_rate=float(np.clip(0.6 * math.exp(-4 * t) + rng.normal(0, 0.02), 0, 1)),
        skipped_nonfinite=int(step > 200) + int(step > 310),
        examples_per_s=float(rng.normal(52000, 3000)),
    )
    return record


def eval_record(step: int, steps: int) -> dict[str, object]:
    t = step / steps
    return {
        "kind": "eval",
        "step": step,
        "epoch": step // 50,
        "map": 0.1 + 0.75 * (1 - math.exp(-3 * t)),
        "mean_rank": 400.0 * math.exp(-4 * t) + 1.5,
        "auc": 0.5 + 0.45 * (1 - math.exp(-5 * t)),
        "ap": 0.5 + 0.42 * (1 - math.exp(-5 * t)),
        "probe_accuracy": 1 / 6 + 0.75 * (1 - math.exp(-4 * t)),
        "alignment": 1.2 * math.exp(-2 * t) + 0.2,
        "uniformity": -1.0 - 2.0 * (1 - math.exp(-3 * t)),
    }


def write_metrics(path: Path, steps: int = 400, eval_every: int = 50, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for step in range(1, steps + 1):
        lines.append(json.dumps(train_record(step, steps, rng)))
        if step % eval_every == 0:
            lines.append(json.dumps(eval_record(step, steps)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def similarity_snapshot(rng: np.random.Generator, pos_mean: float, neg_mean: float, spread: float):
    pos = np.clip(rng.normal(pos_mean, spread, 2000), -1, 1).astype(np.float32)
    neg = np.clip(rng.normal(neg_mean, spread * 1.3, 20000), -1, 1).astype(np.float32)
    return {"pos": pos, "neg": neg}


def write_run(run_dir: Path, steps: int = 400, seed: int = 0, manifold: str = "euclidean") -> Path:
    """Write every file of the run-directory format under ``run_dir``; return ``run_dir``."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(CONFIG_YAML, encoding="utf-8")
    write_metrics(run_dir / "metrics.jsonl", steps=steps, seed=seed)
    snap = run_dir / "snapshots"
    snap.mkdir(exist_ok=True)
    np.savez(snap / "similarities_start.npz", **similarity_snapshot(rng, 0.08, 0.0, 0.15))
    np.savez(snap / "similarities_end.npz", **similarity_snapshot(rng, 0.72, 0.12, 0.12))
    sim_ap = rng.normal(0.6, 0.15, 3000)
    sim_an = sim_ap - np.abs(rng.normal(0.1, 0.15, 3000)) + rng.normal(0, 0.05, 3000)
    np.save(snap / "difficulty.npy", (sim_an - sim_ap + 1.0).astype(np.float32))
    for i in range(3):  # re-mining rounds: the mined negatives get easier
        np.save(
            snap / f"difficulty_round_{i:03d}.npy",
            rng.normal(0.05 - 0.1 * i, 0.1, 2000).astype(np.float32),
        )
    n_classes, per_class, dim = len(CLASS_NAMES), 100, 16
    centres = rng.normal(0, 3.0, (n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    z = centres[labels] + rng.normal(0, 1.0, (labels.size, dim))
    if manifold == "poincare":
        z = (
            np.tanh(np.linalg.norm(z, axis=1, keepdims=True) / 8)
            * z
            / np.linalg.norm(z, axis=1, keepdims=True)
        )
    np.savez(
        snap / "embedding_end.npz",
        z=z.astype(np.float32),
        labels=labels,
        label_names=np.array(CLASS_NAMES),
        manifold=np.array(manifold),
    )
    final = {"map": 0.83, "mean_rank": 2.4, "auc": 0.95, "probe_accuracy": 0.9, "steps": steps}
    (run_dir / "final_metrics.json").write_text(json.dumps(final), encoding="utf-8")
    return run_dir
