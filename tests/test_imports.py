"""The package's import structure: no import cycle, and no part of a step takes the Trainer.

Every module under ``src/contrastkit`` is parsed with :mod:`ast` (nothing is
imported). Its imports of ``contrastkit.*`` made at import time — at module level,
in class bodies, under ``try``/``if`` blocks and in ``if TYPE_CHECKING:`` blocks — are
edges of the graph; imports inside function bodies are deliberate lazy imports and
are left out. ``from contrastkit.x import y`` is an edge to ``contrastkit.x.y`` when
that is a module, else to ``contrastkit.x``; a package stands for its ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "contrastkit"
TRAINER = "contrastkit.train.trainer"
# the modules of contrastkit.train that may import the trainer: itself, the run that
# drives it and the package's public surface
MAY_IMPORT_TRAINER = {"contrastkit.train", "contrastkit.train.run", "contrastkit.train.trainer"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    modules = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _import_nodes(tree: ast.AST, *, lazy: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree``; inside function bodies only with ``lazy``."""
    for child in ast.iter_child_nodes(tree):
        if not lazy and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _import_nodes(child, lazy=lazy)


def _targets(name: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The ``contrastkit`` modules one import statement of module ``name`` loads."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
    if node.level:  # relative: from the module's package, one level up per extra dot
        base = (name if is_package else name.rpartition(".")[0]).split(".")
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != PACKAGE:
        return set()
    out = set()
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        out.add(sub if sub in MODULES else source)
    return out


def _edges(*, lazy: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in _import_nodes(tree, lazy=lazy):
            targets |= _targets(name, is_package, node)
        graph[name] = targets - {name}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None`` (iterative DFS)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_modules_are_found_and_every_import_resolves() -> None:
    assert len(MODULES) > 50
    assert {"contrastkit", "contrastkit.train", TRAINER} <= set(MODULES)
    graph = _edges(lazy=True)
    unresolved = {n: sorted(t - set(MODULES)) for n, t in graph.items() if t - set(MODULES)}
    assert not unresolved, f"imports of contrastkit modules that do not exist: {unresolved}"


SAMPLE = """
from typing import TYPE_CHECKING
import contrastkit.graph.csr
from contrastkit.mining import kmeans, mine
from . import batch
if TYPE_CHECKING:
    from contrastkit.train.trainer import Trainer
try:
    from contrastkit.functional.distances import Distance
except ImportError:
    pass
class Holder:
    from contrastkit.losses import pcgrad
def lazy():
    from contrastkit.train.run import train
"""


def test_import_time_imports_count_and_function_bodies_do_not() -> None:
    tree = ast.parse(SAMPLE)
    name = "contrastkit.objectives.registry"
    found: set[str] = set()
    for node in _import_nodes(tree, lazy=False):
        found |= _targets(name, False, node)
    assert found == {
        "contrastkit.graph.csr",
        "contrastkit.mining.kmeans",  # a module
        "contrastkit.mining",  # mine: a name of the package
        "contrastkit.objectives.batch",  # relative
        TRAINER,  # type checking
        "contrastkit.functional.distances",
        "contrastkit.losses.pcgrad",  # a class body runs at import
    }
    lazy: set[str] = set()
    for node in _import_nodes(tree, lazy=True):
        lazy |= _targets(name, False, node)
    assert lazy - found == {"contrastkit.train.run"}


def test_the_cycle_finder_reports_the_path() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    cycle = _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()})
    assert cycle == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"a"}}) == ["a", "a"]


def test_no_import_cycle_among_module_level_and_type_checking_imports() -> None:
    cycle = _find_cycle(_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _runtime_targets(name: str, is_package: bool, tree: ast.AST) -> set[str]:
    """What every import of ``tree`` that can run loads — lazy ones in function bodies
    included — and none of ``if TYPE_CHECKING:`` blocks (they never run)."""
    checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    targets: set[str] = set()
    for node in _import_nodes(tree, lazy=True):
        if id(node) not in checking:
            targets |= _targets(name, is_package, node)
    return targets - {name}


def test_the_runtime_imports_keep_lazy_and_drop_type_checking_ones() -> None:
    found = _runtime_targets("contrastkit.objectives.registry", False, ast.parse(SAMPLE))
    assert "contrastkit.train.run" in found  # lazy, in a function body
    assert TRAINER not in found  # under TYPE_CHECKING
    assert "contrastkit.losses.pcgrad" in found


def test_no_import_cycle_even_through_lazy_imports() -> None:
    # a lazy import that closes a cycle hides it from the check above, but the two
    # modules still need each other: one of them holds what belongs elsewhere
    graph = {
        name: _runtime_targets(name, is_package, ast.parse(path.read_text(encoding="utf-8")))
        for name, (path, is_package) in MODULES.items()
    }
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle through a lazy import: " + " -> ".join(cycle or [])


def _imports_trainer(name: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> bool:
    if TRAINER in _targets(name, is_package, node):
        return True
    # ``from contrastkit.train import Trainer``: the package re-exports it
    return (
        isinstance(node, ast.ImportFrom)
        and TRAINER.rpartition(".")[0] in _targets(name, is_package, node)
        and any(a.name == "Trainer" for a in node.names)
    )


@pytest.mark.parametrize(
    "name",
    sorted(n for n in MODULES if n.startswith("contrastkit.train.") or n == "contrastkit.train"),
)
def test_no_part_of_a_step_imports_the_trainer(name: str) -> None:
    path, is_package = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # every import counts here, lazy and type-checking ones included
    found = [
        n.lineno for n in _import_nodes(tree, lazy=True) if _imports_trainer(name, is_package, n)
    ]
    if name in MAY_IMPORT_TRAINER:
        return
    assert not found, (
        f"{path.relative_to(SRC)} imports {TRAINER} (line {found}): a step takes no Trainer"
    )


def test_the_trainer_check_sees_its_allowed_importers() -> None:
    # run.py and the package really import the trainer: the check above would see it
    for name in ("contrastkit.train", "contrastkit.train.run"):
        path, is_package = MODULES[name]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert any(_imports_trainer(name, is_package, n) for n in _import_nodes(tree, lazy=True))
