"""Turning a run directory into ``plots/*.png`` and a self-contained ``report.html``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from contrastkit._validation import check_choice, check_positive_int
from contrastkit.report.html import Section, write_report
from contrastkit.report.plots_continual import CONTINUAL_FILE, plot_r_matrix, read_continual
from contrastkit.report.plots_embedding import plot_embedding
from contrastkit.report.plots_similarity import (
    plot_difficulty_histogram,
    plot_similarity_histograms,
)
from contrastkit.report.plots_temperature import plot_temperature_softmax
from contrastkit.report.plots_training import (
    plot_eval_metrics,
    plot_gap_and_violation,
    plot_loss_components,
    plot_schedules,
)
from contrastkit.report.projection import ProjectionMethod
from contrastkit.report.run_files import RunFiles, read_run
from contrastkit.report.style import save_png
from contrastkit.report.text_analysis import plot_difficulty_rounds, read_difficulty_rounds

#: (key, heading, one-line description) of each plot section, in page order.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("loss", "Loss components", "Total loss and each objective's loss over training steps."),
    (
        "schedules",
        "Schedules",
        "Temperature, loss weights and learning rate over steps; "
        "shaded bands are curriculum stages.",
    ),
    (
        "similarities",
        "Similarity distributions",
        "Similarities of positive and negative pairs "
        "at the start and the end of training; dashed lines are the means.",
    ),
    (
        "gap",
        "Similarity gap and violation rate",
        "Mean positive minus mean negative similarity, "
        "and the share of triplets violating the margin, over steps.",
    ),
    (
        "difficulty",
        "Mining difficulty",
        "Difficulty sim(a,n) − sim(a,p) + 1 of the mined "
        "triplets; above 1 the negative is closer than the positive.",
    ),
    (
        "difficulty_rounds",
        "Mining difficulty across re-minings",
        "Difficulty sim(a,n) − sim(a,p) of the triplets of each (re-)mining round, and "
        "how its mean, quantiles and violated share move as the encoder learns.",
    ),
    (
        "embedding",
        "Embedding projection",
        "A 2-D projection of the final embedding, coloured by class.",
    ),
    (
        "temperature",
        "Temperature and softmax",
        "The softmax over one positive and its negatives "
        "at several temperatures (after the GATE notebook's temperature analysis).",
    ),
    ("eval", "Evaluation metrics", "Periodic evaluation metrics over training steps."),
)

#: the section of a continual run only (``continual.json``); other runs leave it out
CONTINUAL_SECTION = (
    "continual",
    "Forgetting (R matrix)",
    "Metric on task j (columns) after training task i (rows) of a continual run, "
    "with average accuracy, backward/forward transfer and forgetting.",
)


class _MissingInput(Exception):
    """An optional input of a section is absent (the section is omitted, not an error)."""


def _last_finite(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None


def _plotters(
    run: RunFiles, projection: ProjectionMethod, max_points: int
) -> dict[str, Callable[[], Figure]]:
    """Zero-argument plot callbacks per section key; a missing input raises ``_MissingInput``."""
    log = run.metrics

    def need(value: object, what: str) -> None:
        if value is None:
            raise _MissingInput(what)

    def similarities() -> Figure:
        if run.similarities_start is None and run.similarities_end is None:
            raise _MissingInput(
                "snapshots/similarities_start.npz and similarities_end.npz not found"
            )
        return plot_similarity_histograms(run.similarities_start, run.similarities_end)

    def difficulty() -> Figure:
        need(run.difficulty, "snapshots/difficulty.npy not found")
        return plot_difficulty_histogram(run.difficulty)  # type: ignore[arg-type]

    def difficulty_rounds() -> Figure:
        rounds = read_difficulty_rounds(run.run_dir, run.problems)
        if not rounds:
            raise _MissingInput("no snapshots/difficulty_round_*.npy (no text re-mining)")
        return plot_difficulty_rounds(rounds)

    def embedding() -> Figure:
        need(run.embedding, "snapshots/embedding_end.npz not found")
        return plot_embedding(run.embedding, projection, max_points)  # type: ignore[arg-type]

    def temperature() -> Figure:
        tau = _last_finite(log.series("temperature")[1])
        return plot_temperature_softmax(run.similarities_end, run_temperature=tau)

    def continual() -> Figure:
        data = read_continual(run.run_dir)
        need(data, f"{CONTINUAL_FILE} not found")
        return plot_r_matrix(data)  # type: ignore[arg-type]

    return {
        "continual": continual,
        "loss": lambda: plot_loss_components(log),
        "schedules": lambda: plot_schedules(log),
        "similarities": similarities,
        "gap": lambda: plot_gap_and_violation(log),
        "difficulty": difficulty,
        "difficulty_rounds": difficulty_rounds,
        "embedding": embedding,
        "temperature": temperature,
        "eval": lambda: plot_eval_metrics(log),
    }


def _summary(run: RunFiles) -> list[tuple[str, dict[str, object]]]:
    log = run.metrics
    info: dict[str, object] = {}
    if log.train:
        last = log.train[-1]
        info["training records"] = len(log.train)
        info["last step"] = last["step"]
        for key, label in (("epoch", "last epoch"), ("stage", "final stage")):
            if key in last:
                info[label] = last[key]
        for key, label in (
            ("loss", "final loss"),
            ("temperature", "final temperature"),
            ("skipped_nonfinite", "skipped non-finite steps (last logged)"),
        ):
            value = _last_finite(log.series(key)[1])
            if value is not None:
                info[label] = value
        speed = log.series("examples_per_s")[1]
        if speed.size == 0:  # runs logged before the key was renamed
            speed = log.series("relations_per_s")[1]
        if np.isfinite(speed).any():
            info["median examples / s"] = float(np.nanmedian(speed))
    info["evaluation records"] = len(log.eval)
    if log.bad_lines:
        info["unreadable metrics lines skipped"] = log.bad_lines
    tables: list[tuple[str, dict[str, object]]] = [("Run", info)]
    if run.final_metrics:
        tables.append(("Final metrics (final_metrics.json)", dict(run.final_metrics)))
    elif log.eval:
        last_eval = {k: v for k, v in log.eval[-1].items() if k != "kind"}
        tables.append((f"Last evaluation (step {last_eval.get('step')})", last_eval))
    return tables


def build_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    projection: ProjectionMethod = "auto",
    max_points: int = 5000,
) -> Path:
    """Write the run report and return the path of the HTML page.

    ``out`` is the HTML file to write (default ``run_dir/report.html``; an existing
    directory means ``out/report.html``); PNGs go to ``plots/`` beside it. Every
    input except ``metrics.jsonl`` is optional: a section without data is omitted
    with a note on the page. Files are written to temporary names and renamed.
    ``projection`` and ``max_points`` are passed to
    :func:`~contrastkit.report.projection.project_embedding`.

    Raises ``FileNotFoundError`` naming the path for a missing ``run_dir`` or
    ``metrics.jsonl``; ``ValueError`` when ``run_dir`` is not a directory.

    >>> build_report("runs/exp1")  # doctest: +SKIP
    PosixPath('runs/exp1/report.html')
    """
    projection = check_choice("projection", projection, ("auto", "pca", "umap"))
    max_points = check_positive_int("max_points", max_points)
    run = read_run(run_dir)
    html_path = Path(out) if out is not None else run.run_dir / "report.html"
    if html_path.is_dir():
        html_path = html_path / "report.html"
    plots_dir = html_path.parent / "plots"
    plotters = _plotters(run, projection, max_points)
    sections: list[Section] = []
    notes: list[str] = []
    continual = (run.run_dir / CONTINUAL_FILE).is_file()
    for key, title, description in (CONTINUAL_SECTION,) * continual + SECTIONS:
        png_path = plots_dir / f"{key}.png"
        try:
            fig = plotters[key]()
        except (_MissingInput, ValueError) as exc:
            reason = exc.args[0] if exc.args else type(exc).__name__
            sections.append(Section(key, title, description, note=str(reason)))
            notes.append(f"{title}: omitted ({reason})")
            png_path.unlink(missing_ok=True)  # a stale plot from an earlier build would mislead
            continue
        save_png(fig, png_path)
        sections.append(Section(key, title, description, png=png_path.read_bytes()))
    notes.extend(run.problems)
    if run.metrics.bad_lines:
        truncated = " (the last line was truncated)" if run.metrics.last_line_truncated else ""
        notes.append(
            f"metrics.jsonl: {run.metrics.bad_lines} unreadable line(s) skipped{truncated}"
        )
    if run.metrics.merged_records:
        notes.append(
            f"metrics.jsonl: {run.metrics.merged_records} record(s) repeated a step "
            "(e.g. after --resume) and were merged, later values winning"
        )
    return write_report(
        html_path,
        title=f"contrastkit report — {run.run_dir.resolve().name}",
        subtitle=f"{run.run_dir.resolve()} · generated {datetime.now():%Y-%m-%d %H:%M}",
        sections=sections,
        tables=_summary(run),
        config_text=run.config_text,
        notes=notes,
    )
