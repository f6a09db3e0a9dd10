r"""Several runs side by side: loss curves, evaluation curves, final metrics and the
stability of each metric across seeds.

``contrastkit report RUN_A RUN_B ...`` calls :func:`compare_runs`. Runs are grouped
by their resolved ``config.yaml`` with ``loop.seed`` (and the output location)
removed: the runs of one group differ only in their seed, and for every final
metric the group reports

.. math::
    \bar m = \frac{1}{n}\sum_{r} m_r, \qquad
    s = \sqrt{\frac{1}{n - 1}\sum_r (m_r - \bar m)^2}

(the sample standard deviation; ``n = 1`` gives ``s = 0``). The comparison of
losses (InfoNCE vs triplet vs MNR on the same data) is the overlay of each run's
``loss`` series.

Example:
    >>> mean, std, n = seed_stability([{"ndcg@10": 0.5}, {"ndcg@10": 0.7}])["ndcg@10"]
    >>> round(mean, 6), round(std, 6), n
    (0.6, 0.141421, 2)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure

from contrastkit.report.html import Section, write_report
from contrastkit.report.plots_training import plot_series
from contrastkit.report.run_files import RunFiles, read_run
from contrastkit.report.style import new_figure, report_style, save_png
from contrastkit.report.text_analysis import difficulty_shift, read_difficulty_rounds

#: config keys that do not change what a run computes
_IGNORED = (("loop", "seed"), ("output",))
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MAX_EVAL_PANELS = 6


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seed_stability(
    final_metrics: Sequence[Mapping[str, object]],
) -> dict[str, tuple[float, float, int]]:
    """``{metric: (mean, sample std, n)}`` over the numeric metrics every run reports
    (finite values only; std 0 for a single run)."""
    if not final_metrics:
        return {}
    keys = set.intersection(*({k for k, v in m.items() if _is_number(v)} for m in final_metrics))
    out: dict[str, tuple[float, float, int]] = {}
    for key in sorted(keys):
        values = np.array([float(m[key]) for m in final_metrics], dtype=np.float64)  # type: ignore[arg-type]
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        out[key] = (float(values.mean()), std, int(values.size))
    return out


def config_key(config_text: str | None) -> str:
    """A canonical JSON of a resolved config without the seed and output settings
    (runs with the same key differ only in those)."""
    if config_text is None:
        return "<no config.yaml>"
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return config_text
    if not isinstance(config, dict):
        return config_text
    for path in _IGNORED:
        node: Any = config
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return json.dumps(config, sort_keys=True, default=str)


def _labels(runs: Sequence[RunFiles]) -> list[str]:
    names = [r.run_dir.resolve().name for r in runs]
    if len(set(names)) == len(names):
        return names
    return [str(r.run_dir) for r in runs]


def _final(run: RunFiles) -> dict[str, object]:
    if run.final_metrics:
        return dict(run.final_metrics)
    if run.metrics.eval:
        return {k: v for k, v in run.metrics.eval[-1].items() if k not in ("kind", "step")}
    return {}


def _overlay(
    runs: Sequence[RunFiles], labels: Sequence[str], keys: Sequence[str], kind: str
) -> Figure:
    with report_style():
        cols = min(len(keys), 3)
        rows = (len(keys) + cols - 1) // cols
        fig = new_figure(4.2 * cols, 3.2 * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
        for ax, key in zip(axes, keys, strict=False):
            for j, (run, label) in enumerate(zip(runs, labels, strict=True)):
                steps, values = run.metrics.series(key, kind)
                if values.size:
                    plot_series(ax, steps, values, _PALETTE[j % len(_PALETTE)], label)
            ax.set_title(key)
            ax.set_xlabel("step")
        for ax in axes[len(keys) :]:
            ax.set_visible(False)
        axes[0].legend(fontsize=8)
    return fig


def _shared_keys(
    runs: Sequence[RunFiles], kind: str, wanted: Sequence[str] | None = None
) -> list[str]:
    sets = [set(r.metrics.keys(kind)) for r in runs]
    common = set.union(*sets) if sets else set()
    keys = [k for k in (wanted or sorted(common)) if k in common]
    return keys


def compare_runs(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Write an HTML page comparing ``run_dirs`` (at least two) to ``out`` (a file, or
    a directory for ``out/compare.html``); PNGs go to ``compare_plots/`` beside it.

    Sections: training loss of every run, the gap/violation curves, the evaluation
    curves, the mining difficulty per round; tables: each run's final metrics and,
    per group of runs differing only in their seed, mean ± std of every metric."""
    if len(run_dirs) < 2:
        raise ValueError(f"compare_runs needs at least two run directories, got {len(run_dirs)}")
    runs = [read_run(d) for d in run_dirs]
    labels = _labels(runs)
    html_path = Path(out)
    if html_path.is_dir():
        html_path = html_path / "compare.html"
    plots = html_path.parent / "compare_plots"
    sections: list[Section] = []
    notes: list[str] = []
    eval_keys = _shared_keys(runs, "eval")[:MAX_EVAL_PANELS]
    specs = [
        ("loss", "Training loss", "The total loss of every run over steps.", ["loss"], "train"),
        (
            "gap",
            "Similarity gap and violation rate",
            "Mean positive minus mean negative similarity, and the share of violated "
            "triplets, of every run.",
            _shared_keys(runs, "train", ["sim_gap", "violation_rate"]),
            "train",
        ),
        ("eval", "Evaluation metrics", "Periodic evaluations of every run.", eval_keys, "eval"),
    ]
    for key, title, description, keys, kind in specs:
        if not keys or not any(r.metrics.has(k, kind) for r in runs for k in keys):
            sections.append(Section(key, title, description, note="no run logged these values"))
            notes.append(f"{title}: omitted (no run logged {', '.join(keys) or 'them'})")
            continue
        png = save_png(_overlay(runs, labels, keys, kind), plots / f"{key}.png")
        sections.append(Section(key, title, description, png=png.read_bytes()))
    tables: list[tuple[str, Mapping[str, object]]] = []
    for run, label in zip(runs, labels, strict=True):
        final = _final(run)
        if final:
            tables.append((f"Final metrics — {label}", final))
        rounds = read_difficulty_rounds(run.run_dir, notes)
        if rounds:
            shift = difficulty_shift(rounds)
            tables.append(
                (
                    f"Mining difficulty per round — {label}",
                    {f"round {int(s['round'])} mean / violated": f"{s['mean']:.3f} / "
                     f"{s['violated_share']:.1%}" for s in shift},
                )
            )  # fmt: skip
        notes.extend(f"{label}: {p}" for p in run.problems)
    groups: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(config_key(run.config_text), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        stats = seed_stability([_final(runs[i]) for i in members])
        names = ", ".join(labels[i] for i in members)
        tables.append(
            (
                f"Stability across seeds ({names})",
                {k: f"{m:.4g} ± {s:.2g} (n={n})" for k, (m, s, n) in stats.items()},
            )
        )
    if all(len(m) < 2 for m in groups.values()):
        notes.append("stability across seeds: no two runs differ only in loop.seed")
    return write_report(
        html_path,
        title=f"contrastkit comparison — {len(runs)} runs",
        subtitle=f"{', '.join(labels)} · generated {datetime.now():%Y-%m-%d %H:%M}",
        sections=sections,
        tables=tables,
        config_text="\n".join(
            f"# --- {label} ---\n{run.config_text or '(no config.yaml)'}"
            for run, label in zip(runs, labels, strict=True)
        ),
        notes=notes,
    )
