"""A small, validated container for one graph, with PyG ``Data`` conversion.

Every dataset loader in :mod:`contrastkit.data` returns a :class:`GraphData`.
It follows PyTorch Geometric's conventions: ``edge_index`` is an int64
``LongTensor[2, E]`` with row 0 the source and row 1 the target, node features
``x`` are ``[N, F]``, labels ``y`` are ``[N]``. Unlike a PyG ``Data`` it is
checked once, at construction, so that a loader can never hand out an
out-of-range id or a feature matrix with the wrong number of rows.

Example:
    >>> g = GraphData(torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    >>> g.num_edges, g.to_pyg().num_nodes
    (2, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from contrastkit._validation import (
    check_edge_index,
    check_float_tensor,
    check_length,
    check_positive_int,
    check_tensor,
)


@dataclass
class GraphData:
    """One graph: structure, optional node features/labels/names, optional edge weights.

    Attributes:
        edge_index: ``[2, E]`` int64, ids in ``[0, num_nodes)``; row 0 source, row 1 target.
        num_nodes: ``N`` (isolated nodes count).
        x: optional ``[N, F]`` float node features.
        y: optional ``[N]`` integer node labels (e.g. community, digit, lexicographer class).
        edge_weight: optional ``[E]`` float weights, aligned with the columns of ``edge_index``.
        names: optional ``N`` node names (file ids, WordNet synset names, ...).
        label_names: optional names of the label values ``0..C-1``.
        meta: free-form provenance (source file, generator parameters, ...).

    Raises:
        TypeError / ValueError naming the field when shapes, dtypes or ids are inconsistent.
    """

    edge_index: Tensor
    num_nodes: int
    x: Tensor | None = None
    y: Tensor | None = None
    edge_weight: Tensor | None = None
    names: list[str] | None = None
    label_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_positive_int("num_nodes", self.num_nodes, allow_zero=True)
        ei = check_edge_index("edge_index", self.edge_index, self.num_nodes)
        self.edge_index = ei.to(torch.int64)
        if self.x is not None:
            check_float_tensor("x", self.x, ndim=2)
            check_length("x", self.x, self.num_nodes)
        if self.y is not None:
            check_tensor("y", self.y, ndim=1)
            check_length("y", self.y, self.num_nodes)
        if self.edge_weight is not None:
            check_float_tensor("edge_weight", self.edge_weight, ndim=1)
            check_length("edge_weight", self.edge_weight, self.num_edges, "entries (one per edge)")
        if self.names is not None and len(self.names) != self.num_nodes:
            raise ValueError(f"names must have {self.num_nodes} entries, got {len(self.names)}")

    @property
    def num_edges(self) -> int:
        """Number of columns ``E`` of ``edge_index`` (an undirected edge stored twice counts 2)."""
        return int(self.edge_index.shape[1])

    @property
    def num_classes(self) -> int:
        """``max(y) + 1`` (0 without labels)."""
        if self.y is None or self.y.numel() == 0:
            return 0
        return int(self.y.max()) + 1

    def to_pyg(self) -> Any:
        """Convert to a ``torch_geometric.data.Data`` (needs the ``graph`` extra).

        ``names`` and ``label_names`` travel as plain Python attributes.
        """
        try:
            from torch_geometric.data import Data
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_pyg needs torch-geometric: pip install 'contrastkit[graph]'"
            ) from err
        data = Data(edge_index=self.edge_index, num_nodes=self.num_nodes)
        if self.x is not None:
            data.x = self.x
        if self.y is not None:
            data.y = self.y
        if self.edge_weight is not None:
            data.edge_weight = self.edge_weight
        if self.names is not None:
            data.names = list(self.names)
        if self.label_names is not None:
            data.label_names = list(self.label_names)
        return data

    @classmethod
    def from_pyg(cls, data: Any) -> GraphData:
        """Build from a ``torch_geometric.data.Data`` (reads ``edge_index``, ``num_nodes``,
        ``x``, ``y``, ``edge_weight`` and, if present, ``names``/``label_names``).

        A 1-column ``edge_attr`` is taken as ``edge_weight`` when ``edge_weight`` is absent.
        """
        edge_index = getattr(data, "edge_index", None)
        if edge_index is None:
            raise ValueError("data has no edge_index")
        num_nodes = data.num_nodes
        if num_nodes is None:
            raise ValueError("data.num_nodes is undefined (no x, no num_nodes)")
        weight = getattr(data, "edge_weight", None)
        attr = getattr(data, "edge_attr", None)
        if weight is None and attr is not None and attr.dim() == 2 and attr.shape[1] == 1:
            weight = attr[:, 0]
        names = getattr(data, "names", None)
        label_names = getattr(data, "label_names", None)
        return cls(
            edge_index=edge_index,
            num_nodes=int(num_nodes),
            x=getattr(data, "x", None),
            y=getattr(data, "y", None),
            edge_weight=weight,
            names=list(names) if names is not None else None,
            label_names=list(label_names) if label_names is not None else None,
        )
