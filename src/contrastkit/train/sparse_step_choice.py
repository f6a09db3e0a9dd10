"""Which runs take the sparse table step (:mod:`contrastkit.train.table_step`).

The step fuses one loss (InfoNCE over a distance with a fused kernel) and one update
rule ((Riemannian) SGD or row-wise Adagrad, no momentum or weight decay) over a free
embedding table; :func:`sparse_step_blocker` names the first thing a configuration
has that the step cannot do, and :func:`build_sparse_step` applies ``sparse.step``
(``auto`` falls back to the generic step, ``always`` makes it a config error).
"""

from __future__ import annotations

from contrastkit.functional.distances import Distance
from contrastkit.functional.relation_kernels import RELATION_DISTANCES
from contrastkit.models.embedding import EmbeddingTable
from contrastkit.train.config import TrainConfig
from contrastkit.train.table_step import SparseTableStep
from contrastkit.typed_config import ConfigError


def sparse_step_blocker(config: TrainConfig, encoder: object, distance: Distance) -> str | None:
    """Why the sparse step cannot run this configuration, or ``None`` when it can."""
    table = getattr(encoder, "table", None)
    oc, loop = config.optim, config.loop
    specs = {n: s for n, s in config.objective_specs().items() if s.weight > 0}
    objectives = list(specs)
    plain = objectives == ["infonce"] and specs["infonce"].to_config() == specs["infonce"].weight
    checks = [
        (isinstance(table, EmbeddingTable), "the encoder is not an embedding table"),
        (objectives == ["infonce"], f"objectives {objectives} are not just 'infonce'"),
        (plain, "objectives.infonce has parameters (in-batch, its own temperature)"),
        (config.task.kind == "relations", f"task.kind {config.task.kind!r} is not 'relations'"),
        (distance.name in RELATION_DISTANCES, f"distance {distance.name!r} has no fused kernel"),
        (oc.name in ("rsgd", "sgd", "radagrad"), f"optim.name {oc.name!r} has no sparse step"),
        (oc.momentum == 0 and oc.weight_decay == 0, "optim.momentum/weight_decay are not 0"),
        (config.combiner.method == "fixed", "the combiner is not 'fixed'"),
        (oc.grad_clip == 0, "optim.grad_clip is set"),
        (not loop.grad_caching and not loop.autocast, "grad caching or autocast is on"),
    ]
    for ok, reason in checks:
        if not ok:
            return reason
    if isinstance(table, EmbeddingTable) and (table.manifold == "poincare") != (
        distance.name == "poincare"
    ):
        return f"a {table.manifold} table with the {distance.name!r} distance"
    return None


def build_sparse_step(
    config: TrainConfig, encoder: object, distance: Distance
) -> SparseTableStep | None:
    """The sparse step when ``loop.sparse_step`` allows it and the run fits it; with
    ``"always"`` a run that does not fit is a :class:`ConfigError` naming the reason."""
    if config.sparse.step == "never":
        return None
    blocker = sparse_step_blocker(config, encoder, distance)
    if blocker is not None and config.sparse.max_row_step > 0:
        raise ConfigError(f"sparse.max_row_step needs the sparse table step, but {blocker}")
    if blocker is not None:
        if config.sparse.step == "always":
            raise ConfigError(f"sparse.step is 'always' but {blocker}")
        return None
    # the blocker checked that the encoder holds an EmbeddingTable; the step checks again
    table = getattr(encoder, "table", None)
    return SparseTableStep(table, distance, config.sparse.ball_eps, config.sparse.max_row_step)  # type: ignore[arg-type]
