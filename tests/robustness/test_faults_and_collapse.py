"""Bad input, faults and silent failures: a collapsed embedding is refused, not scored
perfect; skipped non-finite steps are visible; killed writes leave no temporaries;
checkpoints are checked before they load; a finished run is not resumed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from contrastkit.eval import CollapsedEmbeddingError, check_not_collapsed
from contrastkit.eval.reconstruction import filtered_ranking, reconstruction_ranking
from contrastkit.functional.distances import get_distance
from contrastkit.train import (
    DEFAULT_RECIPE,
    CheckpointError,
    DataConfig,
    FixedEmbedding,
    TrainConfig,
    Trainer,
    build_task,
    checkpoint_path,
    evaluate_task,
    load_checkpoint,
    load_config,
    resume_config,
    save_checkpoint,
    train,
)
from contrastkit.train.callbacks import NonFiniteGuard
from contrastkit.train.checkpoint import remove_stale_temporaries
from contrastkit.train.progress import ProgressBar
from contrastkit.typed_config import ConfigError
from tests.karate_mlp import karate_mlp_config

# the default recipe (a Poincaré table, the sparse RSGD step) on the karate club:
# a learning rate this large overflows the update and the ball's projection maps every
# row to the origin, with no non-finite step; every distance then ties, and the
# optimistic ranking used to print MAP 1.0 / mean rank 1.0
COLLAPSING = ["data.name=karate", "optim.lr=1e30", "burn_in.epochs=0", "loop.epochs=3"]
QUIET = ["output.report=false", "loop.progress=false"]
KARATE_TABLE = ["data.name=karate", "loop.epochs=4", "burn_in.epochs=0", "encoder.dim=5"]


def _recipe(tmp_path: Path, *overrides: str, name: str = "run") -> TrainConfig:
    return load_config(DEFAULT_RECIPE, [*QUIET, f"output.run_dir={tmp_path / name}", *overrides])


def _records(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


# ---- 1. collapse ------------------------------------------------------------------
def test_check_not_collapsed_passes_a_spread_embedding() -> None:
    gen = torch.Generator().manual_seed(0)
    check_not_collapsed(torch.randn(50, 4, generator=gen))
    check_not_collapsed(torch.randn(50, 4, generator=gen) * 0.3, ball_radius=1.0)
    check_not_collapsed(torch.randn(50, 4, generator=gen), directions=True)
    check_not_collapsed(torch.zeros(1, 3))  # one row cannot collapse


@pytest.mark.parametrize(
    ("z", "kwargs", "what"),
    [
        (torch.zeros(34, 5), {}, "collapsed to the origin: all 34 rows"),
        (torch.full((20, 3), 0.25), {}, "collapsed to a point"),
        (torch.tensor([[0.5, 0.5]]) + 1e-9 * torch.arange(10.0).unsqueeze(1), {}, "to a point"),
        (
            torch.arange(1.0, 11.0).unsqueeze(1) * torch.tensor([[0.6, 0.8]]),
            {"directions": True},
            "collapsed to one direction",
        ),
        (
            torch.nn.functional.normalize(torch.randn(30, 5), dim=1) * 0.996,
            {"ball_radius": 1.0},
            "collapsed onto the rim of the Poincaré ball: 30 of 30 rows",
        ),
        (
            torch.tensor([[0.1, 0.2], [float("nan"), 0.0], [0.3, 0.1]]),
            {},
            "diverged: 1 of 3 rows hold NaN/Inf",
        ),
    ],
    ids=["origin", "point", "point-rounding", "direction", "rim", "nan"],
)
def test_check_not_collapsed_names_what_collapsed(
    z: torch.Tensor, kwargs: dict[str, object], what: str
) -> None:
    with pytest.raises(CollapsedEmbeddingError, match=what) as info:
        check_not_collapsed(z, "table", **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("table ")


def test_rim_needs_nearly_all_rows_on_the_rim() -> None:
    gen = torch.Generator().manual_seed(1)
    unit = torch.nn.functional.normalize(torch.randn(100, 5, generator=gen), dim=1)
    radii = torch.full((100, 1), 0.996)
    radii[:5] = 0.5  # a trained hierarchy keeps its inner nodes off the rim
    check_not_collapsed(unit * radii, ball_radius=1.0)
    # the same sphere far inside the ball is not the rim
    check_not_collapsed(unit * 0.5, ball_radius=1.0)
    with pytest.raises(CollapsedEmbeddingError, match="rim"):
        check_not_collapsed(unit * 0.996, ball_radius=1.0)
    with pytest.raises(ValueError, match="rim_share"):
        check_not_collapsed(unit, rim_share=0.0)


def _ranking(x: torch.Tensor, ties: str) -> tuple[float, float]:
    res = reconstruction_ranking(
        x,
        torch.tensor([[0], [1]]),
        distance="euclidean",
        ties=ties,  # type: ignore[arg-type]
    )
    return res.mean_rank, res.map


@pytest.mark.parametrize("n", [2, 5, 12])
def test_tie_policies_when_everything_ties(n: int) -> None:
    # anchor 0, its one relation 1 and n - 1 negatives, all at the same point: n
    # candidates, all tied
    x = torch.zeros(n + 1, 2, dtype=torch.float64)
    assert _ranking(x, "optimistic") == (1.0, 1.0)
    assert _ranking(x, "pessimistic") == (float(n), 1.0 / n)
    rank, ap = _ranking(x, "average")
    assert rank == (n + 1) / 2 and ap == pytest.approx(2.0 / (n + 1))


def test_tie_policies_on_a_hand_made_ranking() -> None:
    # anchor at 0; its relation at distance 1; negatives at 0.5 (closer), 1 and 1
    # (tied) and 2 (farther): ranks 2 (optimistic), 4 (pessimistic), 3 (average)
    x = torch.tensor([[0.0], [1.0], [0.5], [-1.0], [1.0], [2.0]], dtype=torch.float64)
    assert _ranking(x, "optimistic") == (2.0, 0.5)
    assert _ranking(x, "pessimistic") == (4.0, 0.25)
    assert _ranking(x, "average") == (3.0, pytest.approx(1 / 3))


def test_evaluate_task_threads_ties_and_refuses_a_collapsed_embedding() -> None:
    task = build_task(DataConfig(name="karate"))
    distance = get_distance("poincare")
    z = 0.3 * torch.rand(task.num_nodes, 3, generator=torch.Generator().manual_seed(2))
    z[:10] = z[0]  # some ties between relations and negatives
    for ties in ("optimistic", "average", "pessimistic"):
        got = evaluate_task(task, FixedEmbedding(z), distance, ties=ties)
        want = filtered_ranking(
            z.double(), task.eval_edges, distance=distance, mode="undirected", ties=ties
        )
        assert got["train/map"] == want.map and got["train/mean_rank"] == want.mean_rank
    optimistic = evaluate_task(task, FixedEmbedding(z), distance)
    pessimistic = evaluate_task(task, FixedEmbedding(z), distance, ties="pessimistic")
    assert optimistic["train/map"] > pessimistic["train/map"]
    with pytest.raises(ValueError, match="ties"):
        evaluate_task(task, FixedEmbedding(z), distance, ties="random")  # type: ignore[arg-type]
    with pytest.raises(CollapsedEmbeddingError, match="origin"):
        evaluate_task(task, FixedEmbedding(torch.zeros(task.num_nodes, 3)), distance)


def test_huge_learning_rate_collapse_raises_instead_of_scoring_map_one(tmp_path: Path) -> None:
    config = _recipe(tmp_path, *COLLAPSING)
    with pytest.raises(CollapsedEmbeddingError) as info:
        train(config)
    message = str(info.value)
    assert "training stopped at step" in message and "collapsed to the origin" in message
    assert "all 34 rows" in message and "lower optim.lr" in message
    run_dir = tmp_path / "run"
    assert not (run_dir / "final_metrics.json").exists()
    evals = [r for r in _records(run_dir) if r["kind"] == "eval"]
    assert not any(r.get("train/map") == 1.0 for r in evals)  # no perfect score logged


def test_cli_train_of_a_collapsing_run_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from contrastkit.cli import main

    args = ["train", "--run-dir", str(tmp_path / "run"), "--no-progress", "--no-report"]
    for kv in COLLAPSING:
        args += ["--set", kv]
    code = main(args)
    out, err = capsys.readouterr()
    # a training failure, like NonFiniteError: exit 1 — never 0 with MAP 1.0
    assert code == 1
    assert "collapsed to the origin" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "train/map" not in out


def test_tie_policy_is_logged_with_each_evaluation(tmp_path: Path) -> None:
    config = _recipe(tmp_path, *KARATE_TABLE, "eval.every_epochs=2", "eval.ties=average")
    trainer = train(config)
    assert trainer.ties == "average" and trainer.ranks_relations
    evals = [r for r in _records(tmp_path / "run") if r["kind"] == "eval"]
    assert len(evals) == 2 and all(r["ties"] == "average" for r in evals)
    final = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    assert all(isinstance(v, float) for v in final.values())  # the policy is not a metric
    with pytest.raises(ConfigError, match=r"eval\.ties"):
        _recipe(tmp_path, *KARATE_TABLE, "eval.ties=best")


def test_tasks_without_rankings_log_no_tie_policy(tmp_path: Path) -> None:
    trainer = train(karate_mlp_config(tmp_path, "loop.epochs=2", "task.kind=nodes"))
    assert not trainer.ranks_relations
    evals = [r for r in _records(tmp_path / "run") if r["kind"] == "eval"]
    assert evals and all("ties" not in r for r in evals)


# ---- 2. non-finite steps ----------------------------------------------------------
def test_guard_warns_once_past_the_thresholds() -> None:
    guard = NonFiniteGuard(max_consecutive=5)
    nan, fine = torch.tensor(float("nan")), torch.tensor(1.0)
    steps = 0
    messages = []
    for i in range(300):
        steps += 1
        guard.check(nan if i in (3, 50) else fine)
        message = guard.warning(steps)
        if message is not None:
            messages.append((steps, message))
    # 2 of 100 steps is past 1 %: warned at step 100 (not before: too few steps), once
    assert [s for s, _ in messages] == [100]
    assert "2 of 100 training steps (2 %) were skipped" in messages[0][1]

    quiet = NonFiniteGuard(max_consecutive=5)
    for i in range(200):
        quiet.check(nan if i == 150 else fine)
        assert quiet.warning(i + 1) is None  # 1 of 200: below 1 %

    many = NonFiniteGuard(max_consecutive=5)
    for i in range(10):
        many.check(nan)
        many.check(fine)
        got = many.warning(2 * i + 2)
        assert (got is not None) == (i == 9)  # the 10th skipped step, however early
    restored = NonFiniteGuard(5)
    restored.load_state_dict(many.state_dict())
    assert restored.warned and restored.warning(1000) is None
    restored.load_state_dict({"skipped": 3, "consecutive": 0})  # an older checkpoint
    assert not restored.warned


def test_progress_bar_shows_skipped_steps() -> None:
    stream = io.StringIO()
    bar = ProgressBar(10, stream=stream)
    bar.update(1, loss=0.5)
    assert "skipped" not in bar.line()
    bar.update(1, skipped=3)
    assert "skipped=3" in bar.line() and "loss=0.5" in bar.line()
    bar.update(0, skipped=12345)
    assert "skipped=12345" in bar.line()  # a count in full, not 1.234e+04


def _nan_every(monkeypatch: pytest.MonkeyPatch, period: int) -> dict[str, int]:
    from contrastkit.objectives.entries_contrastive import InfoNCEObjective

    real = InfoNCEObjective.forward
    calls = {"n": 0}

    def sometimes_nan(self, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        loss = real(self, batch)
        return loss * float("nan") if calls["n"] % period == 0 else loss

    monkeypatch.setattr(InfoNCEObjective, "forward", sometimes_nan)
    return calls


def test_skipped_steps_are_counted_shown_and_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _nan_every(monkeypatch, 4)  # every 4th step: never 10 in a row
    config = karate_mlp_config(
        tmp_path, "loop.epochs=12", "loop.log_every=1", "loop.progress=true", "loop.batch_size=32"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = train(config)
    skipped = trainer.guard.skipped
    assert skipped == calls["n"] // 4 and skipped >= 10
    assert trainer.final_metrics["skipped_nonfinite_steps"] == float(skipped)
    final = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    assert final["skipped_nonfinite_steps"] == float(skipped)
    ours = [w for w in caught if "were skipped because" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    err = capsys.readouterr().err
    assert f"skipped={skipped}" in err  # the bar's last line
    # each logged record counts the steps skipped so far, its own step included
    records = [r for r in _records(tmp_path / "run") if r["kind"] == "train"]
    for r in records:
        assert r["skipped_nonfinite"] == int(r["step"]) // 4  # type: ignore[call-overload]


def test_a_finite_run_reports_zero_skipped_steps(tmp_path: Path) -> None:
    trainer = train(karate_mlp_config(tmp_path, "loop.epochs=2"))
    assert trainer.final_metrics["skipped_nonfinite_steps"] == 0.0


# ---- 3. stale temporaries ---------------------------------------------------------
def test_remove_stale_temporaries_keeps_live_writers_and_final_files(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getpid()
    names = {
        f".last.pt.tmp-{dead}": False,
        f".last.pt.tmp-{live}": True,  # this process may be writing it
        "last.pt": True,
        f"last.pt.tmp-{dead}": True,  # not our pattern (no leading dot)
        ".notes.tmp-abc": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [f".last.pt.tmp-{dead}"]
    assert {p.name for p in tmp_path.iterdir()} == {n for n, keep in names.items() if keep}
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_resume_and_restart_remove_stale_temporaries(tmp_path: Path) -> None:
    config = _recipe(tmp_path, *KARATE_TABLE, "loop.epochs=2")
    train(config)
    run_dir = tmp_path / "run"
    dead = _dead_pid()
    stale = [
        run_dir / "checkpoints" / f".last.pt.tmp-{dead}",
        run_dir / f".final_metrics.json.tmp-{dead}",
        run_dir / "snapshots" / f".embedding_end.npz.tmp-{dead}",
    ]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    more = resume_config(run_dir, ["loop.epochs=3"])
    train(more, resume=True)
    assert not any(p.exists() for p in stale)
    assert load_checkpoint(checkpoint_path(run_dir))["trainer"]["epoch"] == 3
    stale[0].write_bytes(b"half a checkpoint")
    train(config)  # a fresh start clears them too
    assert not stale[0].exists() and checkpoint_path(run_dir).is_file()


# ---- 4. checkpoints checked on load -----------------------------------------------
@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    train(_recipe(tmp_path, *KARATE_TABLE, "loop.epochs=2"))
    return tmp_path / "run"


def _edit_checkpoint(run_dir: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    ckpt = checkpoint_path(run_dir)
    state = load_checkpoint(ckpt)
    edit(state["trainer"])
    save_checkpoint(ckpt, state)
    return ckpt


def test_checkpoint_with_nan_embeddings_neither_resumes_nor_exports(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from contrastkit.cli import main

    def poison(trainer: dict[str, Any]) -> None:
        trainer["encoder"]["table.weight"][3, :2] = float("nan")
        trainer["epoch"] = 1  # not finished: resume would train on

    ckpt = _edit_checkpoint(finished_run, poison)
    with pytest.raises(CheckpointError, match=r"NaN/Inf values in encoder\.table\.weight") as e:
        train(resume_config(finished_run), resume=True)
    assert str(ckpt) in str(e.value) and "(2 of 170 entries)" in str(e.value)
    with pytest.raises(CheckpointError, match="NaN/Inf"):
        Trainer.restore(finished_run)
    out = tmp_path / "emb.npy"
    assert main(["export", str(finished_run), "--out", str(out)]) == 2
    assert main(["train", "--resume", str(finished_run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("NaN/Inf" in line for line in err)
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.name=mammals",
            r"encoder\.table\.weight has shape \[34, 5\], this run's config gives \[1182, 5\]",
        ),
        (
            "encoder.dim=3",
            r"encoder\.table\.weight has shape \[34, 5\], this run's config gives \[34, 3\]",
        ),
    ],
)
def test_checkpoint_of_another_shape_names_the_file_and_the_mismatch(
    finished_run: Path, override: str, message: str
) -> None:
    config = resume_config(finished_run, [override, "loop.epochs=3"])
    with pytest.raises(CheckpointError, match=message) as info:
        train(config, resume=True)
    assert str(checkpoint_path(finished_run)) in str(info.value)


def test_checkpoint_missing_entries_is_a_checkpoint_error(finished_run: Path) -> None:
    def drop(trainer: dict[str, Any]) -> None:
        del trainer["guard"], trainer["stopper"]

    _edit_checkpoint(finished_run, drop)
    with pytest.raises(CheckpointError, match="lacks the trainer entries guard, stopper"):
        Trainer.restore(finished_run)

    def drop_weight(trainer: dict[str, Any]) -> None:
        trainer["guard"], trainer["stopper"] = {"skipped": 0, "consecutive": 0}, {}
        del trainer["encoder"]["table.weight"]

    _edit_checkpoint(finished_run, drop_weight)
    with pytest.raises(CheckpointError, match=r"lacks encoder\.table\.weight"):
        Trainer.restore(finished_run)

    def nested(trainer: dict[str, Any]) -> None:
        trainer["encoder"]["table.weight"] = torch.zeros(34, 5)
        trainer["stopper"] = {"best": None}  # a nested entry missing: was a KeyError

    _edit_checkpoint(finished_run, nested)
    with pytest.raises(CheckpointError, match="lacks the entry 'best_step'"):
        Trainer.restore(finished_run)


def test_in_memory_state_round_trips_and_is_checked(tmp_path: Path) -> None:
    config = _recipe(tmp_path, *KARATE_TABLE, "loop.epochs=1")
    trainer = train(config)
    state = trainer.state_dict()
    again = Trainer(config)
    again.load_state_dict(state)
    assert torch.equal(again.encoder.embed_all(), trainer.encoder.embed_all())
    state["perm"] = torch.arange(5)
    with pytest.raises(CheckpointError, match=r"\(in memory\).*epoch permutation"):
        again.load_state_dict(state)


# ---- 5. resuming a finished run ---------------------------------------------------
def test_resume_of_a_finished_run_changes_nothing(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        name: (finished_run / name).read_bytes()
        for name in ("metrics.jsonl", "final_metrics.json", "config.yaml")
    }
    ckpt = checkpoint_path(finished_run).read_bytes()
    capsys.readouterr()

    def no_evaluation(self: Trainer) -> dict[str, float]:
        raise AssertionError("a finished run was evaluated again")

    monkeypatch.setattr(Trainer, "evaluate", no_evaluation)
    trainer = train(resume_config(finished_run), resume=True)
    err = capsys.readouterr().err.strip().splitlines()
    steps = trainer.step
    assert err == [
        f"contrastkit: run {str(finished_run)!r} is already finished at step {steps} "
        "(epoch 2); nothing to resume"
    ]
    assert trainer.final_metrics == json.loads(files["final_metrics.json"])
    assert {n: (finished_run / n).read_bytes() for n in files} == files
    assert checkpoint_path(finished_run).read_bytes() == ckpt
    # a kill after the last checkpoint kept final_metrics.json from being written
    (finished_run / "final_metrics.json").unlink()
    train(resume_config(finished_run), resume=True)
    assert (finished_run / "final_metrics.json").read_bytes() == files["final_metrics.json"]


def test_resume_of_a_run_stopped_early_is_finished(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def stopped(trainer: dict[str, Any]) -> None:
        trainer["epoch"], trainer["stopped_early"] = 1, True

    _edit_checkpoint(finished_run, stopped)
    capsys.readouterr()
    trainer = train(resume_config(finished_run), resume=True)
    assert trainer.epoch == 1
    assert "is already finished at step" in capsys.readouterr().err


def test_resumed_run_says_from_where_once(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = load_checkpoint(checkpoint_path(finished_run))["trainer"]["step"]
    capsys.readouterr()
    trainer = train(resume_config(finished_run, ["loop.epochs=3"]), resume=True)
    err = capsys.readouterr().err
    line = f"contrastkit: resuming {str(finished_run)!r} from step {before} (epoch 2)"
    assert err.count("resuming") == 1 and line in err.splitlines()
    assert trainer.epoch == 3 and trainer.step > before
