"""The dialects' names, and the words routes.yaml uses for what a node speaks.

`DialectName` is the vocabulary: one member per dialect package in the registry
(router.dialects.registry), which a test holds to. A node's `dialect:` names one of them,
a list of them, or `both`, the default: OpenAI and Gemini, as every node was taken to
speak before nodes could say.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class DialectName(StrEnum):
    """The dialects the router speaks."""

    OPENAI = "openai"
    GEMINI = "gemini"
    ANTHROPIC = "anthropic"


# Words for several dialects at once in a node's `dialect:`.
NODE_ALIASES: Mapping[str, frozenset[DialectName]] = MappingProxyType(
    {"both": frozenset({DialectName.OPENAI, DialectName.GEMINI})}
)
DEFAULT_NODE_DIALECT = "both"
DEFAULT_NODE_DIALECTS = NODE_ALIASES[DEFAULT_NODE_DIALECT]


def node_dialects(value: object) -> frozenset[DialectName]:
    """A node's `dialect:` (a name, an alias or a list of names) as the set it speaks;
    ValueError saying what is accepted otherwise."""
    items = value if isinstance(value, list) else [value]
    found: set[DialectName] = set()
    for item in items:
        if isinstance(item, str) and item in NODE_ALIASES:
            found |= NODE_ALIASES[item]
            continue
        try:
            found.add(DialectName(str(item)))
        except ValueError:
            raise ValueError(f"unknown dialect {str(item)[:40]!r} (use {_CHOICES})") from None
    if not found:
        raise ValueError(f"names no dialect (use {_CHOICES})")
    return frozenset(found)


_CHOICES = " | ".join([*(name.value for name in DialectName), *NODE_ALIASES])


def describe(dialects: frozenset[DialectName]) -> str:
    """`openai`, `gemini`, `openai+gemini`: a set of dialects in messages and logs."""
    return "+".join(name.value for name in DialectName if name in dialects)
