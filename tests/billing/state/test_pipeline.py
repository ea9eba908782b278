"""router.billing.state.pipeline.pack: the bytes of a command, as redis-py packs them."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection

from router.billing.state.pipeline import pack


@pytest.mark.parametrize(
    "parts",
    [
        [b"EVALSHA", "abc", 2, "k1", "k:é", 0, -17, "", b"\x00\xff"],
        ["PING"],
        ["SET", "x" * 70_000, 12345678901234567890],
    ],
)
def test_pack_matches_redis_py(parts: list[str | int | bytes]) -> None:
    assert pack(parts) == b"".join(Connection().pack_command(*parts))
