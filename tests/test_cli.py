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
