"""Hyper-parameter search over a train config's ``search:`` block, on Optuna.

* :mod:`.space` — the search block: its entries, checked against the config;
* :mod:`.storage` — SQLite / journal file / PostgreSQL storages, stale trials;
* :mod:`.study` — a study's settings, created once, loaded by every worker;
* :mod:`.objective` — one trial: config, in-process training, reports, pruning;
* :mod:`.worker` — a worker process, and launching several;
* :mod:`.best`, :mod:`.report` — the best trial's config, the study's HTML report;
* :mod:`.cli` — ``contrastkit tune``.

Only :mod:`.space` is imported by the train config; Optuna is imported where used.
"""

from contrastkit.tune.space import SearchParam, check_search, parse_search

__all__ = ["SearchParam", "check_search", "parse_search"]
