"""router.errors is the package's leaf and router.config sits right above it."""

from __future__ import annotations

import ast
from pathlib import Path

import router

ROOT = Path(router.__file__).parent


def _router_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n == "router" or n.startswith("router."))
    return found


def test_errors_imports_nothing_from_router():
    assert _router_imports(ROOT / "errors.py") == set()


def test_config_imports_only_itself_and_errors():
    modules = sorted((ROOT / "config").glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        outside = {
            m
            for m in _router_imports(path)
            if m != "router.errors" and not m.startswith("router.config")
        }
        assert outside == set(), f"{path.name} imports {outside}"
