"""Settings of Matryoshka training (``matryoshka:``): every objective at nested widths."""

from __future__ import annotations

from dataclasses import dataclass, field

from contrastkit.typed_config import config_fail


@dataclass
class MatryoshkaConfig:
    """``dims``: the nested widths (e.g. ``[384, 192, 96, 48]``; empty: off), each
    objective evaluated on the first ``d`` coordinates of every row and the losses
    summed with ``weights`` (default all 1, sentence-transformers' ``MatryoshkaLoss``);
    see :class:`~contrastkit.objectives.matryoshka.MatryoshkaObjective`. A width at
    or above the encoder's is the full embedding. The evaluation of a text task also
    reports its retrieval metrics at every width (``test/dim{d}/...``)."""

    dims: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if any(d <= 0 for d in self.dims):
            config_fail("matryoshka.dims", f"must be widths > 0, got {self.dims}")
        if len(set(self.dims)) != len(self.dims):
            config_fail("matryoshka.dims", f"must be distinct, got {self.dims}")
        if self.weights and len(self.weights) != len(self.dims):
            config_fail(
                "matryoshka.weights",
                f"must give one weight per width ({len(self.dims)}), got {self.weights}",
            )
        if any(w < 0 for w in self.weights):
            config_fail("matryoshka.weights", f"must be >= 0, got {self.weights}")
        if self.weights and self.dims and not any(w > 0 for w in self.weights):
            config_fail("matryoshka.weights", f"must have one weight > 0, got {self.weights}")

    @property
    def enabled(self) -> bool:
        return bool(self.dims)

    def resolved_weights(self) -> list[float]:
        return list(self.weights) if self.weights else [1.0] * len(self.dims)
