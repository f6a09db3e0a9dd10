"""Figures of quantities logged over training steps (from ``metrics.jsonl``).

Each function takes a :class:`~contrastkit.report.metrics_log.MetricsLog` and
returns a :class:`matplotlib.figure.Figure`, or raises ``ValueError`` naming
the missing keys when the log holds nothing to draw.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from contrastkit.report.metrics_log import MetricsLog
from contrastkit.report.style import (
    ACCENT_COLOR,
    NEG_COLOR,
    PALETTE,
    POS_COLOR,
    TOTAL_COLOR,
    lighten,
    named_colors,
    new_figure,
    positive_log_axis,
    report_style,
    smooth,
)

# Series longer than this get a faint raw line plus a smoothed one.
_SMOOTH_ABOVE = 40


def plot_series(
    ax: Axes, steps: np.ndarray, values: np.ndarray, color: str, label: str | None
) -> None:
    """Draw one logged series: raw and smoothed (centred window ~ T/40) when long, else with
    markers."""
    if values.size > _SMOOTH_ABOVE:
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
        window = max(5, values.size // 40)
        ax.plot(steps, smooth(values, window), color=color, linewidth=1.8, label=label)
    else:
        ax.plot(steps, values, color=color, linewidth=1.6, marker="o", markersize=3, label=label)


def plot_loss_components(log: MetricsLog) -> Figure:
    """Total loss and each ``loss/<objective>`` over steps; log-scale y when all positive."""
    components = log.keys(prefix="loss/")
    keys = [k for k in ["loss", *components] if log.has(k)]
    if not keys:
        raise ValueError("no 'loss' or 'loss/<objective>' values in the training records")
    colors = named_colors(k.removeprefix("loss/") for k in components)
    with report_style():
        fig = new_figure(9.0, 4.4)
        ax = fig.add_subplot()
        arrays = []
        for key in keys:
            steps, values = log.series(key)
            arrays.append(values)
            name = key.removeprefix("loss/")
            color = TOTAL_COLOR if key == "loss" else colors[name]
            plot_series(ax, steps, values, color, "total" if key == "loss" else name)
        scale = "log scale" if positive_log_axis(ax, arrays) else "linear scale"
        ax.set_title("Loss components")
        ax.set_xlabel("step")
        ax.set_ylabel(f"loss ({scale})")
        ax.legend(loc="upper right", ncols=min(4, len(keys)))
    return fig


def _stage_bands(log: MetricsLog, axes: list[Axes]) -> list[Patch]:
    """Shade each curriculum stage across ``axes``; return legend handles, one per stage name."""
    segments = log.stage_segments()
    if not segments:
        return []
    names = list(dict.fromkeys(s.name for s in segments))
    colors = {n: lighten(c, 0.72) for n, c in zip(names, _cycle(len(names)), strict=True)}
    for i, seg in enumerate(segments):
        # A stage lasts until the next one starts, so bands tile the x-axis without gaps.
        end = segments[i + 1].start if i + 1 < len(segments) else seg.end
        for ax in axes:
            ax.axvspan(seg.start, end, color=colors[seg.name], alpha=0.55, linewidth=0, zorder=0)
    return [Patch(facecolor=colors[n], label=n) for n in names]


def _cycle(n: int) -> list[str]:
    # Offset into the palette so stage bands do not share hues with the objective lines.
    return [PALETTE[(i + 4) % len(PALETTE)] for i in range(n)]


def plot_schedules(log: MetricsLog) -> Figure:
    """Temperature, loss weights and learning rate over steps, curriculum stages as shaded bands.

    With no schedule values but a ``stage`` / ``stage_index`` column, the stage
    index is drawn as a step line with the stage names as y tick labels.
    """
    weight_keys = [k for k in log.keys(prefix="weight/") if log.has(k)]
    panels = [p for p in ("temperature", "weights", "lr") if p != "weights" and log.has(p)]
    if weight_keys:
        panels.insert(1 if "temperature" in panels else 0, "weights")
    segments = log.stage_segments()
    if not panels and not segments:
        raise ValueError(
            "no 'temperature', 'weight/<objective>', 'lr' or 'stage' values in the training records"
        )
    with report_style():
        n = max(1, len(panels))
        fig = new_figure(9.0, 1.0 + 2.3 * n)
        axes = list(fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0])
        if not panels:
            _stage_step_line(axes[0], log)
        colors = named_colors(k.removeprefix("weight/") for k in weight_keys)
        for ax, panel in zip(axes, panels, strict=False):
            if panel == "weights":
                for key in weight_keys:
                    name = key.removeprefix("weight/")
                    # Weights are schedules, not noisy measurements: no smoothing.
                    ax.plot(*log.series(key), color=colors[name], linewidth=1.8, label=name)
                ax.set_ylabel("loss weight")
                ax.legend(loc="best", ncols=min(4, len(weight_keys)), title="objective")
            elif panel == "temperature":
                steps, values = log.series("temperature")
                ax.plot(steps, values, color=ACCENT_COLOR, linewidth=1.8)
                ax.set_ylabel("temperature τ")
            else:
                steps, values = log.series("lr")
                ax.plot(steps, values, color=TOTAL_COLOR, linewidth=1.6)
                positive_log_axis(ax, [values], min_ratio=10.0)
                ax.set_ylabel("learning rate")
        handles = _stage_bands(log, axes) if panels else []
        if handles:
            fig.legend(
                handles=handles,
                loc="outside lower center",
                ncols=min(6, len(handles)),
                title="curriculum stage",
                fontsize=8.5,
                title_fontsize=9,
            )
        fig.suptitle("Schedules: temperature, loss weights and curriculum", fontweight="bold")
        axes[-1].set_xlabel("step")
    return fig


def _stage_step_line(ax: Axes, log: MetricsLog) -> None:
    segments = log.stage_segments()
    # One level per distinct stage, so a curriculum that revisits a stage reuses its row.
    names = list(dict.fromkeys(s.name for s in segments))
    steps = [x for s in segments for x in (s.start, s.end)]
    levels = [float(names.index(s.name)) for s in segments for _ in (0, 1)]
    ax.step(steps, levels, where="post", color=ACCENT_COLOR, linewidth=2)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylabel("curriculum stage")


def plot_gap_and_violation(log: MetricsLog) -> Figure:
    """Similarity gap (mean positive − mean negative) and margin-violation rate over steps."""
    keys = [k for k in ("sim_gap", "violation_rate") if log.has(k)]
    if not keys:
        raise ValueError("no 'sim_gap' or 'violation_rate' values in the training records")
    with report_style():
        fig = new_figure(4.6 * len(keys) + 0.4, 3.8)
        axes = fig.subplots(1, len(keys), squeeze=False)[0]
        for ax, key in zip(axes, keys, strict=True):
            steps, values = log.series(key)
            if key == "sim_gap":
                plot_series(ax, steps, values, POS_COLOR, None)
                ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
                ax.set_title("Similarity gap")
                ax.set_ylabel("mean sim(pos) − mean sim(neg)")
            else:
                plot_series(ax, steps, values, NEG_COLOR, None)
                ax.set_ylim(bottom=0.0, top=max(0.05, float(np.nanmax(values)) * 1.08))
                ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
                ax.set_title("Margin-violation rate")
                ax.set_ylabel("triplets violating the margin")
            ax.set_xlabel("step")
    return fig


def plot_eval_metrics(log: MetricsLog) -> Figure:
    """One small panel per evaluation metric over steps (``kind == "eval"`` records)."""
    keys = [k for k in log.keys(kind="eval") if log.has(k, kind="eval")]
    if not keys:
        raise ValueError("no evaluation records with numeric metrics")
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    colors = named_colors(keys)
    with report_style():
        fig = new_figure(3.5 * ncols + 0.5, 2.9 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
        for ax, key in zip(axes, keys, strict=False):
            steps, values = log.series(key, kind="eval")
            ax.plot(steps, values, color=colors[key], marker="o", markersize=3.5, linewidth=1.6)
            if key.endswith("rank"):
                positive_log_axis(ax, [values], min_ratio=10.0)
            last = values[np.isfinite(values)][-1]
            ax.set_title(f"{key}  (last {last:.4g})", fontsize=10.5)
            ax.set_xlabel("step")
        for ax in axes[len(keys) :]:
            ax.set_visible(False)
        fig.suptitle("Evaluation metrics", fontweight="bold")
    return fig
