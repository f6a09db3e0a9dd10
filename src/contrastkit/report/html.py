"""Rendering the run report as one self-contained HTML page.

Everything the page shows is inside the file: PNGs as base64 ``data:`` URIs and
the style sheet inline, with no scripts and no external links, so the page can
be mailed, archived or opened offline. All text from the run is HTML-escaped.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from contrastkit.report.atomic import write_atomically

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 margin:0;color:#222;background:#f6f7f9;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
header{background:#24303f;color:#fff;padding:22px 28px}
header h1{margin:0 0 4px;font-size:1.6em}
header p{margin:0;color:#c9d3df;font-size:.95em;word-break:break-all}
nav{margin:18px 0;font-size:.95em}
nav a{margin-right:14px;color:#2b6cb0;text-decoration:none;white-space:nowrap}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{margin:0 0 6px;font-size:1.25em}
p.desc{margin:0 0 10px;color:#555}
p.omitted{color:#8a5a00;background:#fff8e6;border-left:4px solid #f0b429;
 padding:8px 12px;margin:6px 0}
img{max-width:100%;height:auto;display:block;margin:6px auto}
table{border-collapse:collapse;font-size:.93em;margin:4px 0}
th,td{padding:4px 12px;border-bottom:1px solid #eceef1;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,Menlo,monospace}
.tables{display:flex;flex-wrap:wrap;gap:32px}
details summary{cursor:pointer;font-weight:600}
pre{background:#f3f4f6;padding:12px;border-radius:6px;overflow:auto;font-size:.88em}
ul.notes li{margin:2px 0}
"""


@dataclass(frozen=True)
class Section:
    """One plot section: ``png`` bytes when drawn, else ``note`` saying why it was omitted."""

    key: str
    title: str
    description: str
    png: bytes | None = None
    note: str | None = None


def format_value(value: object) -> str:
    """Numbers to 4 significant digits (integers with thousands separators), rest as text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # Whole numbers and large rates read best as grouped integers (51,750 not 5.175e+04).
        if (
            math.isfinite(value)
            and abs(value) < 1e15
            and (value == int(value) or abs(value) >= 1e4)
        ):
            return f"{round(value):,}"
        return f"{value:.4g}"
    return str(value)


_NUM = ' class="num"'


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding ``png`` bytes in an ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def metrics_table(rows: Mapping[str, object], caption: str) -> str:
    """A two-column table of name → value; an empty mapping renders nothing."""
    if not rows:
        return ""
    body = "".join(
        f"<tr><th>{escape(str(k))}</th><td{_NUM if _is_number(v) else ''}>"
        f"{escape(format_value(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table><caption><b>{escape(caption)}</b></caption>{body}</table>"


def _section_html(section: Section) -> str:
    parts = [f'<section id="{escape(section.key)}">', f"<h2>{escape(section.title)}</h2>"]
    if section.description:
        parts.append(f'<p class="desc">{escape(section.description)}</p>')
    if section.png is not None:
        parts.append(f'<img src="{data_uri(section.png)}" alt="{escape(section.title)}">')
    else:
        parts.append(f'<p class="omitted">Omitted: {escape(section.note or "no data")}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render_report(
    title: str,
    subtitle: str,
    sections: Sequence[Section],
    tables: Sequence[tuple[str, Mapping[str, object]]] = (),
    config_text: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The full HTML page: header, contents, metric tables, plot sections, notes and config.

    ``tables`` are ``(caption, {name: value})`` pairs shown side by side;
    ``notes`` are listed under "Notes" (omitted sections, unreadable files).
    """
    toc = [("summary", "Summary"), *((s.key, s.title) for s in sections)]
    if notes:
        toc.append(("notes", "Notes"))
    toc.append(("config", "Configuration"))
    nav = "".join(f'<a href="#{escape(k)}">{escape(t)}</a>' for k, t in toc)
    rendered_tables = "".join(metrics_table(rows, caption) for caption, rows in tables)
    summary = rendered_tables or '<p class="omitted">Omitted: no metrics to summarise</p>'
    body = [
        f'<section id="summary"><h2>Summary</h2><div class="tables">{summary}</div></section>',
        *(_section_html(s) for s in sections),
    ]
    if notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in notes)
        body.append(f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>')
    if config_text is not None:
        config = (
            "<details><summary>config.yaml (resolved)</summary>"
            f"<pre>{escape(config_text)}</pre></details>"
        )
    else:
        config = '<p class="omitted">Omitted: config.yaml not found in the run directory</p>'
    body.append(f'<section id="config"><h2>Configuration</h2>{config}</section>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>\n<main>\n"
        f"<nav>{nav}</nav>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def write_report(
    path: str | Path,
    title: str,
    subtitle: str,
    sections: Sequence[Section],
    tables: Sequence[tuple[str, Mapping[str, object]]] = (),
    config_text: str | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """:func:`render_report`'s page written to ``path`` (UTF-8) atomically
    (:func:`~contrastkit.report.atomic.write_atomically`); returns ``path``."""
    page = render_report(title, subtitle, sections, tables, config_text, notes)
    return write_atomically(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
