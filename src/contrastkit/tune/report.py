"""The report of a study: one self-contained HTML page, like a run's report.

Sections, each drawn by Optuna's matplotlib visualisations
(:mod:`optuna.visualization.matplotlib`): the optimisation history (every trial's
value and the best so far), the parameter importances (fANOVA, Optuna's default),
a parallel-coordinates plot of the searched keys against the value, and the
intermediate values (what the pruner saw). A section that cannot be drawn (too
few finished trials) is omitted with the reason. The summary tables count trials by
state and give the best trial's value, parameters and run directory; the study's
config (with its search block) is shown at the end.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contrastkit.report.html import Section, write_report
from contrastkit.report.style import DPI
from contrastkit.tune.study import StudySettings
from contrastkit.typed_config import dump_yaml

if TYPE_CHECKING:
    import optuna

#: legends longer than this (one entry per trial) are dropped
MAX_LEGEND = 12

#: (key, heading, description, optuna.visualization.matplotlib function name)
SECTIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "history",
        "Optimisation history",
        "Each finished trial's value in trial order, and the best value so far.",
        "plot_optimization_history",
    ),
    (
        "importances",
        "Parameter importances",
        "How much of the value's variance each searched key explains (fANOVA) over the "
        "completed trials.",
        "plot_param_importances",
    ),
    (
        "parallel",
        "Parallel coordinates",
        "Every completed trial as a line through its searched values, coloured by value.",
        "plot_parallel_coordinate",
    ),
    (
        "intermediate",
        "Intermediate values",
        "The monitored metric at each evaluation of each trial (what the pruner compared); "
        "short lines are pruned trials.",
        "plot_intermediate_values",
    ),
)


def _png(draw: Callable[[], Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        ax = draw()
    first = ax.flat[0] if hasattr(ax, "flat") else ax
    fig = first.figure
    legend = first.get_legend()
    if legend is not None and len(legend.get_texts()) > MAX_LEGEND:
        legend.remove()  # one entry per trial would squeeze the plot to nothing
    try:
        fig.set_size_inches(9, 5)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _summary(study: optuna.Study, settings: StudySettings) -> list[tuple[str, dict[str, object]]]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    table: dict[str, object] = {"trials": len(trials)}
    table.update({state.name.lower(): counts.get(state.name, 0) for state in TrialState})
    table.update(
        {"direction": study.direction.name.lower(), "sampler": settings.sampler}
        | {"pruner": settings.pruner, "seed": settings.seed}
    )
    tables: list[tuple[str, dict[str, object]]] = [("Trials", table)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        row: dict[str, object] = {"trial": best.number, "value": best.value}
        row.update(best.params)
        row["run_dir"] = str(best.user_attrs.get("run_dir", ""))
        tables.append((f"Best trial ({study.direction.name.lower()})", row))
    return tables


def build_study_report(study: optuna.Study, settings: StudySettings, out: str | Path) -> Path:
    """Write the study's report to ``out`` (an HTML file; a directory means
    ``out/study_report.html``), atomically; returns its path."""
    import optuna.visualization.matplotlib as vis

    path = Path(out)
    if path.is_dir():
        path = path / "study_report.html"
    sections: list[Section] = []
    notes: list[str] = []
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    reported = sum(bool(t.intermediate_values) for t in trials)
    need = {"history": (complete, 1), "importances": (complete, 2), "parallel": (complete, 1)}
    need["intermediate"] = (reported, 1)
    for key, title, description, function in SECTIONS:
        have, least = need[key]
        if have < least:
            what = "trial that reported" if key == "intermediate" else "completed trial"
            reason = f"needs at least {least} {what}{'s' if least > 1 else ''}, has {have}"
            sections.append(Section(key, title, description, note=reason))
            notes.append(f"{title}: omitted ({reason})")
            continue
        try:
            png = _png(lambda f=function: getattr(vis, f)(study))  # type: ignore[misc]
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            sections.append(Section(key, title, description, note=reason))
            notes.append(f"{title}: omitted ({reason})")
            continue
        sections.append(Section(key, title, description, png=png))
    return write_report(
        path,
        title=f"contrastkit study — {study.study_name}",
        subtitle=f"{settings.study_dir} · generated {datetime.now():%Y-%m-%d %H:%M}",
        sections=sections,
        tables=_summary(study, settings),
        config_text=dump_yaml(settings.config),
        notes=notes,
    )
