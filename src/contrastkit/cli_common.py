r"""What the ``contrastkit`` sub-commands share: their run-directory and output-path
checks (one-line :class:`~contrastkit.typed_config.ConfigError`\ s), held warnings, the
trained run and the metrics table."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from contrastkit.typed_config import ConfigError


@contextlib.contextmanager
def held_warnings() -> Iterator[None]:
    """Hold the warnings raised inside: shown after it when it succeeds, dropped when
    it raises (the CLI's error is then one line, not a library's warnings and a line)."""
    with warnings.catch_warnings(record=True) as caught:
        yield
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _run_dir(path: str) -> Path:
    run_dir = Path(path)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{path!r} is not a run directory (no config.yaml)")
    return run_dir


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a directory."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
        if parent.is_symlink():  # a dangling link: nothing can be made under it
            return parent
    return None


def check_directory_target(path: str | os.PathLike[str], name: str) -> Path:
    """``path`` can be (or is) a directory we write into: not a file, not under one.

    Raises:
        ConfigError: one line naming ``name`` (the flag or key) and the path."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{name} {str(target)!r} is a file, not a directory")
    above = _file_above(target)
    if above is not None:
        raise ConfigError(f"{name} {str(target)!r} lies under the file {str(above)!r}")
    return target


def check_file_target(
    path: str | os.PathLike[str], name: str, suffixes: tuple[str, ...] | None = None
) -> Path:
    """``path`` can be written as a file: a known suffix (``suffixes``), not a
    directory, not under a file.

    Raises:
        ConfigError: one line naming ``name`` (the flag) and the path."""
    target = Path(path)
    if suffixes is not None and target.suffix.lower() not in suffixes:
        listed = ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1]
        raise ConfigError(f"{name} must end in {listed}, got {str(path)!r}")
    if target.is_dir():
        raise ConfigError(f"{name} {str(target)!r} is a directory; name a file")
    above = _file_above(target)
    if above is not None:
        raise ConfigError(f"{name} {str(target)!r} lies under the file {str(above)!r}")
    return target


def _trained(run_dir: Path):  # type: ignore[no-untyped-def]
    """A trainer restored from the run's last checkpoint."""
    from contrastkit.train import Trainer

    return Trainer.restore(run_dir)


def print_metrics(metrics: dict[str, float], title: str = "final metrics") -> None:
    width = max((len(k) for k in metrics), default=6)
    print(title)
    print("-" * (width + 14))
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:>12.4f}")
