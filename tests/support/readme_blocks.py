"""The fenced code blocks of README.md and docs/*.md, read as examples to run (pure).

tests/test_readme_examples.py runs what this module finds. The conventions a block of
the README or of a docs page follows, so that the test knows what to do with it:

- Every fenced block names its language; a block without one fails the test.
- ```yaml with a top-level `version:` is a whole routes.yaml: it must pass `router check`.
  Any other ```yaml is a *fragment* and must follow the line `<!-- readme: fragment -->`:
  it is merged into the shipped routes.yaml (mappings merge key by key, anything else
  replaces) and the result must pass `router check`. The blocks after a fragment, up to
  the next heading or fragment (or the end of the page), run against a router started
  with that merged config.
- ```sh / ```bash: a script run with `bash -euo pipefail`; its exit status must be 0.
- ```console: lines starting with `$ ` are commands (a trailing `\\` continues one), the
  lines below a command are its expected output (stdout and stderr as a terminal shows
  them), compared line by line; `...` inside an expected line matches any text.
- ```python: a script run with this checkout's python (the test venv has the openai and
  google-genai SDKs); its exit status must be 0.
- ```json: must parse; an error body must have the shape of the router's real one.
- ```promql: every `router_*` series it names must be in the router's /metrics.
- ```text: diagrams and trees, not run.

Commands run where a terminal would: `router` and `python` are this checkout's, the cwd
holds the example's routes.yaml, and the docs' addresses (127.0.0.1:8080, the nodes'
:9001/:9002/:9003, Redis's :6379) are rewritten to the test's free loopback ports. Every
`curl` also gets `--fail-with-body`, so that an HTTP error fails the example.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FRAGMENT_MARKER = "<!-- readme: fragment -->"
KINDS = frozenset({"yaml", "sh", "bash", "console", "python", "json", "promql", "text"})
_FENCE = re.compile(r"^```(\S*)\s*$")
_CURL = re.compile(r"(?<![\w./-])curl(?= )")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it starts, its language and text, and its context."""

    source: str  # the file, relative to the checkout (README.md, docs/routing.md)
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: str  # the non-blank line just above the fence
    fragment: str | None  # the section's yaml fragment in force, if any

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}:{self.lang or 'no-language'}"

    @property
    def is_full_config(self) -> bool:
        return self.lang == "yaml" and re.search(r"(?m)^version:", self.text) is not None


@dataclass(frozen=True, slots=True)
class Step:
    """One `$ ` command of a console block and the output the page shows under it."""

    command: str
    expected: tuple[str, ...]


def documents(root: Path) -> list[Path]:
    """The Markdown files whose examples run: README.md, then every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def blocks(path: Path, source: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file, in order (`source` names it in test ids)."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    fragment: str | None = None
    previous = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            fragment = None  # a fragment holds for its own section only
        fence = _FENCE.match(line)
        if fence is None:
            previous = line.strip() or previous
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        text = "\n".join(lines[index + 1 : end]) + "\n"
        block = Block(source or path.name, index + 1, fence.group(1), text, previous, fragment)
        if block.lang == "yaml" and not block.is_full_config:
            fragment = text
        found.append(block)
        previous = ""
        index = end + 1
    return found


def console_steps(text: str) -> list[Step]:
    """A console block's commands, each with the output lines shown below it."""
    steps: list[tuple[list[str], list[str]]] = []
    continued = False
    for line in text.splitlines():
        if continued:
            steps[-1][0].append(line)
        elif line.startswith("$ "):
            steps.append(([line[2:]], []))
        elif steps:
            steps[-1][1].append(line)
        else:
            raise ValueError(f"console output before any `$ ` command: {line!r}")
        continued = line.endswith("\\")
    return [Step("\n".join(cmd), tuple(out)) for cmd, out in steps]


def shell_commands(text: str) -> list[str]:
    """An sh block's commands: continuation lines joined, comments and blank lines dropped."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line and not pending:
            continue
        pending = f"{pending} {line.strip()}".strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        commands.append(pending)
        pending = ""
    return commands


def output_matches(expected: tuple[str, ...], actual: str) -> bool:
    """Whether `actual` is the expected lines (trailing spaces aside; `...` matches any text)."""
    got = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    want = [line.rstrip() for line in expected]
    if len(got) != len(want):
        return False
    return all(_pattern(w).fullmatch(g) is not None for w, g in zip(want, got, strict=True))


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in line.split("...")))


def rewrite(text: str, addresses: Mapping[str, str]) -> str:
    """The docs' addresses replaced by the test's, and `--fail-with-body` on every curl."""
    for readme, test in addresses.items():
        text = text.replace(readme, test)
    return _CURL.sub("curl --fail-with-body", text)


def merged(base: Any, fragment: Any) -> Any:
    """`fragment` laid over `base`: mappings merge key by key; anything else replaces."""
    if isinstance(base, dict) and isinstance(fragment, dict):
        out = dict(base)
        for key, value in fragment.items():
            out[key] = merged(base.get(key), value) if key in base else value
        return out
    return fragment


def shape(value: Any) -> Any:
    """A JSON value's shape: the keys of its objects, recursively, and the types of the rest."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def series(promql: str) -> Iterator[str]:
    """The `router_*` series a PromQL text names."""
    yield from dict.fromkeys(re.findall(r"\brouter_[a-z_]+", promql))
