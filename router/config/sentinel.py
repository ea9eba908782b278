"""`state.redis_sentinel:`: the Redis master a set of Sentinels watch, read once.

`{master: <name>, sentinels: ["host:port", ...], password, sentinel_password, db}`
stands in for `state.redis_url` (never both): the router asks the Sentinels where the
master is and follows it when they promote a replica (router.billing.state.redis_io).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from router.config.checker import Section

SENTINEL_PORT = 26379  # Sentinel's own default port, for an address that names none
_ADDRESS = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]/]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True, slots=True)
class RedisSentinel:
    """The master's name, its Sentinels' addresses, and the credentials of each side."""

    master: str
    sentinels: tuple[tuple[str, int], ...]
    password: str | None = field(default=None, repr=False)  # the master's (and replicas')
    sentinel_password: str | None = field(default=None, repr=False)
    db: int = 0

    def describe(self) -> str:
        """For logs and `router check`: the master's name and its Sentinels, no secret."""
        where = ", ".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"master {self.master!r} via sentinels {where}"


def parse_address(text: str) -> tuple[str, int] | None:
    """`host:port`, `[v6]:port` or `host` (port 26379) -> (host, port); None if malformed."""
    match = _ADDRESS.match(text.strip())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] is not None else SENTINEL_PORT
    if not 0 < port < 65536:
        return None
    return match["v6"] or match["host"], port


def read_sentinel(section: Section) -> RedisSentinel | None:
    """The `redis_sentinel:` mapping -> RedisSentinel; None after a problem (reported)."""
    reported = len(section.checker.problems)
    master = section.string("master")
    addresses: list[tuple[str, int]] = []
    listed = section.strings("sentinels")
    for i, text in enumerate(listed):
        address = parse_address(text)
        if address is None:
            where = (*section.at("sentinels"), i)
            section.checker.report(where, f"must be host:port, got {text[:80]!r}")
        elif address not in addresses:
            addresses.append(address)
    if not section.has("sentinels"):
        section.checker.report(section.at("sentinels"), "is required")
    elif not listed:
        section.checker.report(section.at("sentinels"), "must list at least one sentinel")
    password = section.string("password", None) or None
    sentinel_password = section.string("sentinel_password", None) or None
    db = section.integer("db", 0, minimum=0)
    section.close()
    if len(section.checker.problems) > reported or not isinstance(master, str) or not master:
        if isinstance(master, str) and not master:
            section.checker.report(section.at("master"), "must be a non-empty string")
        return None
    return RedisSentinel(master, tuple(addresses), password, sentinel_password, db)
