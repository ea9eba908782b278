"""API keys: how one is made and stored, and which models it may use.

Pure: no I/O, no clock. Keys are only ever kept as SHA-256 hex digests; a plain key
exists once, when `new_key` makes it and `router keys create` prints it. Model globs
are compiled once, when a key record is built: to a Python regex for the memory store
and to Lua patterns (`glob_to_lua`) that the Redis admission script matches in-server.
Where a request carries its key is each dialect's business: the web layer reads it
(router.dialects.registry.extract_key) and billing is handed the key itself.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from router.config.keys import hash_key

KEY_PREFIX = "sk-"


def new_key() -> str:
    """A fresh random plain key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


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


class KeyDigests:
    """The SHA-256 digests of keys presented lately, so a request's key is hashed once, not
    at its check and again at its admission. Bounded: a flood of made-up keys only clears
    it (each key is hashed again once)."""

    __slots__ = ("_digests", "limit")

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._digests: dict[str, str] = {}

    def of(self, key: str) -> str:
        digest = self._digests.get(key)
        if digest is None:
            if len(self._digests) >= self.limit:
                self._digests.clear()
            digest = self._digests[key] = hash_key(key)
        return digest


class RecentKeys:
    """Keys accepted lately (as digests, for `ttl` seconds): the check before a body is
    read asks the store only about keys it has not seen accepted, so the hot path of a
    known key pays no extra call. A cache of acceptance only: every request is still
    admitted by the store, so a key disabled meanwhile is refused at its admission."""

    __slots__ = ("_expiry", "limit", "ttl")

    def __init__(self, ttl: float = 30.0, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._expiry: dict[str, float] = {}

    def accepted(self, key: str, now: float) -> None:
        self.accepted_digest(hash_key(key), now)

    def accepted_digest(self, key_hash: str, now: float) -> None:
        """`accepted` for a key known by its digest (an admission carries it)."""
        if len(self._expiry) >= self.limit:
            self._expiry.clear()  # bounded: at worst each key is asked about once more
        self._expiry[key_hash] = now + self.ttl

    def knows(self, key: str, now: float) -> bool:
        return self.knows_digest(hash_key(key), now)

    def knows_digest(self, key_hash: str, now: float) -> bool:
        """`knows` for a key known by its digest."""
        expiry = self._expiry.get(key_hash)
        return expiry is not None and expiry > now
