"""The package's shape: imports point down the layers, modules and functions stay small,
the web framework stays at the edge, and each dialect's wire format stays in its package.

Read from the source with `ast` (nothing of the checked code runs; the dialects' names
come from router.dialects.names), so a violation names the file and line that introduced it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.dialects.names import DialectName

ROOT = Path(__file__).resolve().parent.parent / "router"

# Bottom to top. A package may import from its own package and from lower layers; never
# from a package of the same layer or above. The leaf modules (errors, heap, tasks) import
# nothing of the router.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "heap", "tasks"}),
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


# --- The framework stays at the edge (issue 31) -------------------------------------------

# Packages that never see the web framework: they take the router's own typed objects
# (the proxy writes through router.proxy.client.ClientStream, which router.web implements).
NO_AIOHTTP: frozenset[str] = frozenset(
    {"errors", "tasks", "dialects", "config", "routing", "billing", "proxy"}
)


def _imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, nested and deferred ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def test_the_framework_stays_at_the_edge() -> None:
    wrong = []
    for path in _modules():
        if _package(path) not in NO_AIOHTTP:
            continue
        for line, module in _imported_modules(ast.parse(path.read_text())):
            if module == "aiohttp" or module.startswith("aiohttp."):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


# --- One home per dialect (issues 28 and 31) ------------------------------------------------

DIALECTS = ROOT / "dialects"
DIALECT_NAMES: tuple[str, ...] = tuple(name.value for name in DialectName)
# Words only a dialect's wire format uses (fields, headers, paths, markers). Outside the
# dialect packages (router/dialects/<name>/) and the mock node (a stand-in for a real
# worker, which speaks the formats itself) none may appear in code: not in a string or
# bytes constant, and, for the dialects' own names, not in an identifier or an import
# either (no `gemini: bool`, no `is_openai`). Docstrings and comments may name anything.
WIRE_NAMES: tuple[str, ...] = (
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "candidates",
    "finishReason",
    "systemInstruction",
    "generationConfig",
    "maxOutputTokens",
    "thoughtSignature",
    "generateContent",
    "countTokens",
    "x-goog-",
    "v1beta",
    "?key=",
    "choices",
    "chat/completions",
    "[DONE]",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "finish_reason",
    "stream_options",
    "include_usage",
    "reasoning_content",
    "max_tokens",
    "max_completion_tokens",
    "tool_calls",
    "x-api-key",
    "anthropic-version",
    "anthropic-ratelimit-",
    "message_start",
    "message_delta",
    "content_block",
    "input_json_delta",
    "thinking_delta",
    "stop_reason",
    "tool_use",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "count_tokens",
    "event: ping",
    "overloaded_error",
    # What translation reads and writes (issue 28): never outside the mappings.
    "functionCall",
    "functionResponse",
    "inlineData",
    "thinkingConfig",
    "includeThoughts",
    "responseMimeType",
    "embedContent",
    "batchEmbedContents",
    "tool_choice",
    "response_format",
    "image_url",
)
# Where a word is unavoidable outside its dialect, and why. Kept small, and checked to be
# still needed (a stale entry fails too).
ALLOWED: dict[str, frozenset[str]] = {
    # The vocabulary and the one list: the dialects' names are what they hold.
    "router/dialects/names.py": frozenset(DIALECT_NAMES),
    "router/dialects/registry.py": frozenset(DIALECT_NAMES),
    # SSE's end-of-stream marker: sse.py is its one home (every reader skips it there).
    "router/dialects/sse.py": frozenset({"[DONE]"}),
    # The translation IR's own vocabulary, which borrows OpenAI's words for a finish
    # reason and for features a node's dialect may be unable to express.
    "router/dialects/chat_answer.py": frozenset({"tool_calls"}),
    "router/dialects/chat_wire.py": frozenset({"tool_calls", "candidates"}),
    # The usage ledger's own record fields (usage.jsonl), the console's CSV columns named
    # after them, and the router's own span attribute (router.usage.reasoning_tokens): the
    # router's formats, not a node's.
    "router/billing/state/ledger.py": frozenset(
        {"prompt_tokens", "completion_tokens", "reasoning_tokens"}
    ),
    "router/web/usage_report.py": frozenset({"prompt_tokens", "reasoning_tokens"}),
    "router/observability/tracing/spans.py": frozenset({"reasoning_tokens"}),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _identifiers(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.alias):
        return [node.name, node.asname or ""]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def wire_names(source: str) -> list[tuple[int, str]]:
    """(line, word) of every wire name a module's code holds (docstrings aside): in a
    string or bytes constant, or, for a dialect's name, in an identifier or import."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            value = node.value
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str):
                found += [(node.lineno, w) for w in WIRE_NAMES if w in value]
                found += [(node.lineno, n) for n in DIALECT_NAMES if n in value.lower()]
        for name in _identifiers(node):
            found += [(node.lineno, n) for n in DIALECT_NAMES if n in name.lower()]
    return sorted(set(found))


def _outside_dialect_packages() -> Iterator[Path]:
    for path in _modules():
        parts = path.relative_to(ROOT).parts
        if parts[0] == "mock" or (parts[0] == "dialects" and len(parts) > 2):
            continue
        yield path


def test_wire_names_live_in_their_dialects_package() -> None:
    wrong = []
    for path in _outside_dialect_packages():
        where = str(path.relative_to(ROOT.parent))
        allowed = ALLOWED.get(where, frozenset())
        for line, word in wire_names(path.read_text()):
            if word not in allowed:
                wrong.append(f"{where}:{line}: {word!r}")
    assert not wrong, "\n".join(wrong)


def test_the_wire_name_rule_can_fail() -> None:
    assert wire_names('x = {"choices": []}') == [(1, "choices")]
    assert wire_names("MARK = b'\"usageMetadata\"'") == [(1, "usageMetadata")]
    assert wire_names("def f(gemini: bool) -> None: ...") == [(1, "gemini")]
    assert wire_names("is_openai = True") == [(1, "openai")]
    assert wire_names("from router.dialects.gemini.paths import x") == [(1, "gemini")]
    assert wire_names('"""usageMetadata, [DONE] and gemini in a docstring."""') == []
    assert wire_names("model = route.name  # a comment about choices") == []


def test_every_allowance_is_still_needed() -> None:
    for where, words in ALLOWED.items():
        found = {word for _, word in wire_names((ROOT.parent / where).read_text())}
        assert words <= found, f"{where}: no longer holds {sorted(words - found)}"


def test_every_wire_name_is_some_dialects_own() -> None:
    """The list names real wire words: each is in a dialect package's code, or in the one
    home SSE's end marker has (sse.py, which every dialect that ends streams with it uses)."""
    held = set(ALLOWED["router/dialects/sse.py"])
    for package in DIALECT_NAMES:
        for path in sorted((DIALECTS / package).rglob("*.py")):
            held.update(word for _, word in wire_names(path.read_text()))
    assert set(WIRE_NAMES) <= held, sorted(set(WIRE_NAMES) - held)


# Modules of router/dialects/ a dialect package may import: the contract (codec), the
# vocabulary, and what every dialect shares; never an engine, never another dialect.
NEUTRAL: frozenset[str] = frozenset(
    {
        "codec",
        "names",
        "sse",
        "usage",
        "estimate",
        "target",
        "chat",
        "chat_answer",
        "chat_wire",
        "mapping",  # the shape a dialect's translation functions are bound in
    }
)


def test_dialect_packages_stand_apart() -> None:
    wrong = []
    for package in DIALECT_NAMES:
        for path in sorted((DIALECTS / package).rglob("*.py")):
            for line, module in _imported_modules(ast.parse(path.read_text())):
                parts = module.split(".")
                if parts[0] != "router" or module == "router.errors":
                    continue
                if parts[:3] == ["router", "dialects", package]:
                    continue
                if parts[:2] == ["router", "dialects"] and len(parts) == 3 and parts[2] in NEUTRAL:
                    continue
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


def test_only_the_registry_imports_a_dialect_package() -> None:
    wrong = []
    for path in _outside_dialect_packages():
        if path == DIALECTS / "registry.py":
            continue
        for line, module in _imported_modules(ast.parse(path.read_text())):
            parts = module.split(".")
            if parts[:2] == ["router", "dialects"] and len(parts) > 2 and parts[2] in DIALECT_NAMES:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


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


# --- The test tree (issue 31) ----------------------------------------------------------------

TESTS = ROOT.parent / "tests"


def loose_test_modules(tests: Path) -> list[str]:
    """Python files under tests/ that are neither a test module, a conftest nor a package
    marker, outside tests/support/ (support code has one home) and the Node SDKs' folder."""
    found = []
    for path in sorted(tests.rglob("*.py")):
        parts = path.relative_to(tests).parts
        if parts[0] in ("support", "node") or "__pycache__" in parts:
            continue
        if path.name.startswith("test_") or path.name in ("__init__.py", "conftest.py"):
            continue
        found.append(path.relative_to(tests).as_posix())
    return found


def test_loose_modules_are_found(tmp_path: Path) -> None:
    for name in ("web/test_pages.py", "web/__init__.py", "conftest.py", "support/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    (tmp_path / "integration" / "helper.py").parent.mkdir(parents=True)
    (tmp_path / "integration" / "helper.py").touch()
    assert loose_test_modules(tmp_path) == ["integration/helper.py"]


def test_support_code_lives_in_tests_support() -> None:
    assert loose_test_modules(TESTS) == []
