"""YAML loading that remembers where every value came from.

PyYAML's `safe_load` forgets line numbers; validation messages need them
(`models.x.backends[1].node: unknown node 'node99'` at line 23). We compose the node
graph, then construct plain Python values ourselves, recording the line of each path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from router.config.yaml_words import plain_words
from router.errors import Problem

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed document: plain values plus the line each path starts on."""

    data: Any
    lines: dict[Path, int]

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its closest ancestor that has one."""
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]


def format_path(path: Path) -> str:
    """`("models", "x", "backends", 1, "node")` -> `models.x.backends[1].node`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class YamlSyntaxError(ValueError):
    """The text is not YAML at all, or repeats a key; carries one Problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_located(text: str) -> Located:
    """Parse YAML text into plain values and a path -> line map."""
    try:
        # The loader checks the characters as it is made: a control byte raises here.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem("", f"invalid YAML: {exc}")) from exc
    try:
        root = loader.get_single_node()
        lines: dict[Path, int] = {}
        data = _build(loader, root, (), lines) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        words = plain_words(exc.problem, exc.context)
        raise YamlSyntaxError(Problem("", f"invalid YAML: {words}", line)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem("", f"invalid YAML: {exc}")) from exc
    except RecursionError as exc:  # `&a [*a]`: an alias inside itself, or absurd nesting
        raise YamlSyntaxError(
            Problem("", "invalid YAML: a recursive alias or nesting too deep")
        ) from exc
    finally:
        loader.dispose()
    return Located(data, lines)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merges
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = str(key) if key is not None else "null"
            if key in out:
                problem = Problem(
                    format_path((*path, key)), "duplicate key", key_node.start_mark.line + 1
                )
                raise YamlSyntaxError(problem)
            out[key] = _build(loader, value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
