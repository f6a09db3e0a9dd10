"""The trainer on spawned ranks: whole runs through :func:`contrastkit.train.run.train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor

from contrastkit.train import run as run_module
from contrastkit.train.config import DEFAULT_RECIPE, TrainConfig, load_config

#: karate under an MLP with in-batch InfoNCE: the loss depends on the examples of each
#: global batch only (the one explicit negative drawn per relation is not read), so a
#: 2-rank run and one process on the same global batches must agree step by step
KARATE_IN_BATCH = [
    "data.name=karate",
    "encoder.kind=mlp",
    "encoder.manifold=euclidean",
    "encoder.dim=8",
    "encoder.hidden=16",
    "objective.distance=cosine",
    "objective.temperature=0.2",
    "objectives={infonce: {in_batch: true, symmetric: true}}",
    "optim.name=adam",
    "optim.lr=0.01",
    "burn_in.epochs=0",
    "miner.num_negatives=1",
    "miner.strategy=random",
    "loop.batch_size=12",  # 156 relations: 13 full global batches per epoch
    "loop.epochs=4",  # 52 steps
    "loop.log_every=1",
    "eval.every_epochs=1",  # 4 evaluations (one an epoch), rank 0's alone
    "output.checkpoint_every=5",
    "output.report=false",
    "loop.progress=false",
]


class Interrupted(Exception):
    """Stands for a kill right after a checkpoint was written."""


def config_for(run_dir: Path, *extra: str) -> TrainConfig:
    return load_config(DEFAULT_RECIPE, [*KARATE_IN_BATCH, f"output.run_dir={run_dir}", *extra])


def eval_records(run_dir: Path) -> list[dict[str, Any]]:
    """The evaluation records of ``run_dir/metrics.jsonl``, in order."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "eval"]


def losses(run_dir: Path) -> dict[int, float]:
    """``step -> loss`` of the training records of ``run_dir/metrics.jsonl``."""
    out: dict[int, float] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "train":
            assert record["step"] not in out, "a step logged twice (two writers?)"
            out[record["step"]] = record["loss"]
    return out


def _result(trainer: Any, run_dir: Path, rank: int) -> dict[str, Any]:
    state: dict[str, Tensor] = {k: v.clone() for k, v in trainer.encoder.state_dict().items()}
    return {
        "encoder": state,
        "losses": losses(run_dir) if rank == 0 else None,
        "files": sorted(p.name for p in run_dir.iterdir()),
        "step": trainer.step,
    }


def full_run(rank: int, world: int, base: str) -> dict[str, Any]:
    """Run A, start to end; with what this rank's evaluations did (the steps it
    computed the rank-0 metrics at, the anchors of each ranking it ranked, the probes
    it fitted), its final metrics and its early-stopping state."""
    from contrastkit.eval import probe, sharded_ranking
    from contrastkit.train.trainer_evaluation import TrainerEvaluation

    run_dir = Path(base) / "a"
    measured: list[int] = []
    ranked: list[tuple[int, int]] = []  # (this rank's anchors, all anchors) per ranking
    probes: list[int] = []
    originals = (TrainerEvaluation._measure, sharded_ranking.ranking_parts, probe.logistic_probe)

    def measure(self: Any, train: Any) -> Any:
        measured.append(self.step)
        return originals[0](self, train)

    def parts(*args: Any, **kwargs: Any) -> Any:
        out = originals[1](*args, **kwargs)
        ranked.append((out.average_precision.numel(), out.anchors.numel()))
        return out

    def fitted(*args: Any, **kwargs: Any) -> Any:
        probes.append(1)
        return originals[2](*args, **kwargs)

    TrainerEvaluation._measure = measure  # type: ignore[method-assign]
    sharded_ranking.ranking_parts = parts  # type: ignore[assignment]
    probe.logistic_probe = fitted  # type: ignore[assignment]
    try:
        trainer = run_module.train(config_for(run_dir))
    finally:
        TrainerEvaluation._measure = originals[0]  # type: ignore[method-assign]
        sharded_ranking.ranking_parts = originals[1]  # type: ignore[assignment]
        probe.logistic_probe = originals[2]  # type: ignore[assignment]
    out = _result(trainer, run_dir, rank)
    out.update(measured=measured, ranked=ranked, probes=len(probes))
    out["final_metrics"] = dict(trainer.final_metrics)
    out["stopper"] = trainer.stopper.state_dict()
    return out


#: run A with two objectives combined by PCGrad (MNR in-batch at another scale, no hard
#: negatives: it too reads each global batch's examples only)
PCGRAD = [
    "objectives={infonce: {in_batch: true, symmetric: true},"
    " mnr: {scale: 2.0, hard_negatives: false}}",
    "combiner.method=pcgrad",
    "loop.epochs=2",
]


def pcgrad_run(rank: int, world: int, base: str) -> dict[str, Any]:
    """Run A's data under PCGrad, start to end."""
    run_dir = Path(base) / "pcgrad"
    return _result(run_module.train(config_for(run_dir, *PCGRAD)), run_dir, rank)


def interrupted(rank: int, world: int, base: str, stop_at: int) -> None:
    """Run B, killed right after its checkpoint at ``stop_at`` on every rank."""
    save = run_module.save_trainer

    def save_then_stop(trainer: Any) -> Path:
        path = save(trainer)
        if trainer.step >= stop_at:
            raise Interrupted
        return path

    run_module.save_trainer = save_then_stop  # type: ignore[assignment]
    try:
        run_module.train(config_for(Path(base) / "b"))
    except Interrupted:
        return
    finally:
        run_module.save_trainer = save
    raise AssertionError(f"run B ended before step {stop_at}")


def resume(rank: int, world: int, base: str) -> dict[str, Any]:
    """Run B resumed from its checkpoint in fresh processes."""
    run_dir = Path(base) / "b"
    trainer = run_module.train(config_for(run_dir), resume=True)
    return _result(trainer, run_dir, rank)


def budget_run(rank: int, world: int, base: str) -> int:
    """A run stopped by ``loop.time_budget_s``: the step every rank stopped at (rank 1
    is slowed down, so its clock alone would stop it earlier)."""
    import time as _time

    from contrastkit.train.trainer import Trainer

    if rank == 1:
        original = Trainer.train_step

        def slow_step(self: Trainer, idx: Tensor) -> dict[str, Any]:
            _time.sleep(0.02)
            return original(self, idx)

        Trainer.train_step = slow_step  # type: ignore[method-assign]
    run_dir = Path(base) / "budget"
    trainer = run_module.train(config_for(run_dir, "loop.time_budget_s=0.5", "loop.epochs=50"))
    return int(trainer.step)
