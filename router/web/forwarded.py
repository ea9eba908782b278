"""The client's address behind a load balancer.

`X-Forwarded-For` is believed only when the connecting peer is one of
`server.trusted_proxies`; then the address is the right-most entry that is not itself a
trusted proxy (entries to its left were written by the client and can be forged).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    """CIDR strings (already validated) -> networks; done once at config load."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The address to log and limit by."""
    if not trusted or not forwarded_for or peer is None or not _is_trusted(peer, trusted):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if hop and not _is_trusted(hop, trusted):
            return hop
    return peer
