"""Scatter plot of a 2-D projection of the final embedding, coloured by class."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle

from contrastkit.report.projection import Manifold, ProjectionMethod, project_embedding
from contrastkit.report.run_files import EmbeddingSnapshot
from contrastkit.report.style import class_colors, new_figure, report_style

#: Above this many classes a legend is unreadable; colours alone remain.
MAX_LEGEND_CLASSES = 30
_UNLABELLED = (0.6, 0.6, 0.6, 0.5)


def _marker_size(n: int) -> float:
    # Fewer points can be larger; thousands need small dots to stay legible.
    return float(np.clip(3000.0 / max(n, 1) ** 0.75, 2.5, 36.0))


def _class_name(c: int, names: list[str] | None) -> str:
    return names[c] if names is not None and 0 <= c < len(names) else str(c)


def _draw_classes(
    ax: Axes, xy: np.ndarray, labels: np.ndarray, names: list[str] | None, size: float
) -> None:
    classes = np.unique(labels[labels >= 0])
    palette = class_colors(len(classes))
    colors = np.tile(np.asarray(_UNLABELLED), (labels.size, 1))
    position = np.searchsorted(classes, labels)
    labelled = labels >= 0
    colors[labelled] = np.asarray(palette)[position[labelled]]
    ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=size, linewidths=0)
    if len(classes) > MAX_LEGEND_CLASSES:
        ax.text(
            0.01,
            0.01,
            f"{len(classes)} classes (legend omitted)",
            transform=ax.transAxes,
            fontsize=9,
            color="#555555",
        )
        return
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=6,
            markerfacecolor=palette[i],
            markeredgewidth=0,
            label=_class_name(int(c), names),
        )
        for i, c in enumerate(classes)
    ]
    if (~labelled).any():
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=6,
                markerfacecolor=_UNLABELLED,
                markeredgewidth=0,
                label="unlabelled",
            )
        )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="class",
        ncols=1 if len(handles) <= 15 else 2,
        fontsize=8.5,
        borderaxespad=0.0,
    )


def plot_embedding(
    snapshot: EmbeddingSnapshot, method: ProjectionMethod = "auto", max_points: int = 5000
) -> Figure:
    """A 2-D projection of ``snapshot.z`` [N, d] (see :func:`project_embedding`), coloured by
    ``labels`` with ``label_names`` in the legend (up to :data:`MAX_LEGEND_CLASSES`), or by
    the vector norm when unlabelled. Poincaré embeddings are drawn in the unit disk."""
    manifold: Manifold = "poincare" if snapshot.manifold == "poincare" else "euclidean"
    z = torch.from_numpy(np.asarray(snapshot.z, dtype=np.float64))
    proj = project_embedding(z, method=method, manifold=manifold, max_points=max_points)
    xy = proj.coords.numpy()
    rows = proj.index.numpy()
    size = _marker_size(len(rows))
    with report_style():
        fig = new_figure(8.4 if snapshot.labels is not None else 7.4, 6.2)
        ax = fig.add_subplot()
        if snapshot.labels is not None:
            _draw_classes(
                ax, xy, snapshot.labels[rows].astype(np.int64), snapshot.label_names, size
            )
        else:
            norms = np.linalg.norm(snapshot.z[rows], axis=1)
            points = ax.scatter(xy[:, 0], xy[:, 1], c=norms, cmap="viridis", s=size, linewidths=0)
            fig.colorbar(points, ax=ax, label="‖z‖", shrink=0.8)
        if proj.in_disk:
            ax.add_patch(Circle((0.0, 0.0), 1.0, fill=False, color="black", linewidth=1.0))
            ax.set_xlim(-1.05, 1.05)
            ax.set_ylim(-1.05, 1.05)
            ax.set_aspect("equal")
            # The disk is the frame: Cartesian grid and spines would suggest a Euclidean scale.
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        elif proj.method != "UMAP":
            ax.set_aspect("equal", adjustable="datalim")
        if proj.explained is not None:
            ax.set_xlabel(f"axis 1 ({proj.explained[0]:.0%} of variance)")
            ax.set_ylabel(f"axis 2 ({proj.explained[1]:.0%} of variance)")
        else:
            ax.set_xlabel("axis 1")
            ax.set_ylabel("axis 2")
        n_total = snapshot.z.shape[0]
        shown = (
            f"{len(rows):,} of {n_total:,} points" if len(rows) < n_total else f"{n_total:,} points"
        )
        ax.set_title(
            f"Final embedding, d = {snapshot.z.shape[1]} — {proj.method} ({shown})", fontsize=11.5
        )
    return fig
