"""Which graph a run embeds (the hierarchy filters are in :mod:`.recipe_config`).

Part of the run configuration (:mod:`contrastkit.train.config`, which re-exports it);
:func:`contrastkit.train.task.build_task` turns it into a task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from contrastkit.typed_config import config_fail

DatasetName = Literal["mammals", "wordnet_nouns", "karate", "digits", "sbm", "edgelist"]
HIERARCHIES: tuple[DatasetName, ...] = ("mammals", "wordnet_nouns")  # directed closures
# the datasets that read data.path (an edge-list file, a WordNet directory)
PATH_DATASETS: tuple[DatasetName, ...] = ("edgelist", "wordnet_nouns")
_SYNSET = re.compile(r"\S+\.n\.\d+")  # WordNet noun synset name: lemma.n.NN


@dataclass
class DataConfig:
    """Which graph to embed. ``split`` holds out edges for link-prediction runs."""

    name: DatasetName = "karate"
    path: str | None = None  # edge-list file (``edgelist``) or WordNet directory
    # wordnet_nouns only: a noun synset such as "mammal.n.01" restricts the graph to the
    # closure of its subtree (it and all its hyponyms); None embeds every noun
    root: str | None = None
    knn: int = 10  # digits k-NN graph
    sbm_nodes: int = 1000
    sbm_blocks: int = 4
    sbm_p_in: float = 0.05
    sbm_p_out: float = 0.002
    test_fraction: float = 0.0  # > 0: link-prediction split (N&K protocol for hierarchies)

    def __post_init__(self) -> None:
        if self.name == "edgelist" and not self.path:
            config_fail("data.path", "is required when data.name is 'edgelist'")
        if self.root is not None:
            if self.name != "wordnet_nouns":
                config_fail(
                    "data.root",
                    f"selects a WordNet subtree and needs data.name 'wordnet_nouns', "
                    f"got {self.name!r} (leave data.root unset)",
                )
            if not isinstance(self.root, str) or not _SYNSET.fullmatch(self.root):
                config_fail(
                    "data.root",
                    f"must be a noun synset name like 'mammal.n.01', got {self.root!r}",
                )
        if not 0.0 <= self.test_fraction < 1.0:
            config_fail("data.test_fraction", f"must be in [0, 1), got {self.test_fraction}")
        if self.knn <= 0:
            config_fail("data.knn", f"must be > 0, got {self.knn}")
        if self.path is not None and self.name not in PATH_DATASETS:
            config_fail(
                "data.path",
                f"is read by data.name {' or '.join(map(repr, PATH_DATASETS))}, "
                f"not {self.name!r}: leave it unset (got {self.path!r})",
            )
        if self.path is not None and not self.path.strip():
            config_fail("data.path", "must name a file or directory, got ''")
        if self.sbm_nodes <= 0:
            config_fail("data.sbm_nodes", f"must be > 0, got {self.sbm_nodes}")
        if not 0 < self.sbm_blocks <= self.sbm_nodes:
            config_fail(
                "data.sbm_blocks",
                f"must be in [1, data.sbm_nodes={self.sbm_nodes}], got {self.sbm_blocks}",
            )
        for key in ("sbm_p_in", "sbm_p_out"):
            p = getattr(self, key)
            if not 0.0 <= p <= 1.0:
                config_fail(f"data.{key}", f"must be a probability in [0, 1], got {p}")
