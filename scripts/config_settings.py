"""Which config settings do the tests exercise, and how?

Enumerates every leaf setting of :class:`~contrastkit.train.config.TrainConfig` (nested
dataclasses walked: ``encoder.projection.centered``, ``continual.replay.ratio``), each
registered objective's parameters (``objectives.infonce.temperature``) and the
``miner_stages`` keys, then finds the test functions under ``tests/`` that reference
each one:

* by dotted path anywhere in a string or attribute chain (``"pairs.train_exclude_hops=2"``,
  ``cfg.pairs.train_exclude_hops = 2``, a parametrize list);
* by field name as a keyword (``PairsConfig(train_exclude_hops=2)``) or a mapping / YAML
  key (``{"train_exclude_hops": 2}``, ``train_exclude_hops: 2``) in a file that also
  names the setting's section (its dataclass or its section key).

Each referencing test function is classified (a heuristic, meant to direct a reader):

* ``reject`` — it expects an error (``pytest.raises``, ``ConfigError``, exit code 2):
  the test shows bad values are refused, not that good ones act;
* ``finishes`` — its only assertions are that the run produced something (return code,
  a file exists, a finite loss, a key is present);
* ``effect`` — anything else (it compares a value) in a test whose name or docstring
  names the setting (all the words of its field name) or that is parametrized over it:
  the candidate effect tests;
* ``used`` — the same in a test about something else (the setting is set, its effect
  is not what the test checks).

References in the shared fixtures (``tests/karate_mlp.py``, ``tests/text_tiny.py``,
``tests/wordnet_slice.py``, ``conftest.py``) count as ``fixture``: a setting that only a
fixture sets is used, not tested.

Usage::

    PYTHONPATH=src python scripts/config_settings.py            # the summary table
    PYTHONPATH=src python scripts/config_settings.py --untested # settings with no effect test
    PYTHONPATH=src python scripts/config_settings.py --show optim.lr  # its tests
    PYTHONPATH=src python scripts/config_settings.py --tests /tmp/old/tests  # another tree
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import sys
import typing
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = {"karate_mlp.py", "text_tiny.py", "wordnet_slice.py", "conftest.py"}
KINDS = ("effect", "used", "finishes", "reject", "fixture")


@dataclass
class Setting:
    path: str  # dotted, e.g. "pairs.train_exclude_hops"
    section_names: tuple[str, ...]  # words that name the section in a file (key, class)
    refs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @property
    def leaf(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def best(self) -> str:
        for kind in KINDS:
            if self.refs.get(kind):
                return kind
        return "none"


def settings() -> list[Setting]:
    """Every leaf setting of TrainConfig, objective parameter and miner-stage key."""
    from contrastkit.objectives.registry import REGISTRY
    from contrastkit.train.config import TrainConfig

    out: list[Setting] = []

    def walk(cls: type, prefix: str, names: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            here = (*names, f.name)
            if dataclasses.is_dataclass(tp) and isinstance(tp, type):
                walk(tp, f"{prefix}{f.name}.", (*here, tp.__name__))
            else:
                out.append(Setting(prefix + f.name, (*here[:-1], cls.__name__)))

    walk(TrainConfig, "", ())
    for name, entry in sorted(REGISTRY.items()):
        out.append(Setting(f"objectives.{name}.weight", (name,)))
        if dataclasses.is_dataclass(entry.params):
            for f in dataclasses.fields(entry.params):
                out.append(Setting(f"objectives.{name}.{f.name}", (name, entry.params.__name__)))
    out.append(Setting("miner_stages.from_epoch", ("miner_stages", "MinerStage")))
    return out


_ERROR_HINTS = re.compile(
    r"pytest\.raises|ConfigError|returncode\s*==\s*2|exit_code\s*==\s*2|code\s*==\s*2\b"
)
# an assertion that only says the run produced something
_FINISH_HINTS = re.compile(
    r"returncode|exit_code|\.exists\(\)|is_file\(\)|is_dir\(\)|isfinite|is not None|"
    r"\bin\b\s+\w*(metrics|history|out|files|result|listdir)|len\("
)


def _segment(lines: list[str], node: ast.AST) -> str:
    """The source lines of ``node`` (whole lines: cheaper than ast.get_source_segment)."""
    start = getattr(node, "lineno", 1)
    return "\n".join(lines[start - 1 : getattr(node, "end_lineno", start)])


def _classify(fn: ast.AST, lines: list[str]) -> str:
    text = _segment(lines, fn)
    if _ERROR_HINTS.search(text):
        return "reject"
    asserts = [_segment(lines, node) for node in ast.walk(fn) if isinstance(node, ast.Assert)]
    calls = [
        _segment(lines, node)
        for node in ast.walk(fn)
        if isinstance(node, ast.Call)
        and isinstance(node.func, (ast.Attribute, ast.Name))
        and re.search(r"assert|close|equal", _call_name(node))
    ]
    if calls:
        return "effect"
    if asserts and all(_FINISH_HINTS.search(a) for a in asserts):
        return "finishes"
    if not asserts:
        return "finishes"  # a helper-only test (no assert of its own) - check by hand
    return "effect"


def _targeted(
    kind: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, item: Setting, line: int
) -> str:
    """``effect`` only where the test is about ``item``: its name or docstring names it,
    or it is parametrized over it (the reference is on a decorator ``line``)."""
    if kind != "effect":
        return kind
    if line < fn.lineno:
        return "effect"
    about = re.sub(r"[-_.]", " ", fn.name + " " + (ast.get_docstring(fn) or "")).lower()
    words = item.leaf.lower().replace("_", " ").split()
    if all(re.search(rf"\b{w}", about) for w in words):
        return "effect"
    return "used"


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    ]


def _span(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    start = min([fn.lineno] + [d.lineno for d in getattr(fn, "decorator_list", [])])
    return start, fn.end_lineno or fn.lineno


def scan(items: list[Setting], tests: Path) -> None:
    """Fill each setting's ``refs``: kind -> {"file::test"}."""
    for file in sorted(tests.rglob("*.py")):
        source = file.read_text()
        rel = file.relative_to(tests.parent).as_posix()
        tree = ast.parse(source)
        fns = [(_span(fn), fn) for fn in _functions(tree)]
        helpers = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test")
        }
        lines = source.splitlines()
        kinds = {fn.name: _classify(fn, lines) for _, fn in fns}

        for item in items:
            if item.leaf not in source:
                continue
            dotted = re.compile(r"(?<![\w.])" + re.escape(item.path) + r"(?![\w])")
            by_name = re.compile(
                r"(?<![\w.])" + re.escape(item.leaf) + r"\s*=(?!=)|"
                r"['\"]" + re.escape(item.leaf) + r"['\"]\s*:|"
                r"^\s*(?:-\s*)?" + re.escape(item.leaf) + r"\s*:\s*\S|"
                r"[{,]\s*" + re.escape(item.leaf) + r"\s*:\s*\S",
                re.M,
            )
            section_here = any(
                re.search(r"\b" + re.escape(n) + r"\b", source) for n in item.section_names
            )
            hit_lines = []
            if not dotted.search(source) and not (section_here and by_name.search(source)):
                continue
            for no, line in enumerate(lines, 1):
                if dotted.search(line) or (section_here and by_name.search(line)):
                    hit_lines.append(no)
            if not hit_lines:
                continue
            if file.name in FIXTURES:
                item.refs["fixture"].add(rel)
                continue
            for no in hit_lines:
                owners = [fn for (a, b), fn in fns if a <= no <= b]
                if owners:
                    fn = owners[-1]
                    kind = _targeted(kinds[fn.name], fn, item, no)
                    item.refs[kind].add(f"{rel}::{fn.name}")
                    continue
                # a module constant or helper: attribute it to the tests that use it
                name = _enclosing_name(tree, no)
                users = [
                    fn for _, fn in fns if name and re.search(rf"\b{name}\b", _segment(lines, fn))
                ]
                if name in helpers:
                    users = users or []
                for fn in users:
                    item.refs[_targeted(kinds[fn.name], fn, item, fn.lineno)].add(
                        f"{rel}::{fn.name}"
                    )
                if not users:
                    item.refs["fixture"].add(rel)


def _enclosing_name(tree: ast.Module, line: int) -> str | None:
    """The module-level name (constant or function) whose definition spans ``line``."""
    for node in tree.body:
        end = getattr(node, "end_lineno", node.lineno)
        if node.lineno <= line <= end:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                return node.name
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                return node.targets[0].id
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                return node.target.id
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--untested", action="store_true", help="only settings with no effect test")
    parser.add_argument("--show", metavar="PATH", help="the tests that reference one setting")
    parser.add_argument("--tests", type=Path, default=ROOT / "tests")
    args = parser.parse_args(argv)
    items = settings()
    scan(items, args.tests)
    if args.show:
        for item in items:
            if item.path == args.show:
                for kind in KINDS:
                    for ref in sorted(item.refs.get(kind, ())):
                        print(f"{kind:9s} {ref}")
                return 0
        print(f"no setting {args.show!r}", file=sys.stderr)
        return 2
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        best = item.best()
        counts[best] += 1
        if args.untested and best == "effect":
            continue
        n_effect = len(item.refs.get("effect", ()))
        print(f"{best:9s} {n_effect:3d}  {item.path}")
    print(
        f"\n{len(items)} settings: " + ", ".join(f"{counts[k]} {k}" for k in (*KINDS, "none")),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
