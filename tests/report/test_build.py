"""build_report end to end: a full synthetic run, partial runs, bad input."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from contrastkit.report.build import SECTIONS, build_report
from tests.report.synthetic_run import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    """Every src/href attribute, <img> source and <h2> text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.images: list[str] = []
        self.headings: list[str] = []
        self.tags: set[str] = set()
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data"):
                self.urls.append(value or "")
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data.strip())


def _parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _assert_self_contained(page: _Collector, text: str) -> None:
    for url in page.urls:
        assert url.startswith("data:") or url.startswith("#"), url
    assert not ({"script", "link", "iframe", "object", "embed"} & page.tags)
    assert not re.search(r"url\(\s*['\"]?(?!data:)", text)
    assert "@import" not in text


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = write_run(tmp_path_factory.mktemp("full") / "run", steps=300)
    return build_report(run_dir)


def test_full_report_page(full_report: Path) -> None:
    assert full_report == full_report.parent / "report.html" and full_report.is_file()
    text = full_report.read_text(encoding="utf-8")
    page = _parse(full_report)
    _assert_self_contained(page, text)
    for _, title, _ in SECTIONS:
        assert title in page.headings
    assert {"Summary", "Configuration"} <= set(page.headings)
    assert "Notes" not in page.headings and "Omitted" not in text
    assert len(page.images) == len(SECTIONS) == 9
    assert "<details>" in text and "objectives:" in text
    # The config holds a <script> tag in a comment: it must arrive escaped.
    assert "&lt;script&gt;" in text
    assert "Final metrics (final_metrics.json)" in text and "0.83" in text


def test_full_report_pngs(full_report: Path) -> None:
    page = _parse(full_report)
    plots = full_report.parent / "plots"
    assert sorted(p.name for p in plots.iterdir()) == sorted(f"{k}.png" for k, _, _ in SECTIONS)
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in page.images]
    for (key, _, _), png in zip(SECTIONS, embedded, strict=True):
        assert png[:8] == PNG_MAGIC and len(png) > 10_000, key
        assert (plots / f"{key}.png").read_bytes() == png
    # No temporary files are left behind by the write-then-rename.
    leftovers = [p.name for p in full_report.parent.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_metrics_only_run_lists_omitted_sections(tmp_path: Path) -> None:
    run_dir = tmp_path / "only"
    run_dir.mkdir()
    records = [
        {"kind": "train", "step": s, "loss": 2.0 / s, "temperature": 0.1, "sim_gap": 0.01 * s}
        for s in range(1, 81)
    ]
    records += [{"kind": "eval", "step": s, "map": 0.01 * s} for s in (40, 80)]
    # A killed run leaves a half-written last line.
    text = "\n".join(json.dumps(r) for r in records) + '\n{"kind": "train", "step": 81, "loss": 0.'
    (run_dir / "metrics.jsonl").write_text(text)
    with pytest.warns(RuntimeWarning, match="truncated"):
        out = build_report(run_dir)
    text = out.read_text(encoding="utf-8")
    page = _parse(out)
    _assert_self_contained(page, text)
    # Loss, schedules, gap, temperature (canonical vector) and eval remain.
    assert len(page.images) == 5
    assert "Notes" in page.headings
    for title in ("Similarity distributions", "Mining difficulty", "Embedding projection"):
        assert f"{title}: omitted" in text
    assert "similarities_start.npz" in text and "difficulty.npy" in text
    assert "embedding_end.npz" in text and "config.yaml not found" in text
    assert "1 unreadable line(s) skipped (the last line was truncated)" in text
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "eval.png",
        "gap.png",
        "loss.png",
        "schedules.png",
        "temperature.png",
    ]


def test_minimal_log_and_custom_out(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "epoch": 0}\n')
    plots = tmp_path / "elsewhere" / "plots"
    plots.mkdir(parents=True)
    (plots / "loss.png").write_bytes(b"stale")  # from an earlier build: must not survive
    out = build_report(run_dir, tmp_path / "elsewhere")
    assert out == tmp_path / "elsewhere" / "report.html"
    page = _parse(out)
    assert len(page.images) == 1  # only the canonical temperature figure
    assert not (plots / "loss.png").exists() and (plots / "temperature.png").is_file()
    assert not (run_dir / "report.html").exists()


def test_corrupt_snapshot_is_a_note_not_a_crash(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "snapshots").mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 1.0}\n')
    (run_dir / "snapshots" / "embedding_end.npz").write_bytes(b"not a zip")
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert "embedding_end.npz: unreadable" in text
    assert "Embedding projection: omitted" in text


def test_missing_inputs_raise_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-run"):
        build_report(tmp_path / "no-such-run")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "metrics.jsonl"))):
        build_report(tmp_path)
    with pytest.raises(ValueError, match="projection"):
        build_report(tmp_path, projection="tsne")  # type: ignore[arg-type]
