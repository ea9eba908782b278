"""API keys: where a request carries one, how it is stored, and which models it may use.

Pure: no I/O, no clock. Keys are only ever kept as SHA-256 hex digests; a plain key
exists once, when `new_key` makes it and `router keys create` prints it. Model globs
are compiled once, when a key record is built: to a Python regex for the memory store
and to Lua patterns (`glob_to_lua`) that the Redis admission script matches in-server.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.billing.pricing import credits_to_micro, micro_to_credits
from router.config.source import Path, Problem, format_path
from router.dialects.gemini import is_gemini_path
from router.errors import ConfigError

ALL_MODELS: tuple[str, ...] = ("*",)
KEY_PREFIX = "sk-"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random plain key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def extract_key(headers: Mapping[str, str], query: Mapping[str, str], path: str) -> str | None:
    """The key a request presents, or None.

    `headers` must be case-insensitive (aiohttp's `request.headers`). Order: Authorization
    (`Bearer <key>` or a bare `<key>`), then `x-goog-api-key`, then `?key=` on Gemini paths.
    """
    auth = headers.get("Authorization")
    if auth:
        scheme, _, rest = auth.strip().partition(" ")
        if scheme.lower() == "bearer":
            return rest.strip() or None
        if not rest:
            return scheme or None
        # Another scheme (Basic ...) is not ours: fall through to the other forms.
    goog = headers.get("x-goog-api-key", "").strip()
    if goog:
        return goog
    if is_gemini_path(path):
        return query.get("key", "").strip() or None
    return None


@dataclass(frozen=True, slots=True)
class ModelGlobs:
    """The models a key may use, as fnmatch globs compiled into one regex."""

    globs: tuple[str, ...]
    _pattern: re.Pattern[str] | None

    @classmethod
    def compile(cls, globs: Sequence[str]) -> ModelGlobs:
        """Compile once; `*` alone (or anywhere in the list) allows every model."""
        globs = tuple(globs)
        if "*" in globs:
            return cls(globs, None)
        return cls(globs, re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)))

    def allows(self, model: str) -> bool:
        """Whether `model` matches one of the globs (case-sensitive, like route names)."""
        return self._pattern is None or self._pattern.match(model) is not None

    def lua_patterns(self) -> list[str]:
        """The globs as anchored Lua patterns; an empty list means every model."""
        return [] if self._pattern is None else [glob_to_lua(g) for g in self.globs]


_LUA_MAGIC = frozenset("^$()%.[]*+-?")


def glob_to_lua(glob: str) -> str:
    """An fnmatch glob as an anchored Lua pattern (`*`, `?`, `[seq]`, `[!seq]`)."""
    out = ["^"]
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        i += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: fnmatch treats `[` literally
                out.append("%[")
                continue
            body = glob[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            escaped = "".join("%" + c if c in "%]^" else c for c in body)
            out.append("[" + ("^" if negate else "") + escaped + "]")
        elif ch in _LUA_MAGIC:
            out.append("%" + ch)
        else:
            out.append(ch)
    out.append("$")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What an operator asks for when creating a key (`credits` in micro-credits)."""

    name: str
    models: tuple[str, ...] = ALL_MODELS
    rpm: int | None = None
    max_concurrent: int | None = None
    credits: int | None = None
    disabled: bool = False

    def __post_init__(self) -> None:
        problem = spec_problem(self)
        if problem is not None:
            raise ValueError(problem)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key: its spec, its hash and (in `spec.credits`) the current balance."""

    spec: KeySpec
    key_hash: str
    is_static: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self) -> dict[str, Any]:
        """The shape `router keys show` prints (credits as a number, None = unlimited)."""
        s = self.spec
        return {
            "name": s.name,
            "models": list(s.models),
            "rpm": s.rpm,
            "max_concurrent": s.max_concurrent,
            "credits": None if s.credits is None else micro_to_credits(s.credits),
            "disabled": s.disabled,
            "static": self.is_static,
        }


def spec_problem(spec: KeySpec) -> str | None:
    """What is wrong with a spec, or None."""
    if not _NAME.match(spec.name):
        return f"name {spec.name!r} must be 1-64 of A-Z a-z 0-9 _ . @ -"
    if not spec.models or any(not g for g in spec.models):
        return "models must be a non-empty list of non-empty globs"
    if spec.rpm is not None and spec.rpm < 1:
        return f"rpm must be at least 1, got {spec.rpm}"
    if spec.max_concurrent is not None and spec.max_concurrent < 1:
        return f"max_concurrent must be at least 1, got {spec.max_concurrent}"
    return None


def parse_static_keys(
    raw: Any, path: Path = ("keys",), environ: Mapping[str, str] | None = None
) -> tuple[KeyRecord, ...]:
    """routes.yaml `keys:` (a list of mappings) -> records; raises ConfigError listing all.

    Each entry has `name`, either `hash` (SHA-256 hex) or `key` (the plain key, usually
    `${VAR}`; substituted from `environ` when given), and optional `models`, `rpm`,
    `max_concurrent`, `credits` (initial balance) and `disabled`.
    """
    if raw is None:
        return ()
    problems: list[Problem] = []
    if not isinstance(raw, list):
        raise ConfigError([Problem(format_path(path), "must be a list of keys")])
    out: list[KeyRecord] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for i, entry in enumerate(raw):
        at = (*path, i)
        record = _static_key(entry, at, environ, problems)
        if record is None:
            continue
        if record.name in names:
            problems.append(Problem(format_path((*at, "name")), f"duplicate {record.name!r}"))
        if record.key_hash in hashes:
            problems.append(Problem(format_path(at), "the same key is listed twice"))
        names.add(record.name)
        hashes.add(record.key_hash)
        out.append(record)
    if problems:
        raise ConfigError(problems)
    return tuple(out)


_Report = Callable[[str | None, str], None]
_STATIC_FIELDS = frozenset(
    {"name", "hash", "key", "models", "rpm", "max_concurrent", "credits", "disabled"}
)


def _static_key(
    entry: Any, at: Path, environ: Mapping[str, str] | None, problems: list[Problem]
) -> KeyRecord | None:
    def bad(field: str | None, message: str) -> None:
        problems.append(Problem(format_path((*at, field) if field else at), message))

    if not isinstance(entry, dict):
        bad(None, "must be a mapping")
        return None
    for unknown in sorted(set(entry) - _STATIC_FIELDS):
        bad(unknown, "unknown key")
    key_hash = _static_hash(entry, environ, bad)
    try:
        spec = KeySpec(
            name=_typed(entry, "name", str, bad) or "",
            models=tuple(_typed(entry, "models", list, bad) or ALL_MODELS),
            rpm=_typed(entry, "rpm", int, bad),
            max_concurrent=_typed(entry, "max_concurrent", int, bad),
            credits=_credits(entry.get("credits"), bad),
            disabled=bool(_typed(entry, "disabled", bool, bad)),
        )
    except ValueError as exc:
        bad(None, str(exc))
        return None
    if key_hash is None:
        return None
    return KeyRecord(spec, key_hash, is_static=True)


def _static_hash(
    entry: dict[str, Any], environ: Mapping[str, str] | None, bad: _Report
) -> str | None:
    if ("hash" in entry) == ("key" in entry):
        bad(None, "needs exactly one of `hash` (sha256 hex) or `key`")
        return None
    if "hash" in entry:
        value = str(entry["hash"]).strip().lower()
        if not _SHA256_HEX.match(value):
            bad("hash", "must be 64 hex digits (sha256 of the key)")
            return None
        return value
    plain = str(entry["key"])
    if environ is not None:
        plain = _ENV_REF.sub(lambda m: environ.get(m.group(1), ""), plain)
    if not plain.strip() or "${" in plain:
        bad("key", "is empty (is its environment variable set?)")
        return None
    return hash_key(plain.strip())


def _typed(entry: dict[str, Any], field: str, kind: type, bad: _Report) -> Any:
    value: Any = entry.get(field)
    if value is None:
        return None
    is_kind = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not is_kind:
        bad(field, f"must be {kind.__name__}, got {type(value).__name__}")
        return None
    if kind is list and not all(isinstance(v, str) for v in value):
        bad(field, "must be a list of strings")
        return None
    return value


def _credits(value: Any, bad: _Report) -> int | None:
    if value is None:
        return None
    try:
        return credits_to_micro(value)
    except ValueError as exc:
        bad("credits", str(exc))
        return None
