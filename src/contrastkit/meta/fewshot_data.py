"""What a few-shot run classifies: item features, class labels and an optional graph.

:func:`sbm_fewshot_data` is the fast fixture: a planted-partition SBM whose blocks are
the classes, with features that carry each block's random mean in a few *signal*
columns buried under many *noise* columns,

.. math::
    x_i = \\big[\\, s\\,\\mu_{y_i} + \\varepsilon_i,\\; \\eta_i \\,\\big],\\qquad
    \\mu_c, \\varepsilon_i \\sim \\mathcal N(0, I_S),\\quad \\eta_i \\sim \\mathcal N(0, I_D),

so raw-feature distances are dominated by the ``D`` noise columns: a learner adapted
from a random initialisation on a few shots does poorly, one whose initialisation has
learnt to read the signal columns (and, as a GNN, to average same-block neighbours)
does well — on blocks it never trained on, since every block's mean is drawn anew.
The WordNet data are in :mod:`~contrastkit.meta.wordnet_fewshot`.

Example:
    >>> data = sbm_fewshot_data(200, 10, 0.1, 0.01, generator=0)
    >>> data.x.shape, data.num_classes
    (torch.Size([200, 40]), 10)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_length,
    check_non_negative,
    check_positive_int,
)
from contrastkit.graph.rng import GeneratorLike, as_generator


@dataclass(frozen=True)
class FewShotData:
    """Items to classify in episodes.

    Attributes:
        x: ``[N, F]`` float features.
        y: ``[N]`` int64 class (``-1``: an unlabelled context node, e.g. a hypernym a
            GNN reads but no episode draws).
        edge_index: ``[2, E]`` message-passing graph over the ``N`` items, or ``None``.
        class_names: a name per class id.
        node_class: ``[N]`` int64 class of *every* node, the unlabelled context nodes
            included (WordNet: each synset's lexicographer file), or ``None``;
            ``meta.train_tasks: subtree`` draws meta-train items by it.
        lineage: ``[N, L]`` int64 root-first primary hypernym path of each node
            (global ids, ``-1`` padded: :func:`~contrastkit.meta.subtree_tasks.primary_lineage`),
            or ``None``; ``meta.train_tasks: subtree`` cuts its fine classes from it.
    """

    x: Tensor
    y: Tensor
    edge_index: Tensor | None
    class_names: list[str]
    node_class: Tensor | None = None
    lineage: Tensor | None = None

    def __post_init__(self) -> None:
        check_float_tensor("x", self.x, ndim=2)
        check_length("y", self.y, self.x.shape[0])
        if self.y.dtype != torch.int64:
            raise TypeError(f"y must be int64, got {self.y.dtype}")
        if self.edge_index is not None:
            check_edge_index("edge_index", self.edge_index, self.x.shape[0])
        if int(self.y.max()) >= len(self.class_names):
            raise ValueError(
                f"y has class {int(self.y.max())} but only {len(self.class_names)} class_names"
            )
        if self.node_class is not None:
            check_length("node_class", self.node_class, self.x.shape[0])
            labelled = self.y >= 0
            if not torch.equal(self.node_class[labelled], self.y[labelled]):
                raise ValueError("node_class must equal y on the labelled nodes")
        if self.lineage is not None:
            check_length("lineage", self.lineage, self.x.shape[0])
            if self.lineage.ndim != 2:
                raise ValueError(f"lineage must be [N, L], got shape {list(self.lineage.shape)}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def sbm_fewshot_data(
    num_nodes: int,
    num_blocks: int,
    p_in: float,
    p_out: float,
    *,
    signal_dims: int = 8,
    noise_dims: int = 32,
    signal: float = 1.0,
    generator: GeneratorLike | None = None,
) -> FewShotData:
    """A planted-partition SBM (:func:`~contrastkit.data.sbm.planted_partition`) with
    the features of the module docstring: ``[N, signal_dims + noise_dims]``.

    Args:
        num_nodes, num_blocks, p_in, p_out: the graph (blocks are the classes).
        signal_dims: ``S``, columns carrying the block means (> 0).
        noise_dims: ``D``, pure-noise columns (>= 0).
        signal: ``s``, the scale of the block means (>= 0; 0 leaves no signal).
        generator: ``torch.Generator`` or seed (default seed 0).
    """
    from contrastkit.data.sbm import planted_partition

    check_positive_int("signal_dims", signal_dims)
    check_positive_int("noise_dims", noise_dims, allow_zero=True)
    check_non_negative("signal", signal)
    gen = as_generator(generator)
    graph = planted_partition(num_nodes, num_blocks, p_in, p_out, generator=gen)
    if graph.y is None:  # pragma: no cover - planted_partition always labels
        raise ValueError("the SBM has no block labels")
    y = graph.y.to(torch.int64)
    means = torch.randn(num_blocks, signal_dims, generator=gen)
    sig = signal * means[y] + torch.randn(num_nodes, signal_dims, generator=gen)
    noise = torch.randn(num_nodes, noise_dims, generator=gen)
    return FewShotData(
        x=torch.cat([sig, noise], dim=1),
        y=y,
        edge_index=graph.edge_index,
        class_names=[f"block{i}" for i in range(num_blocks)],
    )
