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
    frozenset({"config"}),
    frozenset({"dialects", "routing", "mock"}),
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


def _outside_names(tree: ast.Module) -> set[str]:
    """The names a module binds by importing something that is not the router's."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "router":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module.split(".")[0]
            names.update(alias.asname or alias.name for alias in node.names if module != "router")
    return names


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def patches(source: str) -> list[str]:
    """Every assignment (or setattr/delattr) to an attribute of an imported module or class."""
    tree = ast.parse(source)
    outside = _outside_names(tree)
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
        ):
            targets = [ast.Attribute(value=node.args[0], attr="?")]
        for target in targets:
            for one in target.elts if isinstance(target, ast.Tuple) else [target]:
                base = _root(one)
                if (
                    isinstance(one, ast.Attribute)
                    and isinstance(base, ast.Name)
                    and base.id in outside
                ):
                    found.append(f"{node.lineno}: {ast.unparse(one)}")
    return found


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from aiohttp import web_protocol\nweb_protocol.RequestHandler.handle_error = f", 1),
        ("from aiohttp.web_protocol import RequestHandler\nRequestHandler.handle_error = f", 1),
        ("import aiohttp.web\naiohttp.web.Response.text = None", 1),
        ("import redis.asyncio as aioredis\naioredis.Redis.x += 1", 1),
        ("import asyncio\nsetattr(asyncio, 'sleep', f)", 1),
        ("import json\ndel json.loads", 1),
        ("from aiohttp import web\nresponse = web.Response()\nresponse.body = b''", 0),
        ("import os\nos.environ['X'] = '1'", 0),  # the process's environment, not code
        ("class A:\n    def f(self):\n        self.x = 1", 0),
        ("from router.web import admin\nadmin.X = 1", 0),  # the router's own: other rules
    ],
)
def test_patches_are_found(source: str, found: int) -> None:
    assert len(patches(source)) == found, patches(source)


def test_no_module_patches_third_party_code() -> None:
    """Behaviour is added through hooks and subclasses passed in, never by replacing a
    library's (or the standard library's) attribute: an upgrade must not silently change us."""
    found = [
        f"{path.relative_to(ROOT.parent)}:{where}"
        for path in _modules()
        for where in patches(path.read_text())
    ]
    assert not found, "\n".join(found)
