"""router.errors is the package's leaf; router.config sits right above it and the
dialects' names (a node's `dialect:`, the default prefixes: router.dialects.names and
router.dialects.registry, which know nothing of routes.yaml)."""

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


ALLOWED = frozenset({"router.errors", "router.dialects.names", "router.dialects.registry"})


def test_config_imports_only_itself_errors_and_the_dialects_names():
    modules = sorted((ROOT / "config").glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        outside = {
            m
            for m in _router_imports(path)
            if m not in ALLOWED and not m.startswith("router.config")
        }
        assert outside == set(), f"{path.name} imports {outside}"
