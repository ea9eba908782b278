"""The validation toolkit every routes.yaml section is read with.

A `Checker` collects problems, each located by YAML path and line, and never stops at
the first one. A `Section` is one mapping being read: it knows its path, takes the keys
it understands through typed getters and reports, on `close`, the ones nobody asked for
(an unknown key is an error, never silently ignored). `${VAR}` and `${VAR:-default}`
come from the `environ` mapping the checker is given, so tests pass their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from router.config.source import Located, Path, format_path
from router.config.suggest import closest, did_you_mean
from router.errors import ConfigError, Problem

T = TypeVar("T")
MISSING: Any = object()
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_UNSET = re.compile(r"environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set")


@dataclass
class Checker:
    """Collects problems while a document is read."""

    doc: Located
    environ: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: Path, message: str) -> Problem:
        problem = Problem(format_path(path), message, self.doc.line_of(path))
        self.problems.append(problem)
        return problem

    def replace(self, old: Problem, path: Path, message: str) -> None:
        """Put a problem in the place of one it explains (the cause where its effect was)."""
        self.problems[self.problems.index(old)] = Problem(
            format_path(path), message, self.doc.line_of(path)
        )

    def substitute(self, value: str, path: Path, *, report_missing: bool = True) -> str:
        """Replace `${VAR}` / `${VAR:-default}`; a missing variable is a problem naming it.

        With `report_missing=False` a missing variable becomes "" silently, for a caller
        that reports the empty result in its own words.
        """

        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = self.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            if report_missing:
                self.report(path, unset_variable_message(name))
            return ""

        return _ENV_REF.sub(one, value) if "${" in value else value


class Section:
    """One YAML mapping being read: typed getters plus an unknown-key check in `close`."""

    def __init__(self, checker: Checker, path: Path, raw: Any) -> None:
        self.checker = checker
        self.path = path
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            checker.report(path, f"must be a mapping, got {kind(raw)}")
            raw = {}
        self.raw: dict[str, Any] = raw
        self.seen: set[str] = set()
        self.absent: dict[str, Problem] = {}  # required keys found missing, and their problem

    def at(self, key: str | int) -> Path:
        return (*self.path, key)

    def has(self, key: str) -> bool:
        self.seen.add(key)  # a key a reader asks about is one it knows (for suggestions)
        return key in self.raw

    def raw_value(self, key: str) -> Any:
        self.seen.add(key)
        return self.raw.get(key)

    def section(self, key: str) -> Section:
        return Section(self.checker, self.at(key), self.raw_value(key))

    def string(self, key: str, default: Any = MISSING) -> Any:
        value = self._take(key, default)
        if value is MISSING or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return self._bad(key, "a string", value, default)
        return self.checker.substitute(str(value), self.at(key))

    def integer(self, key: str, default: Any = MISSING, *, minimum: int | None = None) -> Any:
        value = self._take(key, default)
        if value is MISSING or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            return self._bad(key, "an integer", value, default)
        if minimum is not None and value < minimum:
            self.checker.report(self.at(key), f"must be at least {minimum}, got {value}")
            return default
        return value

    def number(self, key: str, default: Any = MISSING, *, positive: bool = False) -> Any:
        value = self._take(key, default)
        if value is MISSING or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._bad(key, "a number", value, default)
        if not math.isfinite(value):  # YAML's .inf and .nan
            self.checker.report(self.at(key), f"must be a finite number, got {value}")
            return default
        if value < 0 or (positive and value == 0):
            word = "greater than 0" if positive else "at least 0"
            self.checker.report(self.at(key), f"must be {word}, got {value}")
            return default
        return float(value)

    def boolean(self, key: str, default: Any = MISSING) -> Any:
        value = self._take(key, default)
        if value is MISSING or value is default:
            return value
        if not isinstance(value, bool):
            return self._bad(key, "true or false", value, default)
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._take(key, None)
        if value is None:
            return default
        if not isinstance(value, list):
            self._bad(key, "a list of strings", value, default)
            return default
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                out.append(self.checker.substitute(item, (*self.at(key), i)))
            else:
                self.checker.report(
                    (*self.at(key), i), f"must be a non-empty string, got {kind(item)}"
                )
        return tuple(out)

    def report_missing(self, key: str, message: str = "is required") -> None:
        """A required key is absent. Reported now; `close` puts the unknown key that
        misspells it (`backend:` for `backends:`) in its place, so the cause is named."""
        self.absent[key] = self.checker.report(self.at(key), message)

    def close(self) -> None:
        """Report every key nobody asked for, with the known key it most likely misspells."""
        for key in self.raw:
            if key in self.seen:
                continue
            meant = closest(key, self.seen)
            message = "unknown key" + did_you_mean(key, self.seen)
            if len(meant) == 1 and meant[0] in self.absent:
                self.checker.replace(self.absent.pop(meant[0]), self.at(key), message)
            else:
                self.checker.report(self.at(key), message)

    def reject_unknown(self, known: tuple[str, ...]) -> None:
        """Report the keys not in `known` now, before the rest is read: a misspelt section
        (`modles:`) is the first problem named, not what its absence causes later."""
        for key in self.raw:
            if key not in known:
                self.checker.report(self.at(key), "unknown key" + did_you_mean(key, known))
        self.seen.update(self.raw)

    def _take(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.raw or self.raw[key] is None:
            if default is MISSING:
                self.report_missing(key)
            return default
        return self.raw[key]

    def _bad(self, key: str, wanted: str, value: Any, default: Any) -> Any:
        self.checker.report(self.at(key), f"must be {wanted}, got {kind(value)}")
        return default


def unset_variable_message(name: str) -> str:
    """The problem reported for a `${VAR}` whose variable is not set."""
    return f"environment variable {name} is not set"


def unset_variable(problem: Problem) -> str | None:
    """The variable a problem says is not set, or None for any other problem."""
    match = _UNSET.fullmatch(problem.message)
    return None if match is None else match.group(1)


def kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"


def check_alone(
    read: Callable[[Checker, Path, Any], T],
    raw: Any,
    path: Path,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Run one section reader on a value outside any document; raises ConfigError.

    For a section that arrives without routes.yaml around it (tests, tools): problems
    carry their path but no line.
    """
    checker = Checker(Located(raw, {}), environ or {})
    value = read(checker, path, raw)
    if checker.problems:
        raise ConfigError(checker.problems)
    return value
