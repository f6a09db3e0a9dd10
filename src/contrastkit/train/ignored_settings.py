"""Settings a run ignores: one warning each, never silence, never an error.

Some settings are read only by one optimiser, combiner method, task kind or stream:
``optim.momentum`` by SGD, ``miner.*`` by relations tasks, ``meta.temperature`` by
ProtoNet's cosine score. A config that sets one where nothing reads it trains as if it
had not, so the user is told — as scikit-learn's ``LogisticRegression`` warns that
``l1_ratio`` is only used with ``penalty='elasticnet'`` and transformers'
``GenerationConfig`` that ``temperature`` is only used when sampling — with an
:class:`IgnoredSettingWarning` naming the setting, its value and why it does not apply::

    optim.momentum=0.9 is ignored by optim.name 'adam' (it applies to sgd, rsgd)

:data:`RULES` is the whole of it: each :class:`Rule` names settings and the
:class:`Scope` s they are read in (any one suffices); a setting under several rules must
pass all of them (``meta.temperature``: ``task.kind`` fewshot, ``meta.method`` protonet,
``meta.distance`` cosine). A setting is reported when

* its value differs from the dataclass default (a value equal to it changes nothing), and
* the user wrote it (``written``): :func:`~contrastkit.train.config.load_config` passes
  the keys of the user's config file and overrides — not those of the packaged default
  recipe, whose ``miner`` a ``contrastkit train task.kind=pairs`` run inherits, nor those
  of a run directory's resolved ``config.yaml`` on resume (only its overrides count).
  ``written=None`` (a config built in Python) counts every non-default value.

Only the first rule a setting fails is reported: one warning per setting.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

from contrastkit.continual.config import ContinualConfig
from contrastkit.train.loss_config import ScheduleConfig
from contrastkit.train.meta_config import MetaConfig
from contrastkit.train.miner_config import MinerConfig
from contrastkit.train.nodes_config import NodesConfig
from contrastkit.train.pairs_config import PairsConfig
from contrastkit.train.recipe_config import BurnInConfig

# ``config`` arguments are :class:`~contrastkit.train.config.TrainConfig` objects; this
# module does not import it (``load_config`` calls in here), it reads their attributes
TrainConfig = Any
# the sections whose every field a rule names, by their key in TrainConfig
SECTIONS: dict[str, type] = {
    "burn_in": BurnInConfig,
    "continual": ContinualConfig,
    "meta": MetaConfig,
    "miner": MinerConfig,
    "nodes": NodesConfig,
    "pairs": PairsConfig,
    "schedule": ScheduleConfig,
}


class IgnoredSettingWarning(UserWarning):
    """A config sets (to a non-default value) a setting its run does not read."""


@dataclass(frozen=True)
class Scope:
    """Where settings are read: the setting ``key`` holds one of ``values`` (a mapping
    such as ``objectives``: one of its keys is among ``values``)."""

    key: str
    values: tuple[Any, ...]

    def holds(self, config: TrainConfig) -> bool:
        value = lookup(config, self.key)
        if isinstance(value, Mapping):
            return any(name in self.values for name in value)
        return value in self.values

    def describe_values(self) -> str:
        return ", ".join(_plain(v) for v in self.values)


@dataclass(frozen=True)
class Rule:
    """``settings`` (dotted keys) are read only where one of ``scopes`` holds."""

    settings: tuple[str, ...]
    scopes: tuple[Scope, ...]


@dataclass(frozen=True)
class IgnoredSetting:
    """One ignored setting: its key, its value, and the rule it fails."""

    key: str
    value: Any
    rule: Rule

    def message(self, config: TrainConfig) -> str:
        scopes = self.rule.scopes
        by = " and ".join(f"{s.key} {_shown(lookup(config, s.key))}" for s in scopes)
        if len(scopes) == 1:
            applies = f"it applies to {scopes[0].describe_values()}"
        else:
            applies = "it applies with " + " or ".join(
                f"{s.key} {s.describe_values()}" for s in scopes
            )
        return f"{self.key}={_shown(self.value)} is ignored by {by} ({applies})"


def _fields(section: str, but: Iterable[str] = ()) -> tuple[str, ...]:
    """Every leaf field of the ``section`` dataclass of TrainConfig (:data:`SECTIONS`;
    nested dataclasses walked: ``continual.replay.ratio``), as dotted keys, less the
    fields ``but``."""

    def leaves(cls: Any, prefix: str) -> list[str]:
        out: list[str] = []
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            factory = f.default_factory
            if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
                out += leaves(factory, f"{prefix}{f.name}.")
            else:
                out.append(f"{prefix}{f.name}")
        return out

    skip = set(but)
    return tuple(leaves(SECTIONS[section], f"{section}."))


SGD = ("sgd", "rsgd")
ADAM = ("adam", "adamw", "radam", "sparse_adam")
RELATIONS = Scope("task.kind", ("relations",))
ONE_TASK = Scope("continual.enabled", (False,))  # a stream draws continual.num_negatives


def _rules() -> tuple[Rule, ...]:
    stream_sbm = ("blocks_per_task", "block_size", "p_in", "p_out", "feature_dim")
    stream_wordnet = ("split", "groups", "max_nodes_per_task", "shared_ancestors")
    miner = (*_fields("miner", but=("num_negatives",)), "miner_stages")
    trainer_only = ("objectives", "combiner.method", *_fields("schedule"), *_fields("burn_in"))
    return (
        # the optimiser (optim/factory.py's table of torch / geoopt keyword arguments;
        # sparse_adam's dense parameters take Adam with amsgrad)
        Rule(("optim.momentum", "optim.dampening", "optim.nesterov"), (Scope("optim.name", SGD),)),
        Rule(("optim.betas",), (Scope("optim.name", ADAM),)),
        Rule(("optim.eps",), (Scope("optim.name", (*ADAM, "radagrad")),)),
        Rule(("optim.amsgrad",), (Scope("optim.name", ADAM),)),
        # the combiner method's own settings
        Rule(("combiner.momentum",), (Scope("combiner.method", ("magnitude",)),)),
        Rule(("combiner.init_log_var",), (Scope("combiner.method", ("uncertainty",)),)),
        Rule(
            ("combiner.alpha", "combiner.lr", "combiner.min_weight"),
            (Scope("combiner.method", ("gradnorm",)),),
        ),
        # the objectives' shared defaults, read by the objectives that take them
        Rule(("objective.margin",), (Scope("objectives", ("mnr", "triplet", "local")),)),
        Rule(("objective.norm_target",), (Scope("objectives", ("norm",)),)),
        # the task kind's own sections
        Rule(_fields("pairs"), (Scope("task.kind", ("pairs",)),)),
        Rule(_fields("nodes"), (Scope("task.kind", ("nodes",)),)),
        Rule(_fields("meta"), (Scope("task.kind", ("fewshot",)),)),
        Rule(("meta.distance", "meta.temperature"), (Scope("meta.method", ("protonet",)),)),
        Rule(("meta.temperature",), (Scope("meta.distance", ("cosine",)),)),
        # relation negatives: pairs and nodes draw pairs.* / nodes.* negatives, a
        # stream continual.num_negatives; a linear curriculum ends at miner.num_negatives
        Rule(miner, (RELATIONS,)),
        Rule(miner, (ONE_TASK,)),
        Rule(("miner.num_negatives",), (RELATIONS, Scope("schedule.curriculum", ("linear",)))),
        Rule(("miner.num_negatives",), (ONE_TASK,)),
        Rule(("eval.ties",), (RELATIONS,)),
        # the stream's own settings
        Rule(_fields("continual", but=("enabled",)), (Scope("continual.enabled", (True,)),)),
        Rule(tuple(f"continual.{k}" for k in stream_sbm), (Scope("continual.stream", ("sbm",)),)),
        Rule(
            tuple(f"continual.{k}" for k in stream_wordnet),
            (Scope("continual.stream", ("wordnet",)),),
        ),
        Rule(
            ("continual.files", "continual.undirected"),
            (Scope("continual.stream", ("edge_files",)),),
        ),
        # the one-task trainer's loss settings: meta-learning and a stream have their own
        # loops (contrastkit.meta, contrastkit.continual), which read none of them
        Rule(trainer_only, (Scope("task.kind", ("relations", "pairs", "nodes")),)),
        Rule(trainer_only, (ONE_TASK,)),
        # a stream reads data.path only as the WordNet stream's directory
        Rule(("data.path",), (ONE_TASK, Scope("continual.stream", ("wordnet",)))),
        Rule(("data.path",), (ONE_TASK, Scope("data.name", ("wordnet_nouns",)))),
    )


#: settings -> the scopes they are read in (module docstring)
RULES: tuple[Rule, ...] = _rules()


def lookup(config: Any, key: str) -> Any:
    """The value of the dotted setting ``key`` of ``config``."""
    return reduce(getattr, key.split("."), config)


def default_of(config: TrainConfig, key: str) -> Any:
    """The dataclass default of the dotted setting ``key`` of ``config``'s class."""
    section, _, name = key.partition(".")
    section_field: Any = next(f for f in dataclasses.fields(config) if f.name == section)
    holder = section_field.default_factory()
    return lookup(holder, name) if name else holder


def written_keys(data: Mapping[str, Any], prefix: str = "") -> set[str]:
    """The dotted keys of every leaf of a nested config mapping (what a file or
    overrides write): ``{"optim": {"momentum": 0.9}}`` -> ``{"optim.momentum"}``."""
    out: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= written_keys(value, f"{path}.")
        else:
            out.add(path)
    return out


def _was_written(key: str, written: Collection[str] | None) -> bool:
    if written is None:
        return True
    return any(w == key or key.startswith(f"{w}.") or w.startswith(f"{key}.") for w in written)


def ignored_settings(
    config: TrainConfig, written: Collection[str] | None = None
) -> list[IgnoredSetting]:
    """The settings of ``config`` that differ from their default, were ``written``
    (``None``: any) and that the run does not read, in :data:`RULES` order, each once."""
    found: dict[str, IgnoredSetting] = {}
    for rule in RULES:
        if any(scope.holds(config) for scope in rule.scopes):
            continue
        for key in rule.settings:
            if key in found or not _was_written(key, written):
                continue
            value = lookup(config, key)
            if value != default_of(config, key):
                found[key] = IgnoredSetting(key, value, rule)
    return list(found.values())


def warn_ignored_settings(
    config: TrainConfig, written: Collection[str] | None = None, *, stacklevel: int = 2
) -> list[IgnoredSetting]:
    """Emit one :class:`IgnoredSettingWarning` per :func:`ignored_settings` entry
    (``stacklevel`` counts from the caller of this function); returns them."""
    found = ignored_settings(config, written)
    for item in found:
        warnings.warn(item.message(config), IgnoredSettingWarning, stacklevel=stacklevel + 1)
    return found


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _shown(value: Any) -> str:
    """A value as the message shows it: strings quoted, a mapping's keys, stages counted."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return repr(sorted(value))
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        return f"[{len(value)} stage{'s' * (len(value) > 1)}]"
    return repr(value)
