"""Report files are written atomically: the old file or the new one, no temporary left."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrastkit.report.atomic import write_atomically
from contrastkit.report.html import Section, write_report


def test_a_write_lands_under_the_name_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "page.html"
    assert write_atomically(path, lambda tmp: tmp.write_text("new")) == path
    assert path.read_text() == "new"
    assert [p.name for p in path.parent.iterdir()] == ["page.html"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("old")

    def half(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_write_report_writes_the_rendered_page(tmp_path: Path) -> None:
    section = Section("loss", "Loss", "The loss.", note="no data")
    path = write_report(tmp_path / "r.html", "T", "sub", [section], notes=["a note"])
    page = path.read_text(encoding="utf-8")
    assert "<h1>T</h1><p>sub</p>" in page
    assert "Omitted: no data" in page and "a note" in page
