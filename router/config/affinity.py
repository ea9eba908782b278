"""`affinity:` of a model: which request field keeps a conversation on one node.

Read once at config load into a frozen `Affinity`; the key itself is taken from each
request by `router.routing.affinity_key` and placed on the ring by
`router.routing.affinity`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from router.config.checker import Section

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class AffinitySource(StrEnum):
    HEADER = "header"  # header:<Name>: the header's value
    BODY = "body"  # body:<field>: a top-level string field of the JSON body (e.g. user)
    PREFIX = "prefix"  # the first prefix_bytes of the conversation (messages / contents)


@dataclass(frozen=True, slots=True)
class Affinity:
    source: AffinitySource
    name: str = ""  # the header or body field; "" for prefix
    prefix_bytes: int = 2048
    epsilon: float = 0.25  # a node may take (1 + epsilon) x the tier's average load

    @property
    def header(self) -> str | None:
        return self.name if self.source is AffinitySource.HEADER else None


USAGE = "use header:<Name>, body:<field> or prefix"


def read_affinity(section: Section) -> Affinity | None:
    """`affinity: {by: ..., prefix_bytes: 2048, epsilon: 0.25}`, or None when absent."""
    if not section.raw:
        section.close()
        return None
    by = section.string("by")
    prefix_bytes = section.integer("prefix_bytes", 2048, minimum=1)
    epsilon = section.number("epsilon", 0.25, positive=True)
    section.close()
    if not isinstance(by, str):
        return None
    kind, _, name = by.partition(":")
    if kind == AffinitySource.PREFIX and not name:
        return Affinity(AffinitySource.PREFIX, "", prefix_bytes, epsilon)
    if kind == AffinitySource.HEADER and _HEADER_NAME.match(name):
        return Affinity(AffinitySource.HEADER, name, prefix_bytes, epsilon)
    if kind == AffinitySource.BODY and _FIELD_NAME.match(name):
        return Affinity(AffinitySource.BODY, name, prefix_bytes, epsilon)
    section.checker.report(section.at("by"), f"unknown affinity {by[:60]!r} ({USAGE})")
    return None
