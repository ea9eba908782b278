"""The package's shape: imports point down the layers, modules and functions stay small.

Read from the source with `ast` (nothing is imported), so a violation names the file and
line that introduced it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "router"

# Bottom to top. A package may import from its own package and from lower layers; never
# from a package of the same layer or above. The leaf modules (errors, tasks) import
# nothing of the router.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "tasks"}),
    frozenset({"dialects"}),
    frozenset({"config"}),
    frozenset({"routing", "mock"}),
    frozenset({"observability"}),
    frozenset({"upstream", "billing"}),
    frozenset({"proxy"}),
    frozenset({"web"}),
    frozenset({"server"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Declarative tables: one statement per entry, nothing to follow but the list itself.
TABLES: frozenset[str] = frozenset({"router/observability/families.py:Families.__init__"})


def _modules() -> Iterator[Path]:
    yield from sorted(ROOT.rglob("*.py"))


def _package(path: Path) -> str:
    """`router/web/admin.py` -> `web`; `router/errors.py` -> `errors`."""
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _router_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top package) of every `router.*` import, nested and deferred ones included."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "router" and len(parts) > 1:
                yield node.lineno, parts[1]


def test_every_package_is_in_a_layer() -> None:
    packages = {_package(path) for path in _modules()} - {"__init__"}
    assert packages <= set(LEVEL), f"not in LAYERS: {sorted(packages - set(LEVEL))}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for path in _modules():
        own = _package(path)
        if own == "__init__":
            continue
        for line, target in _router_imports(ast.parse(path.read_text())):
            if target == own:
                continue
            if LEVEL[target] >= LEVEL[own]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {own} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_every_package_says_what_it_holds_and_may_import() -> None:
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.relative_to(ROOT.parent)} lacks 'May import ...'"


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines"


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            yield f"{prefix}{node.name}", end - node.lineno + 1
            yield from _functions(node, f"{prefix}{node.name}.")


def test_function_size() -> None:
    long = []
    for path in _modules():
        where = str(path.relative_to(ROOT.parent))
        for name, lines in _functions(ast.parse(path.read_text())):
            if lines > MAX_FUNCTION_LINES and f"{where}:{name}" not in TABLES:
                long.append(f"{where}:{name} ({lines} lines)")
    assert not long, "\n".join(long)
