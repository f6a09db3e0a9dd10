"""Shared look of the report figures: colours, fonts, figure creation and PNG writing.

Figures are built with :class:`matplotlib.figure.Figure` directly rather than
through ``pyplot``: nothing is registered in pyplot's global figure list (no
leaks in long sessions), and ``savefig`` renders PNGs with the Agg canvas
whatever backend is active, so no display is needed and importing this module
does not switch a notebook user's backend with ``matplotlib.use``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from contrastkit.report.atomic import write_atomically

DPI = 110

#: Positive pairs are always teal, negatives always orange, in every figure.
POS_COLOR = "#1b9e77"
NEG_COLOR = "#d95f02"
TOTAL_COLOR = "#222222"
ACCENT_COLOR = "#7570b3"

# A colour-blind-friendly qualitative cycle (Okabe–Ito; its yellow, too faint for thin lines
# on white, is swapped for brown).
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#8c564b",
    "#999999",
)

RC: dict[str, Any] = {
    "font.size": 10.5,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


@contextmanager
def report_style() -> Iterator[None]:
    """Apply the report's rcParams for the duration of a plotting call."""
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


def new_figure(width: float, height: float) -> Figure:
    """A white figure with constrained layout (tight, overlap-free spacing)."""
    return Figure(figsize=(width, height), layout="constrained")


def named_colors(names: Iterable[str]) -> dict[str, str]:
    """A stable colour per name: sorted order into :data:`PALETTE`, so that one
    objective gets the same colour in the loss and the weight plot."""
    ordered = sorted(set(names))
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(ordered)}


def class_colors(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinguishable RGBA colours: tab10 / tab20 when they suffice, else a sampled turbo."""
    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def lighten(color: str, amount: float = 0.75) -> tuple[float, float, float]:
    """Blend ``color`` towards white by ``amount`` in [0, 1] (for background bands)."""
    r, g, b = mcolors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    r"""Centred moving average over ``window`` points ignoring NaN, shape [T] -> [T].

    .. math:: m_t = \frac{\sum_{|i - t| \le w/2} v_i [v_i \text{ finite}]}
                          {\sum_{|i - t| \le w/2} [v_i \text{ finite}]}

    Centred (unlike an EMA) so the smoothed curve does not lag behind the raw one;
    near the ends the window shrinks to the points available. NaN where a window
    holds no finite value.
    """
    if values.size == 0:
        return np.empty(0)
    finite = np.isfinite(values)
    # np.convolve(mode="same") returns max(T, len(kernel)) points: keep the kernel <= T, odd.
    width = max(1, min(window | 1, values.size - (1 - values.size % 2)))
    kernel = np.ones(width)
    total = np.convolve(np.where(finite, values, 0.0), kernel, mode="same")
    count = np.convolve(finite.astype(np.float64), kernel, mode="same")
    out = np.full(values.shape, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def positive_log_axis(ax: Axes, values: Iterable[np.ndarray], min_ratio: float = 1.0) -> bool:
    """Use a log y-axis on ``ax`` when all finite values are > 0 and max/min >= ``min_ratio``."""
    finite = [v[np.isfinite(v)] for v in values]
    joined = np.concatenate(finite) if finite else np.empty(0)
    if joined.size == 0 or joined.min() <= 0:
        return False
    if joined.max() / joined.min() < min_ratio:
        return False
    ax.set_yscale("log")
    return True


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at :data:`DPI` to a temporary name, then rename into place."""
    return write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
