"""The package's imports run one way (DEVELOPERS.md, "Layout"): read from the source, every
import that runs (at the top of a module or inside a function; `if TYPE_CHECKING:` blocks
are types only), no module reaches back to one that imports it, and the layers below
never import the ones above. A lower layer that needs what an upper one knows holds a
table the upper one fills (the state's HELD, the plan's KINDS and STANDING, the AWS side's
token source)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "iamstate"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module an import names (`a.b.c` may be the name c in module a.b)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def _imports(module: str) -> Iterator[tuple[str, int]]:
    tree = ast.parse(MODULES[module].read_text())
    skipped = _type_only(tree)
    for node in ast.walk(tree):
        names: list[str] = []
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            owner = _owner(name) if name.startswith("iamstate") else None
            if owner and owner != module:
                yield owner, node.lineno
                yield from ((package, node.lineno) for package in _packages_run(owner, module))


def _packages_run(target: str, importer: str) -> Iterator[str]:
    """The packages whose `__init__` importing `target` runs first (a.b for a.b.c), but
    not those `importer` is inside (they are running already)."""
    parts = target.split(".")
    for end in range(2, len(parts)):
        package = ".".join(parts[:end])
        if package in MODULES and not (importer + ".").startswith(package + "."):
            yield package


GRAPH = {m: dict(_imports(m)) for m in MODULES}


def _cycle() -> list[str]:
    """One import cycle, as `module:line` steps, or [] (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                loop = path[path.index(target):]
                return [f"{m}:{GRAPH[m][n]}" for m, n in zip(loop, [*loop[1:], target],
                                                                strict=True)]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[module] = 2
        path.pop()
        return []

    for module in sorted(MODULES):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return []


def test_no_module_imports_one_that_imports_it() -> None:
    assert _cycle() == []


def test_the_search_finds_a_cycle_when_there_is_one() -> None:
    """The check itself: a made-up back edge is reported with its place."""
    GRAPH["iamstate.wording"]["iamstate.errors"] = 99
    try:
        assert "iamstate.wording:99" in _cycle()
    finally:
        del GRAPH["iamstate.wording"]["iamstate.errors"]


# (layer, what it must never import at run time)
NEVER = [
    ("iamstate.errors", ("iamstate.analysis", "iamstate.model", "iamstate.entities",
                         "iamstate.plan", "iamstate.aws", "iamstate.outputs", "iamstate.hosts")),
    ("iamstate.model", ("iamstate.entities", "iamstate.plan", "iamstate.analysis",
                        "iamstate.aws", "iamstate.outputs", "iamstate.hosts",
                        "iamstate.workflow", "iamstate.cli")),
    ("iamstate.plan.kinds", ("iamstate.entities", "iamstate.aws", "iamstate.outputs",
                             "iamstate.hosts")),
    ("iamstate.aws", ("iamstate.hosts", "iamstate.outputs", "iamstate.cli")),
    ("iamstate.entities", ("iamstate.hosts", "iamstate.outputs", "iamstate.workflow",
                           "iamstate.cli")),
    ("iamstate.analysis", ("iamstate.hosts", "iamstate.outputs", "iamstate.cli")),
]


@pytest.mark.parametrize(("layer", "above"), NEVER, ids=[layer for layer, _ in NEVER])
def test_a_layer_never_imports_the_ones_above_it(layer: str, above: tuple[str, ...]) -> None:
    wrong = [f"{m}:{line} imports {target}"
             for m in MODULES if m == layer or m.startswith(layer + ".")
             for target, line in GRAPH[m].items()
             if any(target == a or target.startswith(a + ".") for a in above)]
    assert wrong == []
