"""Figures of similarity snapshots: positive vs negative histograms and mining difficulty."""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import rankdata

from contrastkit.report.run_files import SimilaritySnapshot
from contrastkit.report.style import NEG_COLOR, POS_COLOR, lighten, new_figure, report_style


def pair_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    r"""Probability that a random positive outscores a random negative (ties count 1/2).

    .. math::
        \mathrm{AUC} = \frac{R_+ - P(P+1)/2}{P\,Q}

    with :math:`R_+` the sum of the (average) ranks of the ``pos`` [P] scores among
    all :math:`P + Q` scores (Mann–Whitney). NaN when either array is empty.
    """
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    p, q = pos.size, neg.size
    return float((ranks[:p].sum() - p * (p + 1) / 2.0) / (p * q))


def _hist_panel(ax: Axes, snap: SimilaritySnapshot, bins: list[float], title: str) -> None:
    for values, color, name in (
        (snap.pos, POS_COLOR, "positive"),
        (snap.neg, NEG_COLOR, "negative"),
    ):
        if values.size == 0:
            continue
        ax.hist(values, bins=bins, density=True, color=color, alpha=0.35, linewidth=0)
        ax.hist(
            values,
            bins=bins,
            density=True,
            histtype="step",
            color=color,
            linewidth=1.6,
            label=f"{name} pairs (n={values.size:,})",
        )
        ax.axvline(float(values.mean()), color=color, linestyle="--", linewidth=1.2)
    lines = []
    if snap.pos.size and snap.neg.size:
        lines.append(f"gap = {snap.pos.mean() - snap.neg.mean():.3f}")
        lines.append(f"AUC = {pair_auc(snap.pos, snap.neg):.3f}")
    if lines:
        ax.text(
            0.02,
            0.97,
            "\n".join(lines),
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=9.5,
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": "white",
                "edgecolor": "#bbbbbb",
                "alpha": 0.9,
            },
        )
    ax.set_title(title)
    ax.set_xlabel("similarity (larger = closer)")


def plot_similarity_histograms(
    start: SimilaritySnapshot | None, end: SimilaritySnapshot | None
) -> Figure:
    """Overlaid positive and negative similarity histograms, one panel for the start and one for
    the end of training, on shared bins so the panels compare directly (dashed: means)."""
    panels = [
        (snap, title)
        for snap, title in ((start, "Start of training"), (end, "End of training"))
        if snap is not None and (snap.pos.size or snap.neg.size)
    ]
    if not panels:
        raise ValueError("no similarity scores in the start or end snapshot")
    everything = np.concatenate([np.concatenate([s.pos, s.neg]) for s, _ in panels])
    lo, hi = float(everything.min()), float(everything.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 51).tolist()
    with report_style():
        fig = new_figure(4.7 * len(panels) + 0.4, 4.0)
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, (snap, title) in zip(axes, panels, strict=False):
            _hist_panel(ax, snap, bins, title)
        axes[0].set_ylabel("density")
        # One legend for both panels, below them, so it never hides a histogram.
        handles: list[Artist] = []
        labels: list[str] = []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab.split(" (")[0] not in [x.split(" (")[0] for x in labels]:
                    handles.append(h)
                    labels.append(lab.split(" (")[0])
        fig.legend(handles, labels, loc="outside lower center", ncols=2)
        fig.suptitle("Positive vs negative pair similarities", fontweight="bold")
    return fig


def plot_difficulty_histogram(difficulty: np.ndarray) -> Figure:
    r"""Histogram of mining difficulty :math:`\mathrm{sim}(a,n) - \mathrm{sim}(a,p) + 1` [T].

    Values above 1 are triplets whose negative is closer than the positive; the
    share of those is printed and that region shaded.
    """
    values = np.asarray(difficulty, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("difficulty has no finite values")
    with report_style():
        fig = new_figure(7.5, 4.0)
        ax = fig.add_subplot()
        ax.hist(values, bins=50, color=lighten(NEG_COLOR, 0.25), edgecolor="white", linewidth=0.4)
        hi = max(float(values.max()), 1.0)
        harder = float((values > 1.0).mean())
        if hi > 1.0:
            ax.axvspan(
                1.0,
                hi,
                color=lighten(NEG_COLOR, 0.85),
                zorder=0,
                label=f"negative closer than positive: {harder:.1%}",
            )
        ax.axvline(1.0, color="black", linestyle="--", linewidth=1.1, label="sim(a,n) = sim(a,p)")
        ax.axvline(
            float(np.median(values)),
            color=POS_COLOR,
            linewidth=1.6,
            label=f"median {np.median(values):.3f}",
        )
        ax.set_title(f"Mining difficulty of mined triplets (n={values.size:,})")
        ax.set_xlabel("difficulty = sim(a,n) − sim(a,p) + 1")
        ax.set_ylabel("triplets")
        ax.legend(loc="upper left")
    return fig
