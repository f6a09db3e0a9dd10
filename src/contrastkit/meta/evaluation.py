"""Scoring few-shot learners on fixed episodes: accuracy per episode, mean and 95 %
interval.

Over ``E`` episodes with accuracies ``a_e`` the reported figure is

.. math::
    \\bar a \\pm 1.96\\, \\frac{s}{\\sqrt{E}}, \\qquad
    s^2 = \\frac{1}{E-1}\\sum_e (a_e - \\bar a)^2,

the normal-approximation interval of the few-shot literature (Finn et al. 2017, Snell
et al. 2017 report 95 % intervals over 600 test episodes). Three learners are scored
the same way: MAML (adapt ``steps`` times from the meta-learnt parameters, classify the
queries), the same network adapted from its random initialisation (``scratch``), and
ProtoNet (nearest prototype, nothing adapted).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor

from contrastkit._validation import check_float_tensor
from contrastkit.meta.episodes import Episodes
from contrastkit.meta.fewshot_data import FewShotData
from contrastkit.meta.maml import AdaptScope, HeadInit, LearningRate, episode_losses
from contrastkit.meta.network import EpisodeInput, FewShotNet, episode_input
from contrastkit.meta.protonet import ProtoDistance, protonet_logits

#: the two-sided 95 % quantile of the standard normal
Z95 = 1.959963984540054


def mean_ci95(accuracy: Tensor) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95 % interval of per-episode ``accuracy [E]``
    (half-width 0 for one episode)."""
    check_float_tensor("accuracy", accuracy, ndim=1)
    if accuracy.numel() == 0:
        raise ValueError("accuracy must hold at least one episode, got 0")
    mean = float(accuracy.mean())
    if accuracy.numel() == 1:
        return mean, 0.0
    return mean, Z95 * float(accuracy.std(unbiased=True)) / math.sqrt(accuracy.numel())


def episode_inputs(
    data: FewShotData, episodes: Episodes, hops: int
) -> Iterator[tuple[EpisodeInput, int]]:
    """Each episode's input (support items first, then queries) and its support size."""
    for i in range(len(episodes)):
        support, query = episodes.support[i].reshape(-1), episodes.query[i].reshape(-1)
        nodes = torch.cat([support, query])
        yield episode_input(data.x, data.edge_index, nodes, hops), support.numel()


def maml_accuracy(
    model: FewShotNet,
    params: Mapping[str, Tensor],
    data: FewShotData,
    episodes: Episodes,
    *,
    steps: int,
    lr: LearningRate,
    scope: AdaptScope = "all",
    head_init: HeadInit = "learned",
) -> Tensor:
    """Per-episode query accuracy ``[E]`` of ``model`` adapted from ``params`` by
    ``steps`` first-order steps of rate ``lr`` on each episode's support set (as in
    :func:`~contrastkit.meta.maml.episode_losses`, whose ``scope`` and ``head_init``
    these are; first order: the adapted values are MAML's, no meta-gradient is
    needed)."""
    ys, yq = episodes.support_labels(), episodes.query_labels()
    start = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    out = []
    for inp, ns in episode_inputs(data, episodes, model.hops):
        _, logits = episode_losses(
            model, start, inp, ns, ys, yq, steps=steps, lr=lr, first_order=True,
            scope=scope, head_init=head_init,
        )  # fmt: skip
        out.append((logits.detach().argmax(-1) == yq).float().mean())
    return torch.stack(out)


@torch.no_grad()
def protonet_accuracy(
    model: FewShotNet,
    data: FewShotData,
    episodes: Episodes,
    *,
    distance: ProtoDistance = "sqeuclidean",
    temperature: float = 0.1,
) -> Tensor:
    """Per-episode query accuracy ``[E]`` of the nearest prototype in ``model``'s
    embedding."""
    n, k = episodes.support.shape[1:]
    yq = episodes.query_labels()
    out = []
    for inp, ns in episode_inputs(data, episodes, model.hops):
        z = model.embed(inp.x, inp.edge_index, inp.nodes)
        logits = protonet_logits(z[:ns].reshape(n, k, -1), z[ns:], distance, temperature)
        out.append((logits.argmax(-1) == yq).float().mean())
    return torch.stack(out)
