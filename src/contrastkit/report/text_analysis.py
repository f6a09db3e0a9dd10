r"""Mining difficulty across re-minings: the files, their summary and the plot.

Each (re-)mining of a run writes the difficulty of its triplets,

.. math::
    \delta = s(a, n) - s(a, p)

(:attr:`Triplets.difficulty <contrastkit.mining.text_triplets.Triplets>`; a
:class:`~contrastkit.mining.result.MiningResult`'s ``difficulty - 1``), to
``run_dir/snapshots/difficulty_round_{i:03d}.npy``. As the encoder learns, the
same strategy finds easier negatives: the distribution of :math:`\delta` moves
left and the share of violated triplets (:math:`\delta > 0`) falls — the GATE
notebook's "difficulty histogram and its change across re-minings".

Example:
    >>> rounds = [(0, np.array([0.1, -0.2, 0.3])), (1, np.array([-0.3, -0.1, -0.4]))]
    >>> [round(r["violated_share"], 3) for r in difficulty_shift(rounds)]
    [0.667, 0.0]
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from contrastkit._validation import check_positive_int
from contrastkit.report.style import lighten, new_figure, report_style

ROUND_FILE = "difficulty_round_{:03d}.npy"
_ROUND_RE = re.compile(r"^difficulty_round_(\d+)\.npy$")


def save_difficulty_round(
    run_dir: str | Path, round_index: int, difficulty: Tensor | np.ndarray
) -> Path:
    """Write round ``round_index``'s difficulties ``[R]`` (float32) to
    ``run_dir/snapshots/difficulty_round_{i:03d}.npy``, through a temporary name."""
    from contrastkit.train.checkpoint import atomic_write_bytes

    check_positive_int("round_index", round_index, allow_zero=True)
    values = difficulty.detach().cpu().numpy() if isinstance(difficulty, Tensor) else difficulty
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    path = Path(run_dir) / "snapshots" / ROUND_FILE.format(round_index)
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_difficulty_rounds(
    run_dir: str | Path, problems: list[str] | None = None
) -> list[tuple[int, np.ndarray]]:
    """``[(round, difficulties [R])]`` sorted by round; unreadable files are skipped
    (and named in ``problems`` when given), non-finite values dropped."""
    folder = Path(run_dir) / "snapshots"
    if not folder.is_dir():
        return []
    out: list[tuple[int, np.ndarray]] = []
    for path in folder.iterdir():
        match = _ROUND_RE.match(path.name)
        if match is None:
            continue
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            if problems is not None:
                problems.append(f"{path.name}: unreadable ({exc})")
            continue
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        out.append((int(match.group(1)), values[np.isfinite(values)]))
    return sorted(out, key=lambda item: item[0])


def difficulty_shift(rounds: Sequence[tuple[int, np.ndarray]]) -> list[dict[str, float]]:
    """Per round: ``round``, ``count``, ``mean``, ``median``, ``q10``, ``q90`` and
    ``violated_share`` (share of :math:`\\delta > 0`); empty rounds give NaN statistics."""
    out = []
    for index, values in rounds:
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            stats = dict.fromkeys(("mean", "median", "q10", "q90", "violated_share"), np.nan)
        else:
            stats = {
                "mean": float(v.mean()),
                "median": float(np.median(v)),
                "q10": float(np.quantile(v, 0.1)),
                "q90": float(np.quantile(v, 0.9)),
                "violated_share": float((v > 0).mean()),
            }
        out.append({"round": float(index), "count": float(v.size), **stats})
    return out


def plot_difficulty_rounds(rounds: Sequence[tuple[int, np.ndarray]]) -> Figure:
    """Left: the difficulty histogram of every round on shared bins (densities, later
    rounds darker). Right: mean, median, 10 %–90 % band and violated share per round."""
    rounds = [(i, v) for i, v in rounds if np.asarray(v).size]
    if not rounds:
        raise ValueError("no mining round with finite difficulties")
    every = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in rounds])
    lo, hi = float(every.min()), float(every.max())
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 51)
    stats = difficulty_shift(rounds)
    with report_style():
        fig = new_figure(11.0, 4.0)
        ax, ax2 = fig.subplots(1, 2)
        n = len(rounds)
        for j, (index, values) in enumerate(rounds):
            shade = 0.8 - 0.7 * (j / max(n - 1, 1))
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step",
                linewidth=1.6,
                color=lighten("#1f4e79", shade),
                label=f"round {index} (n={values.size:,})",
            )
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1.0, label="s(a,n) = s(a,p)")
        ax.set_xlabel("difficulty = s(a,n) − s(a,p)")
        ax.set_ylabel("density")
        ax.set_title("Mined-triplet difficulty per mining round")
        ax.legend(loc="upper left", fontsize=8)
        x = np.array([s["round"] for s in stats])
        ax2.fill_between(
            x,
            [s["q10"] for s in stats],
            [s["q90"] for s in stats],
            color="#c6dbef",
            label="q10–q90",
        )
        ax2.plot(x, [s["mean"] for s in stats], marker="o", color="#1f4e79", label="mean")
        ax2.plot(x, [s["median"] for s in stats], marker="s", color="#6baed6", label="median")
        ax2.set_xlabel("mining round")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_ylabel("difficulty")
        share = ax2.twinx()
        share.plot(
            x, [s["violated_share"] for s in stats], marker="^", color="#b2182b", label="violated"
        )
        share.set_ylabel("violated share (difficulty > 0)")
        share.set_ylim(0.0, 1.0)
        handles = ax2.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
        ax2.legend(handles=handles, loc="upper right", fontsize=8)
        ax2.set_title("Difficulty shift across re-minings")
    return fig
