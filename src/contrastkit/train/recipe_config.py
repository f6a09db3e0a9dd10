"""Opt-in sections for what only some recipes need: a burn-in, the sparse table step's
settings, and a hierarchy's negative filters; and the old flat keys as aliases.

* ``burn_in`` — Nickel & Kiela's burn-in: the first ``epochs`` epochs at ``lr_scale``
  times the learning rate, with degree-distributed negatives (``miner.burn_in_degree``);
* ``sparse`` — the sparse table step (``step``: auto / always / never), the Poincaré
  projection margin ``ball_eps`` and the cap ``max_row_step`` on one row's update;
* ``hierarchy`` — a hierarchy's false-negative filters (``exclude_implied``,
  ``exclude_common_ancestors``) and ``edgelist``: read an edge list as child -> parent
  relations of a hierarchy (its transitive closure is trained, evaluated directed).

Whether a graph is a hierarchy is a property of the loaded graph (WordNet's are; an
edge list is with ``hierarchy.edgelist``), checked when the task is built.

:func:`migrate_legacy_keys` moves the flat keys these sections replace
(``loop.burn_in_epochs``, ``loop.sparse_step``, ``data.exclude_implied``, ...) into
them, so configs and run directories written before load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from contrastkit.typed_config import ConfigError, config_fail


@dataclass
class BurnInConfig:
    """``epochs`` at the start at ``lr_scale`` times the learning rate (0: none)."""

    epochs: int = 0
    lr_scale: float = 0.1

    def __post_init__(self) -> None:
        if self.epochs < 0:
            config_fail("burn_in.epochs", f"must be >= 0, got {self.epochs}")
        if self.lr_scale <= 0:
            config_fail("burn_in.lr_scale", f"must be > 0, got {self.lr_scale}")


@dataclass
class SparseConfig:
    # "auto": embedding tables trained by InfoNCE with (R)SGD take the sparse fused step
    # (train/table_step.py); "always" insists (a config it cannot run is an error); "never"
    step: Literal["auto", "always", "never"] = "auto"
    # Poincaré boundary margin: geoopt's float32 margin by default (what the generic rsgd
    # step gets); Nickel & Kiela's 1e-5 lets hierarchies go deeper but wants their small
    # learning rate (configs/mammals_poincare_d5.yaml)
    ball_eps: float = 4e-3
    # cap on the length of one row's update (0: none); large batches over a hierarchy
    # sum a hub's gradients into one huge step otherwise
    max_row_step: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.ball_eps < 1.0:
            config_fail("sparse.ball_eps", f"must be in (0, 1), got {self.ball_eps}")
        if self.max_row_step < 0:
            config_fail("sparse.max_row_step", f"must be >= 0, got {self.max_row_step}")


@dataclass
class HierarchyConfig:
    # data.name edgelist: the file's edges are child -> parent relations of a hierarchy
    edgelist: bool = False
    exclude_implied: bool = False  # never draw what the training relations imply
    # > 0: never draw w for u when w is above this share of u's training descendants
    exclude_common_ancestors: float = 0.0

    def __post_init__(self) -> None:
        share = self.exclude_common_ancestors
        if not 0.0 <= share <= 1.0:
            config_fail(
                "hierarchy.exclude_common_ancestors", f"must be in [0, 1] (0: off), got {share}"
            )

    def filters_on(self) -> list[str]:
        """The filters this section turns on (they need a hierarchy)."""
        on = {"exclude_implied": self.exclude_implied}
        on["exclude_common_ancestors"] = self.exclude_common_ancestors > 0
        return [f"hierarchy.{key}" for key, value in on.items() if value]


# old flat key -> its place in a section
LEGACY_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("loop", "burn_in_epochs"): ("burn_in", "epochs"),
    ("loop", "burn_in_lr_scale"): ("burn_in", "lr_scale"),
    ("loop", "sparse_step"): ("sparse", "step"),
    ("loop", "ball_eps"): ("sparse", "ball_eps"),
    ("optim", "max_row_step"): ("sparse", "max_row_step"),
    ("data", "exclude_implied"): ("hierarchy", "exclude_implied"),
    ("data", "exclude_common_ancestors"): ("hierarchy", "exclude_common_ancestors"),
}
# what TrainConfig's defaults were before they became neutral: a config written then
# (a run directory's config.yaml holds every key) left these unset
_OLD_DEFAULT_ROOT = "mammal.n.01"


def migrate_legacy_keys(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config mapping ``data`` with the old flat keys moved into their
    sections. An old key and its new place both set to different values is a
    :class:`ConfigError` naming both."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    legacy = False
    for (section, key), (new_section, new_key) in LEGACY_KEYS.items():
        block = out.get(section)
        if not isinstance(block, dict) or key not in block:
            continue
        legacy = True
        value = block.pop(key)
        target = out.setdefault(new_section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{new_section} must be a mapping, got {target!r}")
        if new_key in target and target[new_key] != value:
            raise ConfigError(
                f"{section}.{key} (an alias of {new_section}.{new_key}) is {value!r} but "
                f"{new_section}.{new_key} is {target[new_key]!r}; set one"
            )
        target[new_key] = value
    data_block = out.get("data")
    if legacy and isinstance(data_block, dict) and data_block.get("root") == _OLD_DEFAULT_ROOT:
        # written when data.root defaulted to mammal.n.01 and was never read
        data_block.pop("root")
    return out


def migrate_override(text: str) -> str:
    """A ``key=value`` override with an old flat key renamed to its section's
    (``loop.burn_in_epochs=0`` -> ``burn_in.epochs=0``), so an override of an old name
    replaces the value a config file gives the new one."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if sep and len(parts) == 2 and (parts[0], parts[1]) in LEGACY_KEYS:
        section, new_key = LEGACY_KEYS[(parts[0], parts[1])]
        return f"{section}.{new_key}={value}"
    return text
