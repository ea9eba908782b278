"""`state.redis_sentinel:` read from routes.yaml: addresses, secrets, exclusivity."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.config.checker import check_alone
from router.config.metering import read_state
from router.config.model import StateConfig
from router.config.sentinel import SENTINEL_PORT, RedisSentinel, parse_address
from router.errors import ConfigError


def state(raw: Any, environ: dict[str, str] | None = None) -> StateConfig:
    return check_alone(read_state, raw, ("state",), environ)


def problems(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        state(raw)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


ADDRESSES = [
    ("127.0.0.1:26380", ("127.0.0.1", 26380)),
    ("sentinel-0.redis.svc:5000", ("sentinel-0.redis.svc", 5000)),
    ("sentinel-0", ("sentinel-0", SENTINEL_PORT)),
    ("[::1]:26381", ("::1", 26381)),
    ("[fe80::1]", ("fe80::1", SENTINEL_PORT)),
    (" 10.0.0.5:26379 ", ("10.0.0.5", 26379)),
    ("host:0", None),
    ("host:65536", None),
    ("host:port", None),
    ("::1:26379", None),  # a bare IPv6 address needs brackets
    ("redis://host:26379", None),
    ("a b:1", None),
    ("", None),
    (":26379", None),
]


@pytest.mark.parametrize("text,expected", ADDRESSES)
def test_addresses(text: str, expected: tuple[str, int] | None) -> None:
    assert parse_address(text) == expected


@given(st.text(max_size=60))
def test_any_text_is_an_address_or_none(text: str) -> None:
    address = parse_address(text)
    if address is not None:
        host, port = address
        assert host and 0 < port < 65536
        assert not any(ch.isspace() for ch in host)


def test_a_sentinel_config_with_secrets_from_the_environment() -> None:
    raw = {
        "backend": "redis",
        "redis_sentinel": {
            "master": "mymaster",
            "sentinels": ["10.0.0.1:26379", "10.0.0.2", "10.0.0.1:26379"],
            "password": "${REDIS_PASSWORD}",
            "sentinel_password": "${SENTINEL_PASSWORD}",
            "db": 2,
        },
    }
    config = state(raw, {"REDIS_PASSWORD": "p1", "SENTINEL_PASSWORD": "p2"})
    assert config.redis_sentinel == RedisSentinel(
        "mymaster", (("10.0.0.1", 26379), ("10.0.0.2", 26379)), "p1", "p2", 2
    )
    # Neither password shows in a repr (a log line, a traceback).
    assert "p1" not in repr(config) and "p2" not in repr(config)
    assert config.redis_sentinel.describe() == (
        "master 'mymaster' via sentinels 10.0.0.1:26379, 10.0.0.2:26379"
    )


def test_without_passwords() -> None:
    raw = {"backend": "redis", "redis_sentinel": {"master": "m", "sentinels": ["h:1"]}}
    sentinel = state(raw).redis_sentinel
    assert sentinel is not None
    assert (sentinel.password, sentinel.sentinel_password, sentinel.db) == (None, None, 0)


@pytest.mark.parametrize(
    "raw,expected",
    [
        (
            {"backend": "redis", "redis_url": "redis://h", "redis_sentinel": {
                "master": "m", "sentinels": ["h:1"]}},
            ["state.redis_sentinel: give either redis_url or redis_sentinel, not both"],
        ),
        (
            {"redis_sentinel": {"master": "m", "sentinels": ["h:1"]}},
            ["state.redis_sentinel: needs `backend: redis`"],
        ),
        (
            {"backend": "redis", "redis_sentinel": {"sentinels": []}},
            [
                "state.redis_sentinel.master: is required",
                "state.redis_sentinel.sentinels: must list at least one sentinel",
            ],
        ),
        (
            {"backend": "redis", "redis_sentinel": {"master": "m"}},
            ["state.redis_sentinel.sentinels: is required"],
        ),
        (
            {"backend": "redis", "redis_sentinel": {
                "master": "", "sentinels": ["h:99999", 5], "db": -1, "tls": True}},
            [
                "state.redis_sentinel.sentinels[1]: must be a non-empty string, got int 5",
                "state.redis_sentinel.sentinels[0]: must be host:port, got 'h:99999'",
                "state.redis_sentinel.db: must be at least 0, got -1",
                "state.redis_sentinel.tls: unknown key",
                "state.redis_sentinel.master: must be a non-empty string",
            ],
        ),
        (
            {"backend": "redis", "redis_sentinel": ["h:1"]},
            [
                "state.redis_sentinel: must be a mapping, got a list",
                "state.redis_sentinel.master: is required",
                "state.redis_sentinel.sentinels: is required",
            ],
        ),
    ],
)  # fmt: skip
def test_problems_name_their_path(raw: dict[str, Any], expected: list[str]) -> None:
    assert problems(raw) == expected


def test_a_missing_password_variable_is_named() -> None:
    raw = {"backend": "redis", "redis_sentinel": {
        "master": "m", "sentinels": ["h"], "password": "${NOT_SET_ANYWHERE}"}}  # fmt: skip
    assert problems(raw) == [
        "state.redis_sentinel.password: environment variable NOT_SET_ANYWHERE is not set"
    ]
