"""``continual.metric`` is the measure of the accuracy matrix: ``mrr`` the mean
reciprocal rank of a task's held-out relations, ``map`` their mean average precision
(both over the same filtered ranking).

(scripts/config_settings.py found no test referencing the setting.)"""

from __future__ import annotations

import torch

from contrastkit.continual.learner import ContinualLearner
from contrastkit.eval.reconstruction import filtered_ranking
from tests.continual.test_learner import config


def test_metric_names_the_measure_of_the_accuracy_matrix() -> None:
    learners = {m: ContinualLearner(config(f"continual.metric={m}")) for m in ("mrr", "map")}
    stream = learners["mrr"].stream
    rows = stream.rows_after(1)
    z = torch.randn(rows, 8, generator=torch.Generator().manual_seed(0))
    tasks = stream.tasks
    known = torch.cat([tasks[0].train_edges, tasks[1].train_edges, tasks[0].test_edges], 1)
    ranking = filtered_ranking(
        z,
        tasks[1].test_edges,
        known,
        distance=learners["mrr"].distance,
        mode="undirected" if stream.undirected else "directed",
        return_ranks=True,
    )
    assert ranking.ranks is not None
    mrr, map_ = learners["mrr"].task_metric(z, 1), learners["map"].task_metric(z, 1)
    assert mrr == float((1.0 / ranking.ranks).mean())
    assert map_ == ranking.map
    assert mrr != map_
