"""X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import pytest

from router.web.forwarded import client_address, parse_networks

TRUSTED = parse_networks(["10.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", TRUSTED, "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.5", "1.2.3.4", TRUSTED, "1.2.3.4"),
        ("10.0.0.5", "6.6.6.6, 1.2.3.4", TRUSTED, "1.2.3.4"),  # left entries may be forged
        ("10.0.0.5", "1.2.3.4, 10.0.0.7", TRUSTED, "1.2.3.4"),  # skip trusted hops
        ("10.0.0.5", "10.0.0.7", TRUSTED, "10.0.0.5"),  # nothing untrusted: the peer
        ("10.0.0.5", None, TRUSTED, "10.0.0.5"),
        ("10.0.0.5", "1.2.3.4", (), "10.0.0.5"),  # no trusted proxies configured
        ("::1", "2001:db8::1", TRUSTED, "2001:db8::1"),
        ("10.0.0.5", "garbage, 1.2.3.4", TRUSTED, "1.2.3.4"),
    ],
)
def test_client_address(peer, header, trusted, expected) -> None:
    assert client_address(peer, header, trusted) == expected
