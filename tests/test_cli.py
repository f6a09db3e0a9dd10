"""CLI: bad usage and bad input exit 2 with one line and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrastkit.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        ((), "required"),
        (("fly",), "invalid choice"),
        (("train", "--epochs", "ten"), "invalid int value"),
        (("train", "--set", "loop.epochz=3"), "did you mean loop.epochs"),
        (("train", "--set", "objectives.infonse=1"), "did you mean infonce"),
        (("train", "--dataset", "imagenet"), "data.name must be one of"),
        (("train", "--config", "/nonexistent.yaml"), "does not exist"),
        (("train", "--resume", "/nonexistent-run"), "cannot resume"),
        (("eval", "/nonexistent-run"), "not a run directory"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], pattern: str
) -> None:
    code, err = _run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert pattern in lines[0]
    assert "Traceback" not in err


def test_invalid_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("loop: [unclosed\n")
    code, err = _run(capsys, "train", "--config", str(bad))
    assert code == 2 and "not valid YAML" in err and len(err.strip().splitlines()) == 1


def test_truncated_checkpoint_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("loop:\n  epochs: 1\n")
    (run / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    code, err = _run(capsys, "eval", str(run))
    assert code == 2 and "unreadable" in err


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("train", "eval", "mine", "export", "report"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        assert "usage:" in capsys.readouterr().out


@pytest.fixture(scope="module")
def karate_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        [
            "train",
            "--dataset",
            "karate",
            "--epochs",
            "12",
            "--batch-size",
            "32",
            "--dim",
            "3",
            "--negatives",
            "8",
            "--run-dir",
            str(run),
            "--no-progress",
            "--no-report",
            "--set",
            "loop.burn_in_epochs=2",
            "--set",
            "eval.every_epochs=6",
        ]
    )
    assert code == 0
    return run


def test_train_prints_metrics_and_writes_the_run(
    karate_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("config.yaml", "metrics.jsonl", "final_metrics.json", "checkpoints/last.pt"):
        assert (karate_run / name).is_file(), name
    code = main(["eval", str(karate_run)])
    out = capsys.readouterr().out
    assert code == 0 and "map" in out and "mean_rank" in out


def test_export_mine_and_report(karate_run: Path, tmp_path: Path) -> None:
    import numpy as np

    assert main(["export", str(karate_run), "--out", str(tmp_path / "z.npy")]) == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (34, 3)
    assert (tmp_path / "z.ids.json").is_file()
    assert main(["export", str(karate_run), "--out", str(tmp_path / "z.npz")]) == 0
    assert np.load(tmp_path / "z.npz")["ids"].shape == (34,)
    assert main(["mine", str(karate_run), "--k", "4", "--out", str(tmp_path / "neg.npz")]) == 0
    mined = np.load(tmp_path / "neg.npz")
    assert mined["indices"].shape == (34, 4)
    own = np.arange(34)[:, None]
    assert not ((mined["indices"] == own) & mined["mask"]).any()  # never the node itself
    assert main(["report", str(karate_run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_export_parquet_and_eval_of_an_embedding_file(
    karate_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["export", str(karate_run), "--out", str(tmp_path / "z.parquet")]) == 0
    table = pq.read_table(tmp_path / "z.parquet")
    assert table.num_rows == 34 and table.column_names == ["id", "embedding"]
    assert main(["export", str(karate_run), "--out", str(tmp_path / "z.npz")]) == 0
    capsys.readouterr()
    code = main(["eval", "--embeddings", str(tmp_path / "z.npz"), "--dataset", "karate"])
    assert code == 0 and "map" in capsys.readouterr().out
    code, err = _run(
        capsys, "eval", "--embeddings", str(tmp_path / "z.npz"), "--dataset", "mammals"
    )
    assert code == 2 and "has 34 rows" in err
    code, err = _run(capsys, "eval")
    assert code == 2 and "either RUN_DIR or --embeddings" in err


def test_export_rejects_unknown_suffix(
    karate_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "export", str(karate_run), "--out", str(tmp_path / "z.csv"))
    assert code == 2 and "--out must end in" in err


def test_first_relation_partner() -> None:
    import torch

    from contrastkit.cli_mine import _first_relation_partner

    edges = torch.tensor([[0, 2, 0, 3], [1, 0, 3, 0]])
    # Either end: node 0's first relation is (0, 1); 1 and 3 appear only as the v side
    # (3 is the u of a later relation); 4 is in none.
    assert _first_relation_partner(edges, 5, directed=False).tolist() == [1, 0, 0, 0, -1]
    # Directed (child -> ancestor): only relations the node is the child of.
    assert _first_relation_partner(edges, 5, directed=True).tolist() == [1, -1, 0, 0, -1]


def test_mine_semi_hard_negatives_are_less_close_than_the_positive(
    karate_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import torch

    from contrastkit.cli_common import _trained
    from contrastkit.cli_mine import _first_relation_partner, _graph_task

    out = tmp_path / "semi.npz"
    assert (
        main(["mine", str(karate_run), "--k", "4", "--strategy", "semi_hard", "--out", str(out)])
        == 0
    )
    assert "semi_hard negatives for 34 nodes" in capsys.readouterr().out
    mined = np.load(out)
    assert mined["indices"].shape == (34, 4) and mined["fallback"].shape == (34,)
    trainer = _trained(karate_run)
    with torch.no_grad():
        z = trainer.encoder.embed_all().detach()
    task = _graph_task(trainer)
    partner = _first_relation_partner(task.train_edges, 34, task.hierarchical)
    assert bool((partner >= 0).all())  # every karate member has a friend
    s_p = trainer.distance.score_paired(z, z[partner]).numpy()
    idx, mask = mined["indices"], mined["mask"]
    own = np.arange(34)[:, None]
    assert not ((idx == own) & mask).any()
    assert not ((idx == partner.numpy()[:, None]) & mask).any()
    semi = ~mined["fallback"]
    assert semi.any()
    scores = mined["scores"]
    assert (scores[semi][mask[semi]] < np.repeat(s_p[semi], 4).reshape(-1, 4)[mask[semi]]).all()


def test_mine_category_draws_from_other_categories(karate_run: Path, tmp_path: Path) -> None:
    import numpy as np

    from contrastkit.data.karate import karate_club

    out = tmp_path / "cat.npz"
    assert (
        main(["mine", str(karate_run), "--k", "4", "--strategy", "category", "--out", str(out)])
        == 0
    )
    mined = np.load(out)
    y = karate_club().y.numpy()
    idx, mask = mined["indices"], mined["mask"]
    assert mask.any()
    assert (y[idx[mask]] != np.repeat(y, 4).reshape(-1, 4)[mask]).all()


def test_mine_category_without_node_labels_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edges = tmp_path / "g.tsv"
    edges.write_text("".join(f"{i}\t{(i + 1) % 8}\n" for i in range(8)))
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--dataset",
            "edgelist",
            "--set",
            f"data.path={edges}",
            "--epochs",
            "1",
            "--dim",
            "2",
            "--negatives",
            "2",
            "--run-dir",
            str(run),
            "--no-progress",
            "--no-report",
        ]
    )
    assert code == 0
    capsys.readouterr()
    code, err = _run(
        capsys, "mine", str(run), "--strategy", "category", "--out", str(tmp_path / "n.npz")
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "node labels" in err and "Traceback" not in err
    assert not (tmp_path / "n.npz").exists()


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ("sbm_fewshot_maml.yaml", "task.kind 'fewshot' (meta-learning)"),
        ("wordnet_stream_naive.yaml", "continual.enabled (a task stream learned online)"),
    ],
)
def test_fewshot_and_continual_refuse_torchrun(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    config: str,
    named: str,
) -> None:
    """Under torchrun (WORLD_SIZE 2) a few-shot or continual run is refused before
    anything is built: one line naming the kind, no run directory, no process group."""
    import torch.distributed as dist

    for name, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    path = Path(__file__).parents[1] / "configs" / config
    run_dir = tmp_path / "run"
    code, err = _run(capsys, "train", "--config", str(path), "--run-dir", str(run_dir))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert named in lines[0] and "WORLD_SIZE is 2" in lines[0]
    assert "run it without torchrun" in lines[0]
    assert not run_dir.exists() and not dist.is_initialized()
    # one process (WORLD_SIZE 1) is not refused: the check passes it through
    from contrastkit.cli_commands import single_process_only
    from contrastkit.train import load_config

    monkeypatch.setenv("WORLD_SIZE", "1")
    single_process_only(load_config(path, [f"output.run_dir={run_dir}"]))
