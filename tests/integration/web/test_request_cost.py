"""What one request cost, for its key holder: GET {prefix}/account/requests/{request_id}
(the playground asks it after a stopped answer). A real router and mock node."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import Proc, chat_body, routes_yaml, start_router
from tests.support.billing import key_hash

pytestmark = pytest.mark.integration

KEY = f"sk-cost-{secrets.token_hex(8)}"
OTHER = f"sk-cost-other-{secrets.token_hex(8)}"
PRICING = {"prompt_per_1k": 0.3, "completion_per_1k": 2.5}


@pytest.fixture
def router(tmp_path: Path, mock_node_factory) -> Iterator[Proc]:
    node = mock_node_factory("a", "--chunk-delay", "0.3")
    config = routes_yaml(
        {"a": {"url": node.base_url}},
        {"m": {"backends": [{"node": "a"}], "pricing": PRICING}},
        state={"backend": "memory", "ledger_path": str(tmp_path / "usage.jsonl")},
        keys=[
            {"name": "team", "hash": key_hash(KEY), "credits": 100},
            {"name": "other", "hash": key_hash(OTHER), "credits": 100},
        ],
    )
    path = tmp_path / "routes.yaml"
    path.write_text(config, encoding="utf-8")
    proc = start_router(path, log_dir=tmp_path)
    try:
        yield proc
    finally:
        proc.stop()


async def _cost(
    session: aiohttp.ClientSession, router: Proc, rid: str, key: str
) -> tuple[int, dict]:
    url = f"{router.base_url}/v1/account/requests/{rid}"
    async with session.get(url, headers={"Authorization": f"Bearer {key}"}) as reply:
        return reply.status, await reply.json()


async def test_a_stopped_answers_cost_is_there_for_its_key_holder(
    router: Proc, session: aiohttp.ClientSession
) -> None:
    rid = secrets.token_hex(8)
    headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": rid}
    body = chat_body("m", stream=True)
    async with session.post(
        router.base_url + "/v1/chat/completions", json=body, headers=headers
    ) as reply:
        assert reply.status == 200
        while b'"content":"Hello' not in await reply.content.readline():
            pass
        reply.close()  # Stop

    async def settled() -> tuple[int, dict]:
        return await _cost(session, router, rid, KEY)

    status, row = await settled()
    for _ in range(100):
        if status == 200:
            break
        assert status == 404 and row["error"]["code"] == "not_found"
        await asyncio.sleep(0.05)  # settled a moment after it ended
        status, row = await settled()
    assert status == 200, row
    assert row["request_id"] == rid
    assert (row["outcome"], row["settled_by"]) == ("disconnected", "delivered")
    assert row["tokens"]["prompt"] > 0 and 0 < row["tokens"]["completion"] < 20
    assert 0 < row["credits"] < 0.1

    # Another key never sees it; an unknown id is a 404 too.
    assert (await _cost(session, router, rid, OTHER))[0] == 404
    assert (await _cost(session, router, "no-such-request", KEY))[0] == 404
    async with session.get(f"{router.base_url}/v1/account/requests/{rid}") as reply:
        assert reply.status == 401


async def test_wait_answers_once_the_request_is_settled(
    router: Proc, session: aiohttp.ClientSession
) -> None:
    """One call instead of polling a 404 (a browser logs every 404 as a console error)."""
    rid = secrets.token_hex(8)
    headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": rid}

    async def answer() -> None:  # about 2 s: the mock's chunks are 0.3 s apart
        url = router.base_url + "/v1/chat/completions"
        async with session.post(url, json=chat_body("m", stream=True), headers=headers) as reply:
            assert reply.status == 200
            await reply.read()

    running = asyncio.create_task(answer())
    await asyncio.sleep(0.2)
    status, row = await _cost(session, router, f"{rid}?wait=10", KEY)
    await running
    assert status == 200, row
    assert (row["request_id"], row["outcome"]) == (rid, "success")
    # A wait that runs out is the 404 it always was; a wait that is not 0-10 s is a 400.
    assert (await _cost(session, router, "no-such-request?wait=0.3", KEY))[0] == 404
    for wrong in ("x", "-1", "11", "nan"):
        status, error = await _cost(session, router, f"{rid}?wait={wrong}", KEY)
        assert (status, error["error"]["code"]) == (400, "invalid_request"), (wrong, error)
