"""The R matrix of a continual run (``continual.json``) as a heatmap with its metrics.

Cell ``(i, j)``: the metric on task ``j`` after training task ``i``; cells above the
diagonal (tasks not trained yet) are drawn paler. The title carries ACC, BWT, FWT and
forgetting (:func:`~contrastkit.continual.metrics.forgetting_metrics`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from contrastkit.report.style import new_figure

CONTINUAL_FILE = "continual.json"


def read_continual(run_dir: str | Path) -> dict[str, Any] | None:
    """``run_dir/continual.json`` parsed, or None when the run is not a continual one."""
    path = Path(run_dir) / CONTINUAL_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "R" not in data:
        raise ValueError(f"{path.name} holds no R matrix")
    return data


def plot_r_matrix(data: dict[str, Any]) -> Figure:
    """Heatmap of ``data["R"]`` (NaN cells blank) titled with the forgetting metrics."""
    r = np.array([[np.nan if v is None else v for v in row] for row in data["R"]], dtype=float)
    t = r.shape[0]
    names = [str(n) for n in data.get("tasks", range(t))]
    fig = new_figure(1.6 + 0.9 * t, 1.2 + 0.8 * t)
    ax = fig.add_subplot(1, 1, 1)
    shown = np.ma.masked_invalid(r)
    image = ax.imshow(shown, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(np.nanmax(r))))
    for i in range(t):
        for j in range(t):
            if np.isfinite(r[i, j]):
                ax.text(j, i, f"{r[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white", alpha=1.0 if j <= i else 0.55)  # fmt: skip
    ax.set_xticks(range(t), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(t), [f"after {n}" for n in names], fontsize=8)
    ax.set_xlabel(f"evaluated task ({data.get('metric', 'metric')})")

    def fmt(key: str) -> str:
        v = data.get(key)
        return "n/a" if v is None else f"{v:+.3f}" if key != "acc" else f"{v:.3f}"

    ax.set_title(
        f"ACC {fmt('acc')}  BWT {fmt('bwt')}  FWT {fmt('fwt')}  forgetting {fmt('forgetting')}",
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig
