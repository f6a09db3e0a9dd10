"""How the softmax temperature shapes an InfoNCE distribution over candidates.

Following the GATE notebook's ``analyze_temperature_effects``: a fixed vector
of similarities (a positive followed by negatives) is pushed through
:math:`\\mathrm{softmax}(s / \\tau)` at several temperatures, showing how a small
:math:`\\tau` concentrates all mass on the best-scoring candidate while a large
one flattens the distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from contrastkit._validation import check_float_tensor, check_positive
from contrastkit.report.run_files import SimilaritySnapshot
from contrastkit.report.style import NEG_COLOR, POS_COLOR, new_figure, report_style

DEFAULT_TEMPERATURES = (0.01, 0.05, 0.1, 0.5, 1.0)
#: The notebook's example similarities: the positive first, then five negatives.
CANONICAL_SIMILARITIES = (0.9, 0.7, 0.5, 0.3, 0.1, -0.1)
# Quantiles of the negative scores used as example negatives: mostly the hard tail,
# which is where the temperature matters.
_NEG_QUANTILES = (0.999, 0.99, 0.95, 0.9, 0.75, 0.5, 0.25, 0.1, 0.01)


def softmax_over_temperatures(
    similarities: Tensor, temperatures: Sequence[float]
) -> tuple[Tensor, Tensor]:
    r"""Softmax of ``similarities`` [K] at each temperature, and its entropy.

    .. math::
        p_{t,k} = \frac{\exp(s_k/\tau_t)}{\sum_j \exp(s_j/\tau_t)}, \qquad
        H_t = -\sum_k p_{t,k} \log p_{t,k}

    The entropy uses ``log_softmax`` (never ``log(p + eps)``), so it stays exact
    when a tiny :math:`\tau` underflows most probabilities to zero.

    Returns ``(probs [T, K], entropy [T])``.

    >>> p, h = softmax_over_temperatures(torch.tensor([0.9, 0.1]), [0.1, 1.0])
    >>> p.shape, h.shape
    (torch.Size([2, 2]), torch.Size([2]))
    """
    s = check_float_tensor("similarities", similarities, ndim=1)
    if s.numel() == 0:
        raise ValueError("similarities must not be empty")
    taus = torch.tensor(
        [check_positive("temperatures", float(t)) for t in temperatures], dtype=s.dtype
    )
    logits = s.unsqueeze(0) / taus.unsqueeze(1)
    log_p = torch.log_softmax(logits, dim=1)
    p = log_p.exp()
    # p * log p -> 0 as p -> 0; torch.xlogy gives exactly 0 there instead of 0 * -inf.
    entropy = -(torch.xlogy(p, p)).sum(dim=1)
    return p, entropy


def example_similarities(end: SimilaritySnapshot | None) -> tuple[Tensor, str]:
    """The similarity vector to illustrate: from the end-of-run snapshot when it has
    both positives and negatives (median positive, then negatives at fixed quantiles,
    hardest first), else :data:`CANONICAL_SIMILARITIES`. Also returns a description."""
    if end is not None and end.pos.size and end.neg.size:
        pos = float(np.median(end.pos))
        negs = np.quantile(end.neg, _NEG_QUANTILES)
        values = torch.tensor([pos, *negs.tolist()], dtype=torch.float64)
        return values, "end-of-run median positive and negatives at quantiles 99.9 % … 1 %"
    return torch.tensor(CANONICAL_SIMILARITIES, dtype=torch.float64), "canonical example vector"


def plot_temperature_softmax(
    end: SimilaritySnapshot | None = None,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    run_temperature: float | None = None,
) -> Figure:
    """Left: the softmax distribution over the candidates at each temperature.
    Right: the positive's probability and the normalised entropy as functions of
    :math:`\\tau`, with the run's final temperature marked when given."""
    sims, source = example_similarities(end)
    probs, _ = softmax_over_temperatures(sims, temperatures)
    grid = torch.logspace(-2.5, 0.5, 200, dtype=torch.float64)
    grid_p, grid_h = softmax_over_temperatures(sims, grid.tolist())
    k = sims.numel()
    cmap = matplotlib.colormaps["viridis"]
    with report_style():
        fig = new_figure(11.0, 4.3)
        ax_dist, ax_tau = fig.subplots(1, 2, width_ratios=[1.35, 1.0])
        x = np.arange(k)
        for i, tau in enumerate(temperatures):
            color = cmap(0.9 * i / max(1, len(temperatures) - 1))
            ax_dist.plot(
                x,
                probs[i].numpy(),
                "o-",
                color=color,
                linewidth=1.6,
                markersize=4.5,
                label=f"τ = {tau:g}",
            )
        ax_dist.axvspan(-0.4, 0.4, color=POS_COLOR, alpha=0.12, linewidth=0)
        ticks = ["pos" if j == 0 else f"neg{j}" for j in range(k)]
        ax_dist.set_xticks(
            x, [f"{t}\n{v:.2f}" for t, v in zip(ticks, sims.tolist(), strict=True)], fontsize=8.5
        )
        ax_dist.set_xlim(-0.5, k - 0.5)
        ax_dist.set_ylim(-0.02, 1.02)
        ax_dist.set_xlabel("candidate and its similarity")
        ax_dist.set_ylabel("softmax probability")
        ax_dist.set_title("softmax(s / τ) over one positive and its negatives")
        ax_dist.legend(loc="upper right")

        ax_tau.semilogx(
            grid.numpy(), grid_p[:, 0].numpy(), color=POS_COLOR, linewidth=2, label="P(positive)"
        )
        ax_tau.semilogx(
            grid.numpy(),
            (grid_h / math.log(k)).numpy(),
            color=NEG_COLOR,
            linewidth=2,
            label="entropy / log K",
        )
        ax_tau.scatter(list(temperatures), probs[:, 0].numpy(), color=POS_COLOR, zorder=3, s=18)
        if run_temperature is not None and math.isfinite(run_temperature) and run_temperature > 0:
            ax_tau.axvline(
                run_temperature,
                color="black",
                linestyle="--",
                linewidth=1.1,
                label=f"run's final τ = {run_temperature:.3g}",
            )
        ax_tau.set_ylim(-0.02, 1.02)
        ax_tau.set_xlabel("temperature τ")
        ax_tau.set_title("Sharpness vs temperature")
        ax_tau.legend(loc="center right")
        fig.suptitle("Temperature effects on the softmax", fontweight="bold")
        fig.supxlabel(f"Example similarities: {source}.", fontsize=9, color="#555555")
    return fig
